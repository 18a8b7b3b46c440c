//! Fuzzing entry points for both directions, shared by the cargo-fuzz targets in `fuzz/`
//! and by the test suite (which runs them over a committed corpus, so every `cargo test`
//! exercises them without cargo-fuzz).
//!
//! The functions never panic on their own account: a panic is a finding — either the
//! grammar panicked, or one of the invariants checked here failed.
//!
//! [`request`] (client bytes: a request head, then its body):
//! - a complete head's layout tiles it exactly: request line, one CRLF-terminated line per
//!   field starting with its name, the empty line; names are tokens, the target is UTF-8
//!   and within the request line, values lie within their lines;
//! - every prefix of a complete head is `Partial`;
//! - a chunked body gives the same answer, position and chunk data whether fed whole or
//!   cut into pieces, and recorded chunk data lies within what was fed.
//!
//! [`response`] (mirror backend bytes, untrusted): [`ResponseReader`] gives the same answer
//! whether the bytes are fed whole or cut into pieces the way a socket delivers them, and
//! never reports more bytes consumed than it was given.

use std::ops::Range;

use crate::http1::{
    parse_request_head, ChunkedDecoder, ChunkedLimits, Framing, Progress, ReadProgress,
    ResponseLimits, ResponseReader, Status,
};

/// A small deterministic generator driven by a fuzz input (shared with the reassembly fuzz
/// entry points of `shadowtap-reconstruct`).
pub struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Self {
        Self::seeded(data, 32)
    }

    /// Seeded from the first `prefix` bytes of `data` (FNV-1a).
    pub fn seeded(data: &[u8], prefix: usize) -> Self {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in data.iter().take(prefix) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self(h | 1)
    }

    /// The next value (xorshift64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Cut points splitting `len` bytes into pieces of 1 to `max` bytes.
    fn pieces(&mut self, len: usize, max: usize) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < len {
            let n = (1 + self.below(max)).min(len - at);
            out.push(at..at + n);
            at += n;
        }
        out
    }
}

/// Run one client-direction input: the first byte selects the header limit and how the
/// body is cut; the rest is a request head followed by its body (or anything at all).
pub fn request(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let max_headers = if selector & 1 == 0 { 100 } else { 4 };
    let mut rng = Rng::new(data);
    let head = match parse_request_head(bytes, max_headers) {
        Ok(Status::Complete(head)) => head,
        _ => {
            // Whatever it was, the body decoder must survive the same bytes.
            chunked_whole_equals_pieces(bytes, &mut rng, selector);
            return;
        }
    };
    let len = head.head_len();
    assert!(len <= bytes.len() && len >= 18, "head length {len}");
    let h = &bytes[..len];
    let line = head.request_line();
    assert_eq!(line.start, 0);
    assert!(h[line.clone()].ends_with(b"\r\n"), "request line");
    let target = head.target();
    assert!(
        target.start > 0 && target.end < line.end,
        "target in the request line"
    );
    assert!(std::str::from_utf8(&h[target]).is_ok(), "target is UTF-8");
    let mut at = line.end;
    for f in head.field_lines() {
        assert_eq!(f.line.start, at, "lines tile the head");
        assert_eq!(
            f.header.name().start,
            f.line.start,
            "a line starts with its name"
        );
        let name = &h[f.header.name()];
        assert!(crate::http1::token::is_token(name), "name is a token");
        let value = f.header.value();
        assert!(value.start > f.header.name().end && value.end <= f.line.end - 2);
        assert!(h[f.line.clone()].ends_with(b"\r\n"), "line ends in CRLF");
        assert!(
            !h[f.line.start..f.line.end - 2].contains(&b'\n'),
            "one line"
        );
        at = f.line.end;
    }
    assert_eq!(head.blank_line(), at..len, "the empty line ends the head");
    assert_eq!(&h[at..], b"\r\n");
    for cut in [len - 1, len / 2, rng.below(len)] {
        assert_eq!(
            parse_request_head(&bytes[..cut], max_headers),
            Ok(Status::Partial),
            "a prefix of a complete head ({cut} of {len} bytes)"
        );
    }
    if head.framing() == Framing::Chunked {
        chunked_whole_equals_pieces(&bytes[len..], &mut rng, selector);
    }
}

