//! Error types of the mirror client.

use std::io;
use std::net::SocketAddr;

use shadowtap_wire::http1::{RequestHeadError, ResponseError};

/// Why a [`MirrorRequest`](crate::MirrorRequest) could not be built from raw bytes.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The head does not end with an empty line (`CRLF CRLF`).
    #[error("request head is incomplete: no empty line at its end ({len} bytes)")]
    Incomplete {
        /// Length of the head that was given.
        len: usize,
    },
    /// Bytes follow the empty line that ends the head.
    #[error("{extra} bytes follow the end of the request head")]
    TrailingBytes {
        /// How many bytes follow the empty line.
        extra: usize,
    },
    /// The head is not a valid request head.
    #[error("invalid request head: {source}")]
    Invalid {
        /// What the grammar rejected.
        #[source]
        source: RequestHeadError,
    },
    /// An HTTP/2 request that the HTTP/2 client cannot send as it was received.
    #[error("HTTP/2 request cannot be replayed: {field} is not valid for the HTTP/2 client")]
    H2Invalid {
        /// What was rejected (`:method`, `:authority`, `:path`, or a field name).
        field: String,
    },
}

/// A configuration value the replayer cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A header name is empty or not an HTTP token.
    #[error("invalid header name {name:?}")]
    HeaderName {
        /// The name given.
        name: String,
    },
    /// A header value contains CR, LF or NUL, or is empty where a value is required.
    #[error("invalid value {value:?} for header {name:?}")]
    HeaderValue {
        /// The header the value is for.
        name: String,
        /// The value given.
        value: String,
    },
    /// A limit or timeout that must be positive is zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The configuration field.
        field: &'static str,
    },
}

/// Errors from the [`Replayer`](crate::Replayer) API (not per-request drops, which are
/// [`DropReason`](crate::DropReason)s).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The replayer must be created inside a tokio runtime.
    #[error("the replayer needs a tokio runtime: {detail}")]
    NoRuntime {
        /// What tokio reported.
        detail: String,
    },
    /// Invalid configuration.
    #[error("invalid replay configuration: {source}")]
    Config {
        /// The configuration problem.
        #[from]
        source: ConfigError,
    },
}

/// Why connecting to a mirror endpoint failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// Nothing listens at the endpoint.
    #[error("connection to {addr} refused")]
    Refused {
        /// The endpoint.
        addr: SocketAddr,
    },
    /// The handshake did not finish within the connect timeout.
    #[error("connection to {addr} timed out")]
    Timeout {
        /// The endpoint.
        addr: SocketAddr,
    },
    /// Any other error (unreachable, no route, ...).
    #[error("connection to {addr} failed: {source}")]
    Other {
        /// The endpoint.
        addr: SocketAddr,
        /// The underlying error.
        source: io::Error,
    },
}

/// Why one request/response exchange on an open connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// The request timeout elapsed before the request was fully written.
    #[error("request not fully written within the request timeout")]
    WriteTimeout,
    /// The request timeout elapsed before the response was fully read.
    #[error("response not complete within the request timeout")]
    ResponseTimeout,
    /// The peer reset the connection.
    #[error("connection reset: {source}")]
    Reset {
        /// The underlying error.
        source: io::Error,
    },
    /// The peer closed the connection before the response was complete.
    #[error("connection closed before the response was complete")]
    Closed,
    /// The peer closed the connection cleanly before sending any byte of the response.
    #[error("connection closed before any byte of the response")]
    ClosedBeforeAnswer,
    /// The response is not valid HTTP/1.x or its framing is invalid.
    #[error("invalid response: {source}")]
    BadResponse {
        /// What was wrong.
        #[source]
        source: ResponseError,
    },
    /// Any other I/O error.
    #[error("i/o error: {source}")]
    Io {
        /// The underlying error.
        source: io::Error,
    },
}

impl ExchangeError {
    /// Classifies an I/O error of an open connection.
    pub(crate) fn from_io(source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ExchangeError::Reset { source },
            io::ErrorKind::UnexpectedEof => ExchangeError::Closed,
            _ => ExchangeError::Io { source },
        }
    }
}
