//! Message framing and the strictness rules of request heads: Content-Length,
//! Transfer-Encoding, request targets, line endings.
//!
//! Ambiguous or hostile framing is never emitted: both Content-Length and Transfer-Encoding,
//! differing Content-Length values, a Content-Length that is not a decimal number, a
//! Transfer-Encoding whose last coding is not `chunked` (or that applies `chunked` twice, or
//! on HTTP/1.0). Line endings must be CRLF: a bare LF anywhere in the head is rejected, since
//! servers disagree on it (request smuggling).

use crate::counters::Counter;
use crate::http::request::Method;

/// How a request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Accumulates the framing-relevant header fields of one head.
#[derive(Debug, Default)]
pub(crate) struct FramingBuilder {
    content_length: Option<u64>,
    cl_error: Option<Counter>,
    te_seen: bool,
    te_error: bool,
    te_last_chunked: bool,
    upgrade: bool,
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

impl FramingBuilder {
    /// Look at one header field.
    pub(crate) fn header(&mut self, name: &[u8], value: &[u8]) {
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => self.content_length_value(value),
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                self.transfer_encoding_value(value)
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => self.upgrade = true,
            _ => {}
        }
    }

    fn content_length_value(&mut self, value: &[u8]) {
        for item in value.split(|b| *b == b',') {
            let item = trim_ows(item);
            let parsed =
                if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
                    None
                } else {
                    item.iter().try_fold(0u64, |acc, d| {
                        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                    })
                };
            match (parsed, self.content_length) {
                (None, _) => {
                    self.cl_error
                        .get_or_insert(Counter::DroppedInvalidContentLength);
                }
                (Some(n), Some(prev)) if n != prev => {
                    self.cl_error
                        .get_or_insert(Counter::DroppedConflictingContentLength);
                }
                (Some(n), _) => self.content_length = Some(n),
            }
        }
    }

    fn transfer_encoding_value(&mut self, value: &[u8]) {
        self.te_seen = true;
        for item in value.split(|b| *b == b',') {
            let item = trim_ows(item);
            if item.is_empty() {
                continue;
            }
            if self.te_last_chunked {
                // Something after chunked, or chunked applied twice.
                self.te_error = true;
            }
            self.te_last_chunked = item.eq_ignore_ascii_case(b"chunked");
        }
    }

    /// Whether the head asks for a protocol upgrade.
    pub(crate) fn upgrade(&self) -> bool {
        self.upgrade
    }

    /// The framing, or the drop reason.
    pub(crate) fn finish(&self, http10: bool) -> Result<Framing, Counter> {
        if self.te_seen {
            if self.content_length.is_some() || self.cl_error.is_some() {
                return Err(Counter::DroppedClAndTe);
            }
            if self.te_error || !self.te_last_chunked || http10 {
                return Err(Counter::DroppedBadTransferEncoding);
            }
            return Ok(Framing::Chunked);
        }
        if let Some(e) = self.cl_error {
            return Err(e);
        }
        match self.content_length {
            None | Some(0) => Ok(Framing::None),
            Some(n) => Ok(Framing::Length(n)),
        }
    }
}

/// Whether `target` is a valid request target for `method`: origin-form (`/…`),
/// absolute-form (`scheme://…`), `*` for OPTIONS, authority-form (`host:port`) for CONNECT.
/// The characters themselves were checked by httparse (no spaces or controls).
pub fn valid_target(method: Method, target: &[u8]) -> bool {
    match target.first() {
        None => false,
        Some(b'/') => true,
        Some(b'*') => method == Method::Options && target.len() == 1,
        Some(c) if c.is_ascii_alphabetic() => {
            if method == Method::Connect {
                return target.contains(&b':') && !target.contains(&b'/');
            }
            match memchr::memmem::find(target, b"://") {
                Some(i) => {
                    target[..i]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                        && target.len() > i + 3
                }
                None => false,
            }
        }
        Some(_) => false,
    }
}

/// Whether some LF of `head` is not preceded by CR.
pub fn has_bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r')
}

/// Whether a line of `head` after the first begins with whitespace (obsolete line folding).
pub fn has_obs_fold(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| matches!(head.get(i + 1), Some(b' ' | b'\t')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(headers: &[(&str, &str)], http10: bool) -> Result<Framing, Counter> {
        let mut f = FramingBuilder::default();
        for (n, v) in headers {
            f.header(n.as_bytes(), v.as_bytes());
        }
        f.finish(http10)
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(framing(&[], false), Ok(Framing::None));
        assert_eq!(
            framing(&[("Content-Length", "0")], false),
            Ok(Framing::None)
        );
        assert_eq!(
            framing(&[("content-length", " 12 ")], false),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&[("Content-Length", "5, 5")], false),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Content-Length", "5")], false),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Content-Length", "6")], false),
            Err(Counter::DroppedConflictingContentLength)
        );
        for bad in [
            "",
            "+5",
            "-1",
            "0x10",
            "5 5",
            "99999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(
                framing(&[("Content-Length", bad)], false),
                Err(Counter::DroppedInvalidContentLength),
                "{bad}"
            );
        }
    }

    #[test]
    fn transfer_encoding_rules() {
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked")], false),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", "gzip, Chunked")], false),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(
                &[
                    ("Transfer-Encoding", "gzip"),
                    ("Transfer-Encoding", "chunked")
                ],
                false
            ),
            Ok(Framing::Chunked)
        );
        for bad in [
            "gzip",
            "chunked, gzip",
            "chunked, chunked",
            "chunked;x=1",
            "",
            "xchunked",
        ] {
            assert_eq!(
                framing(&[("Transfer-Encoding", bad)], false),
                Err(Counter::DroppedBadTransferEncoding),
                "{bad}"
            );
        }
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked")], true),
            Err(Counter::DroppedBadTransferEncoding)
        );
        assert_eq!(
            framing(
                &[("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
                false
            ),
            Err(Counter::DroppedClAndTe)
        );
    }

    #[test]
    fn targets() {
        assert!(valid_target(Method::Get, b"/"));
        assert!(valid_target(Method::Get, b"/a?b=c"));
        assert!(valid_target(Method::Get, b"http://example.com/x"));
        assert!(valid_target(Method::Options, b"*"));
        assert!(valid_target(Method::Connect, b"example.com:443"));
        assert!(!valid_target(Method::Get, b"*"));
        assert!(!valid_target(Method::Get, b"example.com"));
        assert!(!valid_target(Method::Get, b"http://"));
        assert!(!valid_target(Method::Get, b""));
        assert!(!valid_target(Method::Get, b"%2F"));
    }

    #[test]
    fn line_endings() {
        assert!(!has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\nHost: a\r\n\r\n"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\r\n\n"));
        assert!(has_obs_fold(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"));
        assert!(!has_obs_fold(b"GET / HTTP/1.1\r\nX: a b\r\n\r\n"));
    }
}