/// Feeds `body` to a chunked decoder whole and in pieces; both must agree.
fn chunked_whole_equals_pieces(body: &[u8], rng: &mut Rng, selector: u8) {
    let limits = if selector & 2 == 0 {
        ChunkedLimits::UNLIMITED
    } else {
        ChunkedLimits {
            max_size_line: 16,
            max_trailers: 32,
        }
    };
    let mut whole = ChunkedDecoder::with_limits(limits).recording();
    let want = whole.feed(body);
    let mut cut = ChunkedDecoder::with_limits(limits).recording();
    let mut got = Ok(Progress::NeedMore);
    for piece in rng.pieces(body.len(), 1 + usize::from(selector >> 2)) {
        got = cut.feed(&body[piece]);
        if !matches!(got, Ok(Progress::NeedMore)) {
            break;
        }
    }
    assert_eq!(got, want, "chunked: pieces and whole disagree");
    let chunks = whole.take_chunks();
    if let Ok(Progress::Done(end)) = want {
        assert!(end as usize <= body.len());
        assert_eq!(cut.take_chunks(), chunks, "chunk data");
    }
    let mut prev = 0;
    for r in chunks {
        assert!(r.start >= prev && r.start < r.end && r.end <= body.len());
        prev = r.end;
    }
}

/// Run one response-direction input: the first byte selects whether the request was a
/// `HEAD`, tight limits and the largest piece; the rest is what a backend sent.
pub fn response(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let is_head = selector & 1 != 0;
    let limits = if selector & 2 == 0 {
        ResponseLimits::default()
    } else {
        ResponseLimits {
            max_head_bytes: 64,
            max_headers: 3,
            chunked: ChunkedLimits {
                max_size_line: 8,
                max_trailers: 16,
            },
        }
    };
    let mut rng = Rng::new(data);
    let mut whole = ResponseReader::new(is_head, limits);
    let want = whole.feed(bytes);
    if let Ok(p) = want {
        let consumed = match p {
            ReadProgress::NeedMore { consumed } | ReadProgress::Complete { consumed, .. } => {
                consumed
            }
        };
        assert!(consumed <= bytes.len(), "consumed more than given");
    }
    // As the mirror client reads: a buffer that gets the next piece, fed whole, drained of
    // what was consumed.
    let mut reader = ResponseReader::new(is_head, limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0;
    let mut got = Ok(ReadProgress::NeedMore { consumed: 0 });
    for piece in rng.pieces(bytes.len(), 1 + usize::from(selector >> 2) * 4) {
        buf.extend_from_slice(&bytes[piece]);
        got = reader.feed(&buf);
        match got {
            Ok(ReadProgress::NeedMore { consumed }) => {
                assert!(consumed <= buf.len());
                total += consumed;
                buf.drain(..consumed);
            }
            Ok(ReadProgress::Complete { consumed, response }) => {
                got = Ok(ReadProgress::Complete {
                    consumed: total + consumed,
                    response,
                });
                break;
            }
            Err(_) => break,
        }
    }
    match (want, got) {
        (Err(_), Err(_)) => {}
        (Ok(ReadProgress::NeedMore { .. }), Ok(ReadProgress::NeedMore { .. })) => {
            assert_eq!(
                whole.end_of_stream(),
                reader.end_of_stream(),
                "end of stream"
            );
        }
        (want, got) => assert_eq!(want, got, "response: pieces and whole disagree"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoke() {
        for sel in 0..16u8 {
            let mut d = vec![sel];
            d.extend_from_slice(
                b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            );
            request(&d);
            let mut d = vec![sel];
            d.extend_from_slice(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            );
            response(&d);
        }
    }
}
