//! Resynchronisation: where a flow whose start was not seen, or that hit a gap, may resume
//! decoding.
//!
//! The rule: a position is accepted only at the start of a captured segment whose bytes begin
//! a request head that shadowtap-wire parses completely, with a known method (GET HEAD POST PUT
//! DELETE CONNECT OPTIONS TRACE PATCH), a valid target and `HTTP/1.0` or `HTTP/1.1`. Bytes
//! that happen to look like a request in the middle of a segment (for example inside a body)
//! are never a resync point. While a candidate's head is incomplete the decoder waits for
//! more bytes (up to the header size limit); a candidate that fails is abandoned for the next
//! segment start.

use std::collections::VecDeque;

use crate::config::Limits;
use crate::counters::{Counter, Counters};
use crate::http::buf::StreamBuf;
use crate::http::head::{parse_head, HeadOutcome};
use shadowtap_wire::http1::Method;

/// What the bytes at a segment start are, as a resync candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Candidate {
    /// A valid resync point.
    Accept,
    /// Could still become one: wait for more bytes.
    Wait,
    /// Not a resync point.
    Reject,
}

const LONGEST_METHOD: usize = 7;

/// Whether `bytes` start with a known method and a space, could still (`None`), or cannot.
pub(crate) fn method_prefix(bytes: &[u8]) -> Option<bool> {
    let probe = &bytes[..bytes.len().min(LONGEST_METHOD + 1)];
    match probe.iter().position(|b| *b == b' ') {
        Some(i) => Some(Method::from_token(&probe[..i]).is_some() || &probe[..i] == b"PRI"),
        None if probe.len() > LONGEST_METHOD => Some(false),
        None => {
            let could = Method::ALL
                .iter()
                .map(|m| m.as_str().as_bytes())
                .chain(std::iter::once(&b"PRI"[..]))
                .any(|m| m.starts_with(probe));
            if could {
                None
            } else {
                Some(false)
            }
        }
    }
}

/// Evaluate the bytes that start at a segment boundary.
pub fn evaluate(bytes: &[u8], limits: &Limits) -> Candidate {
    match method_prefix(bytes) {
        Some(false) => return Candidate::Reject,
        None => return Candidate::Wait,
        Some(true) => {}
    }
    match parse_head(bytes, limits) {
        HeadOutcome::Partial => Candidate::Wait,
        o if o.is_sync_point() => Candidate::Accept,
        _ => Candidate::Reject,
    }
}

/// Whether `payload` begins with something shaped like an HTTP/1.x request line (method,
/// space, target, space, `HTTP/1.`). Used to tell the client side of a connection whose
/// handshake was not captured.
pub fn looks_like_request_line(payload: &[u8]) -> bool {
    if method_prefix(payload) != Some(true) {
        return false;
    }
    let line_end = memchr::memchr(b'\n', payload).unwrap_or(payload.len());
    let line = &payload[..line_end];
    let mut parts = line.split(|b| *b == b' ');
    let (_m, t, v) = (parts.next(), parts.next(), parts.next());
    matches!((t, v), (Some(t), Some(v)) if !t.is_empty() && v.starts_with(b"HTTP/1."))
}

/// Look for a resync point among the segment starts `boundaries` (offsets into `buf`),
/// discarding the bytes before each rejected candidate. Returns true when `buf` now starts
/// at an accepted point.
pub(crate) fn find(
    buf: &mut StreamBuf,
    boundaries: &mut VecDeque<usize>,
    limits: &Limits,
    counters: &mut Counters,
) -> bool {
    loop {
        let Some(&b) = boundaries.front() else {
            counters.add(Counter::ResyncSkippedBytes, buf.len() as u64);
            buf.clear();
            return false;
        };
        if b > 0 {
            counters.add(Counter::ResyncSkippedBytes, b.min(buf.len()) as u64);
            buf.advance(b);
            for x in boundaries.iter_mut() {
                *x = x.saturating_sub(b);
            }
        }
        match evaluate(buf.as_slice(), limits) {
            Candidate::Accept => {
                boundaries.clear();
                counters.inc(Counter::ResyncAccepted);
                return true;
            }
            Candidate::Wait => return false,
            Candidate::Reject => {
                boundaries.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(s: &[u8]) -> Candidate {
        evaluate(s, &Limits::default())
    }

    #[test]
    fn candidates() {
        assert_eq!(
            eval(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Candidate::Accept
        );
        assert_eq!(eval(b"GE"), Candidate::Wait);
        assert_eq!(eval(b"GET / HTTP/1.1\r\nHost: a\r\n"), Candidate::Wait);
        assert_eq!(eval(b"get / HTTP/1.1\r\n\r\n"), Candidate::Reject);
        assert_eq!(eval(b"BREW / HTTP/1.1\r\n\r\n"), Candidate::Reject);
        assert_eq!(eval(b"GET / HTTP/1.1\nHost: a\n\n"), Candidate::Reject);
        assert_eq!(eval(b"GET / HTTP/2.0\r\n\r\n"), Candidate::Reject);
        assert_eq!(eval(b"GET nope HTTP/1.1\r\n\r\n"), Candidate::Reject);
        assert_eq!(eval(b"\x00\x01binary"), Candidate::Reject);
        assert_eq!(eval(b"HTTP/1.1 200 OK\r\n\r\n"), Candidate::Reject);
        // Hostile framing is still a sync point: the request is then counted and skipped.
        assert_eq!(
            eval(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Candidate::Accept
        );
    }

    #[test]
    fn request_lines() {
        assert!(looks_like_request_line(b"GET /x HTTP/1.1\r\n"));
        assert!(looks_like_request_line(b"POST http://a/ HTTP/1.0\r\nHost"));
        assert!(!looks_like_request_line(b"HTTP/1.1 200 OK\r\n"));
        assert!(!looks_like_request_line(b"GET /x\r\n"));
    }
}
