//! HTTP/2 on a reassembled flow: the flow's [`H2Decoder`] once the HTTP/1 decoder handed
//! the stream over (client preface at the start, or an `Upgrade: h2c` request), what it
//! emits ([`H2FlowRequest`]), and the test that tells a flow that started before capture
//! carries HTTP/2 frames ([`looks_like_h2_frames`]).

use bytes::Bytes;
use shadowtap_h2::frame::PREFACE;
use shadowtap_h2::{
    Counter as H2Counter, Field, H2Decoder, H2Request, Limits, PseudoHeaders, Start, StopReason,
};

use crate::http::request::Request;
use crate::segment::FlowKey;

/// A complete HTTP/2 request decoded from a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2FlowRequest {
    /// The flow the request came on.
    pub flow: FlowKey,
    /// The request: pseudo-headers, fields in wire order, body and trailers.
    pub request: H2Request,
    /// Capture time of the segment that completed it.
    pub last_ts_ns: u64,
}

/// One chunk of stream bytes as reassembly delivered it.
#[derive(Clone, Debug)]
pub(crate) struct Chunk {
    pub(crate) bytes: Bytes,
    pub(crate) boundary: bool,
    pub(crate) ts: u64,
    pub(crate) alloc: usize,
}

/// The HTTP/2 side of a flow.
#[derive(Debug)]
pub(crate) struct H2Flow {
    pub(crate) dec: H2Decoder,
    /// After an h2c upgrade, the chunks pushed while the preface was still expected: if the
    /// upgrade turns out declined, HTTP/1.1 decoding resumes with them, whole.
    pending: Option<Vec<Chunk>>,
    pending_len: usize,
    /// The `Upgrade: h2c` request, until the bytes after it tell how the server served it.
    upgrade: Option<Request>,
}

/// What a push to the HTTP/2 side ended in.
pub(crate) enum H2Push {
    /// Still HTTP/2 (or stopped; the decoder says why).
    Continue,
    /// The h2c upgrade was declined: the upgrade request was served as HTTP/1.1, and these
    /// bytes are HTTP/1.1 again.
    Declined(Vec<Chunk>, Option<Box<Request>>),
}

impl H2Flow {
    /// The HTTP/2 side of a flow whose bytes from here begin as `start` says.
    pub(crate) fn new(start: Start, limits: Limits, upgrade: Option<Request>) -> Self {
        Self {
            dec: H2Decoder::new(start, limits),
            pending: (start == Start::AfterH2cUpgrade).then(Vec::new),
            pending_len: 0,
            upgrade,
        }
    }

    /// Whether the upgrade request is still held (neither released nor dropped).
    pub(crate) fn holds_upgrade(&self) -> bool {
        self.upgrade.is_some()
    }

    /// Once the client preface followed the upgrade request (the server accepted it): that
    /// request as HTTP/2 stream 1.
    pub(crate) fn take_accepted_upgrade(&mut self) -> Option<H2Request> {
        if self.dec.counters().get(H2Counter::H2Connections) == 0 {
            return None;
        }
        self.upgrade.take().map(|r| upgrade_as_stream_1(&r))
    }

    /// The upgrade request still held: the flow ended, or decoding stopped, before the
    /// bytes after it told how it was served.
    pub(crate) fn take_undecided_upgrade(&mut self) -> Option<Request> {
        self.upgrade.take()
    }

    /// Decode `chunk`; complete requests go to `out`.
    pub(crate) fn push(&mut self, chunk: Chunk, out: &mut Vec<H2Request>) -> H2Push {
        self.dec.push(&chunk.bytes, out);
        if let Some(pending) = &mut self.pending {
            self.pending_len += chunk.bytes.len();
            pending.push(chunk);
            if self.dec.stopped() == Some(StopReason::UpgradeDeclined) {
                let chunks = self.pending.take().unwrap_or_default();
                return H2Push::Declined(chunks, self.upgrade.take().map(Box::new));
            }
            if self.pending_len >= PREFACE.len() || !self.dec.is_decoding() {
                self.pending = None;
            }
        }
        H2Push::Continue
    }

    /// Bytes held: the decoder's buffers and its HPACK dynamic table (the chunks kept for a
    /// possible decline are shared slices of at most the preface's length plus one segment,
    /// and short-lived).
    pub(crate) fn held(&self) -> usize {
        self.dec.held_bytes() + self.dec.table_bytes()
    }
}

/// Fields of an HTTP/1.1 request that HTTP/2 does not carry (RFC 9113 §8.2.2), or that
/// become pseudo-headers (`host`), or that only concern the upgrade.
const NOT_IN_H2: &[&[u8]] = &[
    b"host",
    b"connection",
    b"upgrade",
    b"http2-settings",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
];

