//! HTTP/1.x request decoding: head parsing and framing rules, chunked bodies, and the
//! per-flow stream decoder.

pub(crate) mod buf;
pub mod chunked;
pub(crate) mod decoder;
pub mod framing;
pub mod head;
pub mod request;
pub(crate) mod scan;
