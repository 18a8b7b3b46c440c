//! [`BackendProtocol`]: what a mirror backend's port speaks, which decides whether each
//! captured request can be replayed to it.

/// What a mirror backend speaks (from the Service port's `appProtocol`).
///
/// HTTP/2 requests are always replayed over prior-knowledge h2c. HTTP/1 requests are
/// replayed byte for byte over HTTP/1.1 to an [`AsCaptured`](Self::AsCaptured) backend;
/// an [`H2cOnly`](Self::H2cOnly) backend cannot take them without rewriting the request
/// into another protocol (its framing, header order and case would not survive), so they
/// are refused when submitted and counted as `protocol_mismatch`, never sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BackendProtocol {
    /// Each request in its own protocol (`appProtocol` absent, `http`, or anything else).
    #[default]
    AsCaptured,
    /// HTTP/2 with prior knowledge only (`appProtocol: kubernetes.io/h2c` or `grpc`).
    H2cOnly,
}
