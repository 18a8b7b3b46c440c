//! Why a mirrored request was not replayed: one reason per dropped request.

/// The reason a submitted request was dropped. Every submitted request ends either as
/// `sent` (written and its response read to the end) or dropped with exactly one reason.
///
/// The metric label value of each reason is [`DropReason::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum DropReason {
    /// `unknown_backend`: no backend with that id is configured.
    #[error("unknown_backend")]
    UnknownBackend,
    /// `no_endpoints`: the backend has no endpoints.
    #[error("no_endpoints")]
    NoEndpoints,
    /// `backend_down`: every endpoint is backing off after connect failures.
    #[error("backend_down")]
    BackendDown,
    /// `queue_full`: the backend's queue was full; the oldest queued request was dropped.
    #[error("queue_full")]
    QueueFull,
    /// `queue_budget`: the global queue byte budget was exceeded; the oldest queued request
    /// (over all backends) was dropped, or a request larger than the whole budget refused.
    #[error("queue_budget")]
    QueueBudget,
    /// `connect_refused`: the endpoint refused the connection.
    #[error("connect_refused")]
    ConnectRefused,
    /// `connect_timeout`: the connection was not established within the connect timeout.
    #[error("connect_timeout")]
    ConnectTimeout,
    /// `connect_error`: connecting failed otherwise (unreachable, no route, ...).
    #[error("connect_error")]
    ConnectError,
    /// `write_timeout`: the backend did not take the whole request within the request
    /// timeout (it stopped reading).
    #[error("write_timeout")]
    WriteTimeout,
    /// `response_timeout`: the response did not arrive complete within the request timeout
    /// (black hole, slow or trickling backend).
    #[error("response_timeout")]
    ResponseTimeout,
    /// `reset`: the backend reset the connection.
    #[error("reset")]
    Reset,
    /// `closed`: the backend closed the connection before the response was complete.
    #[error("closed")]
    Closed,
    /// `bad_response`: the response was not valid HTTP/1.x or had invalid framing.
    #[error("bad_response")]
    BadResponse,
    /// `io_error`: another I/O error on the connection.
    #[error("io_error")]
    Io,
    /// `shutdown`: the replayer was shutting down.
    #[error("shutdown")]
    Shutdown,
    /// `unanswered`: the backend ended a pipelined connection after answering earlier
    /// requests without announcing it (a close-delimited or `101` response): it may have
    /// read this request, so it is not sent again.
    #[error("unanswered")]
    Unanswered,
    /// An HTTP/2 request the HTTP/2 client could not send (its head, with the backend's
    /// rewrite, is not valid for the `http` types): nothing was written.
    #[error("bad_request")]
    BadRequest,
    /// `protocol_mismatch`: an HTTP/1 request for a backend that speaks HTTP/2 only
    /// ([`BackendProtocol::H2cOnly`](crate::BackendProtocol::H2cOnly), from the Service
    /// port's `appProtocol`): refused when submitted, nothing was written.
    #[error("protocol_mismatch")]
    ProtocolMismatch,
}

impl DropReason {
    /// Every reason, in label order.
    pub const ALL: [DropReason; 18] = [
        DropReason::UnknownBackend,
        DropReason::NoEndpoints,
        DropReason::BackendDown,
        DropReason::QueueFull,
        DropReason::QueueBudget,
        DropReason::ConnectRefused,
        DropReason::ConnectTimeout,
        DropReason::ConnectError,
        DropReason::WriteTimeout,
        DropReason::ResponseTimeout,
        DropReason::Reset,
        DropReason::Closed,
        DropReason::BadResponse,
        DropReason::Io,
        DropReason::Shutdown,
        DropReason::Unanswered,
        DropReason::BadRequest,
        DropReason::ProtocolMismatch,
    ];

    /// The metric label value (`outcome` of `shadowtap_mirror_requests_total`).
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownBackend => "unknown_backend",
            DropReason::NoEndpoints => "no_endpoints",
            DropReason::BackendDown => "backend_down",
            DropReason::QueueFull => "queue_full",
            DropReason::QueueBudget => "queue_budget",
            DropReason::ConnectRefused => "connect_refused",
            DropReason::ConnectTimeout => "connect_timeout",
            DropReason::ConnectError => "connect_error",
            DropReason::WriteTimeout => "write_timeout",
            DropReason::ResponseTimeout => "response_timeout",
            DropReason::Reset => "reset",
            DropReason::Closed => "closed",
            DropReason::BadResponse => "bad_response",
            DropReason::Io => "io_error",
            DropReason::Shutdown => "shutdown",
            DropReason::Unanswered => "unanswered",
            DropReason::BadRequest => "bad_request",
            DropReason::ProtocolMismatch => "protocol_mismatch",
        }
    }

    /// Position in [`DropReason::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_matches_all() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(r.to_string(), r.as_str());
        }
    }
}
