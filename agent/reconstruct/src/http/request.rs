//! A complete, byte-faithful HTTP/1.x request.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use crate::segment::FlowKey;

/// The request methods shadowtap decodes (RFC 9110 and PATCH, RFC 5789).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// CONNECT.
    Connect,
    /// OPTIONS.
    Options,
    /// TRACE.
    Trace,
    /// PATCH.
    Patch,
}

impl Method {
    /// Every method.
    pub const ALL: [Method; 9] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Connect,
        Method::Options,
        Method::Trace,
        Method::Patch,
    ];

    /// The method token (case-sensitive, as on the wire).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
        }
    }

    /// The method for a token, if it is one of the known ones (case-sensitive).
    pub fn from_token(token: &[u8]) -> Option<Method> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.as_str().as_bytes() == token)
    }
}

/// HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// A header field as offsets into the request's raw bytes (name and value as received).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    name_start: u32,
    name_len: u32,
    value_start: u32,
    value_len: u32,
}

impl Header {
    pub(crate) fn new(name: Range<usize>, value: Range<usize>) -> Self {
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            name_start: c(name.start),
            name_len: c(name.len()),
            value_start: c(value.start),
            value_len: c(value.len()),
        }
    }

    fn name_range(&self) -> Range<usize> {
        self.name_start as usize..(self.name_start + self.name_len) as usize
    }

    fn value_range(&self) -> Range<usize> {
        self.value_start as usize..(self.value_start + self.value_len) as usize
    }
}

/// How the body of a request was framed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body (no Content-Length, no Transfer-Encoding, or `Content-Length: 0`).
    None,
    /// A Content-Length body of that many bytes.
    Length(u64),
    /// A chunked body: ranges of the raw request holding the chunk data, in order.
    Chunked(Vec<Range<usize>>),
}

/// A complete HTTP/1.x request, with its exact bytes as received: the head and the body
/// (chunked framing included), so a replayer writes [`Request::raw`] verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub(crate) flow: FlowKey,
    pub(crate) raw: Bytes,
    pub(crate) head_len: usize,
    pub(crate) method: Method,
    pub(crate) target: Range<usize>,
    pub(crate) version: Version,
    pub(crate) headers: Vec<Header>,
    pub(crate) body: Body,
    pub(crate) first_ts_ns: u64,
    pub(crate) last_ts_ns: u64,
}

impl Request {
    /// The flow the request came on.
    pub fn flow(&self) -> &FlowKey {
        &self.flow
    }

    /// The exact bytes of the request: head and body as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Total raw length.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Never true: a request has at least a request line.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The head: request line, header fields and the empty line.
    pub fn head(&self) -> &[u8] {
        &self.raw[..self.head_len]
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The request target as received (origin-form, absolute-form, authority-form or `*`).
    pub fn target(&self) -> &[u8] {
        &self.raw[self.target.clone()]
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Header fields `(name, value)` in their original order and case.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers
            .iter()
            .map(|h| (&self.raw[h.name_range()], &self.raw[h.value_range()]))
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The first value of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The Host header's value.
    pub fn host(&self) -> Option<&[u8]> {
        self.header("host")
    }

    /// How the body was framed.
    pub fn body_framing(&self) -> &Body {
        &self.body
    }

    /// The body as received (chunked framing and trailers included).
    pub fn body_raw(&self) -> &[u8] {
        &self.raw[self.head_len..]
    }

    /// The body content: the raw body, or the concatenated chunk data of a chunked body.
    pub fn body(&self) -> Cow<'_, [u8]> {
        match &self.body {
            Body::Chunked(chunks) => {
                let mut v = Vec::with_capacity(chunks.iter().map(|r| r.len()).sum());
                for r in chunks {
                    v.extend_from_slice(&self.raw[r.clone()]);
                }
                Cow::Owned(v)
            }
            _ => Cow::Borrowed(self.body_raw()),
        }
    }

    /// Capture time of the segment that brought the first byte.
    pub fn first_ts_ns(&self) -> u64 {
        self.first_ts_ns
    }

    /// Capture time of the segment that brought the last byte.
    pub fn last_ts_ns(&self) -> u64 {
        self.last_ts_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::from_token(m.as_str().as_bytes()), Some(m));
        }
        assert_eq!(Method::from_token(b"get"), None);
        assert_eq!(Method::from_token(b"PRI"), None);
    }
}
