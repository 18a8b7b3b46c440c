//! HTTP/1.x (RFC 9110, RFC 9112): every rule shadowtap applies to HTTP/1 bytes, once.
//!
//! - [`request`]: request heads — method, target, version, header fields as byte ranges
//!   ([`RequestHead`]), and where each line of the head lies (for byte-exact edits).
//! - [`response`]: response heads (status line, 1xx, bodiless responses) and
//!   [`ResponseReader`], which finds the end of a response fed in arbitrary pieces.
//! - [`framing`]: how long a body is, from [`content_length`] and [`transfer_encoding`].
//! - [`chunked`]: the incremental chunked-body decoder.
//! - [`connection`]: the Connection options and whether a connection persists.
//! - [`scan`]: byte scans for head ends and line endings; [`token`]: tokens and lists.
//!
//! One strictness, the same for requests and responses:
//! - Every line ends in CRLF; a bare LF anywhere in a head is an error (servers disagree on
//!   it, which is how requests are smuggled). Obsolete line folding is an error.
//! - Content-Length is a comma-separated list of equal decimal values (at most 19 digits);
//!   anything else is an error, and so is Content-Length together with Transfer-Encoding.
//! - Transfer-Encoding names `chunked` at most once and last, and never on HTTP/1.0
//!   (RFC 9112 §6.1). A request whose final coding is not chunked is an error; a response
//!   whose final coding is not chunked is delimited by the connection's close (§6.3).
//! - Chunk sizes are hexadecimal and fit in 64 bits; extensions and trailer lines hold
//!   visible characters, SP and HTAB; every line of a chunked body ends in CRLF.

pub mod chunked;
pub mod connection;
pub mod content_length;
pub mod framing;
mod method;
pub mod request;
pub mod response;
pub mod scan;
pub mod token;
pub mod transfer_encoding;

pub use chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits, Progress};
pub use connection::ConnectionOptions;
pub use content_length::ContentLengthError;
pub use framing::{Framing, FramingError, FramingFields};
pub use method::{Method, Version};
pub use request::{
    parse_request_head, FieldLine, Header, RequestHead, RequestHeadError, Status, HTTP2_PREFACE,
};
pub use response::{
    parse_response_head, FinalResponse, ReadProgress, ResponseBody, ResponseError, ResponseHead,
    ResponseHeadError, ResponseLimits, ResponseReader,
};
pub use transfer_encoding::TransferEncodingError;
