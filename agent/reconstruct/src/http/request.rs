//! A complete, byte-faithful HTTP/1.x request.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use shadowtap_wire::http1::{Method, RequestHead, Version};

use crate::segment::FlowKey;

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
///
/// Two requests are equal when everything but [`Request::pinned`] (which depends on how the
/// bytes were cut into segments) is.
#[derive(Clone, Debug)]
pub struct Request {
    pub(crate) flow: FlowKey,
    pub(crate) raw: Bytes,
    /// Size of the allocation `raw` keeps alive (the captured segment it is a slice of).
    pub(crate) pinned: usize,
    pub(crate) head: RequestHead,
    pub(crate) body: Body,
    pub(crate) first_ts_ns: u64,
    pub(crate) last_ts_ns: u64,
}

impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        self.flow == other.flow
            && self.raw == other.raw
            && self.head == other.head
            && self.body == other.body
            && self.first_ts_ns == other.first_ts_ns
            && self.last_ts_ns == other.last_ts_ns
    }
}

impl Eq for Request {}

impl Request {
    /// The flow the request came on.
    pub fn flow(&self) -> &FlowKey {
        &self.flow
    }

    /// The exact bytes of the request: head and body as received.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Bytes of memory [`Request::raw`] keeps alive: a request is a slice of the captured
    /// segment (or of the decoder's buffer) it arrived in, never a copy, so a small request
    /// may keep a large segment alive.
    pub fn pinned(&self) -> usize {
        self.pinned.max(self.raw.len())
    }

    /// [`Request::raw`] as bytes to keep beyond the call that emitted the request (queued
    /// for replay, say): copied out when they keep alive an allocation more than twice
    /// their size, shared otherwise. Requests dropped at once (not sampled) never pay the
    /// copy.
    pub fn detached_raw(&self) -> Bytes {
        if self.raw.len().saturating_mul(2) < self.pinned {
            Bytes::copy_from_slice(&self.raw)
        } else {
            self.raw.clone()
        }
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
        &self.raw[..self.head.head_len()]
    }

    /// Where the method, target, version and each header field lie in [`Request::raw`],
    /// with the framing and Connection options: the head as parsed once, for later stages
    /// (routing, replay) that must not parse it again.
    pub fn parsed_head(&self) -> &RequestHead {
        &self.head
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.head.method()
    }

    /// The request target as received (origin-form, absolute-form, authority-form or `*`).
    pub fn target(&self) -> &[u8] {
        &self.raw[self.head.target()]
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.head.version()
    }

    /// Header fields `(name, value)` in their original order and case.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.head
            .headers()
            .iter()
            .map(|h| (&self.raw[h.name()], &self.raw[h.value()]))
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.head.headers().len()
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
        &self.raw[self.head.head_len()..]
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
