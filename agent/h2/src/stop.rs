//! Why decoding of a connection stops. After a stop nothing more of the connection is
//! decoded: the requests still open are dropped and counted.

use crate::counters::Counter;
use crate::hpack::HpackError;

/// A connection error of RFC 9113 that a server answers with GOAWAY and a close: nothing the
/// client sends after it is processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The first frame after the preface is not SETTINGS (RFC 9113 §3.4).
    #[error("the preface is not followed by SETTINGS")]
    NoInitialSettings,
    /// A frame whose length its type forbids (FRAME_SIZE_ERROR).
    #[error("frame size error")]
    FrameSize,
    /// A frame on stream 0 that needs a stream, or on a stream that needs 0.
    #[error("frame on the wrong stream")]
    WrongStream,
    /// A HEADERS frame opening an even-numbered stream.
    #[error("client stream with an even identifier")]
    EvenStreamId,
    /// A DATA or RST_STREAM frame on a stream the client never opened.
    #[error("frame on an idle stream")]
    IdleStream,
    /// A frame other than CONTINUATION while a header block is open, or a CONTINUATION
    /// without one.
    #[error("CONTINUATION out of sequence")]
    Continuation,
    /// Padding longer than the frame.
    #[error("invalid padding")]
    Padding,
    /// PUSH_PROMISE, which only servers send.
    #[error("PUSH_PROMISE from a client")]
    PushPromise,
}

/// Why a connection is no longer decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    /// The first bytes are not the client preface: the connection started before capture.
    #[error("connection started before capture (no client preface)")]
    Midstream,
    /// After an `Upgrade: h2c` request the client did not send the preface: the server
    /// declined the upgrade and the connection stays HTTP/1.1.
    #[error("h2c upgrade declined (no client preface after the upgrade request)")]
    UpgradeDeclined,
    /// Bytes lost inside a frame header or a payload whose length was not known.
    #[error("bytes lost in the framing")]
    GapInFraming,
    /// Bytes lost inside a header block: the dynamic table is unknown.
    #[error("bytes lost in a header block")]
    GapInHeaderBlock,
    /// A header block that does not decode.
    #[error("HPACK decoding error")]
    Hpack,
    /// A dynamic table size update beyond the configured bound.
    #[error("dynamic table size update beyond the limit")]
    TableSizeOverLimit,
    /// An encoded header block beyond the configured bound.
    #[error("header block beyond the limit")]
    HeaderBlockTooLarge,
    /// A connection error.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
}

impl StopReason {
    /// The counter this stop is counted under.
    pub fn counter(self) -> Counter {
        match self {
            StopReason::Midstream => Counter::H2Midstream,
            StopReason::UpgradeDeclined => Counter::H2cUpgradeDeclined,
            StopReason::GapInFraming => Counter::StoppedGapInFraming,
            StopReason::GapInHeaderBlock => Counter::StoppedGapInHeaderBlock,
            StopReason::Hpack => Counter::StoppedHpackError,
            StopReason::TableSizeOverLimit => Counter::StoppedTableSizeOverLimit,
            StopReason::HeaderBlockTooLarge => Counter::StoppedHeaderBlockTooLarge,
            StopReason::Protocol(_) => Counter::StoppedProtocolError,
        }
    }
}

impl From<&HpackError> for StopReason {
    fn from(e: &HpackError) -> Self {
        match e {
            HpackError::TableSizeOverLimit { .. } => StopReason::TableSizeOverLimit,
            _ => StopReason::Hpack,
        }
    }
}

impl From<ProtocolError> for StopReason {
    fn from(e: ProtocolError) -> Self {
        StopReason::Protocol(e)
    }
}