/// The HTTP/1.1 request that carried `Upgrade: h2c`, as the server serves it once it
/// accepted: stream 1, `:method`, `:scheme` `http`, `:authority` from Host (or the
/// absolute-form target), `:path` from the target, the other fields with lowercase names
/// in their order (connection-specific ones and those `Connection` lists left out, `te`
/// kept only as `trailers`), and the body as content (chunked coding removed).
pub(crate) fn upgrade_as_stream_1(r: &Request) -> H2Request {
    let target = r.target();
    let (authority, path) = match target.windows(3).position(|w| w == b"://") {
        Some(i) if !target.starts_with(b"/") => {
            let rest = &target[i + 3..];
            let end = rest
                .iter()
                .position(|b| *b == b'/' || *b == b'?')
                .unwrap_or(rest.len());
            let path = if end == rest.len() || rest[end] == b'?' {
                [&b"/"[..], &rest[end..]].concat()
            } else {
                rest[end..].to_vec()
            };
            (
                Some(Bytes::copy_from_slice(&rest[..end])),
                Bytes::from(path),
            )
        }
        _ => (
            r.host().map(Bytes::copy_from_slice),
            Bytes::copy_from_slice(target),
        ),
    };
    let listed: Vec<Vec<u8>> = r
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
        .flat_map(|(_, v)| v.split(|b| *b == b','))
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .collect();
    let headers = r
        .headers()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .filter(|(n, v)| {
            !NOT_IN_H2.contains(&&n[..])
                && !listed.contains(n)
                && (n != b"te" || v.eq_ignore_ascii_case(b"trailers"))
        })
        .map(|(n, v)| Field::new(Bytes::from(n), Bytes::copy_from_slice(v)))
        .collect();
    H2Request {
        stream_id: 1,
        pseudo: PseudoHeaders {
            method: Bytes::copy_from_slice(r.method().as_str().as_bytes()),
            scheme: Some(Bytes::from_static(b"http")),
            authority,
            path: Some(path),
            protocol: None,
        },
        headers,
        body: Bytes::copy_from_slice(&r.body()),
        trailers: Vec::new(),
    }
}

/// Whether `payload`, the first bytes captured of a flow whose start was not seen, is a run
/// of complete, valid HTTP/2 frame headers and payloads that ends exactly at its end: frame
/// lengths within the protocol's default largest frame (16 384), known frame types, the
/// reserved bit clear, stream 0 exactly for the connection-level types. HTTP/1 text never
/// passes (a request line's first three bytes read as a length of millions), and a piece of
/// an HTTP/1 body passes only if it happens to chain exactly into frames to its last byte.
pub fn looks_like_h2_frames(payload: &[u8]) -> bool {
    const MAX_FRAME: usize = 16_384;
    let mut rest = payload;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(h) = rest.get(..9) else {
            return false;
        };
        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let kind = h[3];
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]);
        if len > MAX_FRAME || stream & 0x8000_0000 != 0 {
            return false;
        }
        let connection_level = matches!(kind, 0x4 | 0x6 | 0x7);
        let stream_level = matches!(kind, 0x0 | 0x1 | 0x2 | 0x3 | 0x5 | 0x9);
        let ok = match kind {
            0x8 => true,
            _ if connection_level => stream == 0,
            _ if stream_level => stream != 0,
            _ => false,
        };
        if !ok {
            return false;
        }
        let Some(after) = rest.get(9 + len..) else {
            return false;
        };
        rest = after;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut v = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn frames_are_recognised() {
        let mut s = frame(0x1, 0x4, 5, b"\x82\x86\x84");
        s.extend(frame(0x0, 0x1, 5, b"hello"));
        s.extend(frame(0x8, 0, 0, &[0, 0, 1, 0]));
        assert!(looks_like_h2_frames(&s));
        assert!(looks_like_h2_frames(&frame(0x6, 0, 0, &[0; 8])));
    }

    #[test]
    fn http1_and_partial_frames_are_not() {
        assert!(!looks_like_h2_frames(b""));
        assert!(!looks_like_h2_frames(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!looks_like_h2_frames(b"{\"json\": \"body bytes\"}"));
        let f = frame(0x0, 0x1, 5, b"hello");
        assert!(!looks_like_h2_frames(&f[..f.len() - 1]));
        // Stream rules: DATA on stream 0, SETTINGS on a stream, unknown type, reserved bit.
        assert!(!looks_like_h2_frames(&frame(0x0, 0, 0, b"x")));
        assert!(!looks_like_h2_frames(&frame(0x4, 0, 1, &[])));
        assert!(!looks_like_h2_frames(&frame(0x20, 0, 1, &[])));
        assert!(!looks_like_h2_frames(&frame(0x0, 0, 0x8000_0001, b"x")));
    }
}
