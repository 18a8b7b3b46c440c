//! Response framing with httparse: 1xx interim responses, bodiless responses (HEAD, 1xx,
//! 204, 304), Content-Length, chunked (with trailers) and close-delimited bodies, and
//! whether the connection stays reusable.

use super::error::ExchangeError;
use super::head::{has_token, trim};

/// Most header fields accepted in one response head.
const MAX_HEADERS: usize = 128;

/// How the body of a final response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Head {
    /// A 1xx interim response (not 101): skip it and read the next.
    Interim,
    /// The final response.
    Final {
        /// Status code.
        status: u16,
        /// Body delimitation.
        body: BodyKind,
        /// Whether the connection may carry another request afterwards.
        keep_alive: bool,
    },
}

/// The result of a complete response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Final status code.
    pub status: u16,
    /// Whether the connection may be reused.
    pub reusable: bool,
}

fn bad(detail: &'static str) -> ExchangeError {
    ExchangeError::BadResponse { detail }
}

/// Parses a response head at the start of `buf`: `Ok(None)` when more bytes are needed,
/// else the head's length and meaning.
pub(crate) fn parse_head(
    buf: &[u8],
    request_is_head: bool,
) -> Result<Option<(usize, Head)>, ExchangeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(bad("too many header fields")),
        Err(_) => return Err(bad("not an HTTP/1.x response head")),
    };
    let status = resp.code.unwrap_or(0);
    if !(100..=599).contains(&status) {
        return Err(bad("status code out of range"));
    }
    let http11 = resp.version == Some(1);
    if (100..200).contains(&status) && status != 101 {
        return Ok(Some((len, Head::Interim)));
    }
    let mut close = false;
    let mut keep_alive_token = false;
    let mut chunked = None;
    let mut length: Option<u64> = None;
    for h in resp.headers.iter() {
        let value = trim(h.value);
        if h.name.eq_ignore_ascii_case("connection") {
            close |= has_token(value, "close");
            keep_alive_token |= has_token(value, "keep-alive");
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(|&b| b == b',').next().map(trim).unwrap_or(b"");
            chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            for part in value.split(|&b| b == b',') {
                let n = parse_length(trim(part)).ok_or(bad("invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("conflicting Content-Length values"));
                }
                length = Some(n);
            }
        }
    }
    let mut keep_alive = if http11 {
        !close
    } else {
        keep_alive_token && !close
    };
    let body = if status == 101 {
        keep_alive = false;
        BodyKind::None
    } else if request_is_head || status == 204 || status == 304 {
        BodyKind::None
    } else if let Some(is_chunked) = chunked {
        // Transfer-Encoding overrides Content-Length; a message with both ends the connection.
        if length.is_some() {
            keep_alive = false;
        }
        if is_chunked {
            BodyKind::Chunked
        } else {
            BodyKind::UntilClose
        }
    } else if let Some(n) = length {
        BodyKind::Length(n)
    } else {
        BodyKind::UntilClose
    };
    if body == BodyKind::UntilClose {
        keep_alive = false;
    }
    Ok(Some((
        len,
        Head::Final {
            status,
            body,
            keep_alive,
        },
    )))
}

fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &[u8]) -> Head {
        parse_head(s, false).expect("valid").expect("complete").1
    }

    fn fin(status: u16, body: BodyKind, keep_alive: bool) -> Head {
        Head::Final {
            status,
            body,
            keep_alive,
        }
    }

    #[test]
    fn framing_rules() {
        assert_eq!(head(b"HTTP/1.1 100 Continue\r\n\r\n"), Head::Interim);
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            fin(200, BodyKind::Length(5), true)
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"),
            fin(200, BodyKind::Length(5), true)
        );
        assert_eq!(
            head(b"HTTP/1.1 204 No\r\nContent-Length: 5\r\n\r\n"),
            fin(204, BodyKind::None, true)
        );
        assert_eq!(
            head(b"HTTP/1.1 304 NM\r\n\r\n"),
            fin(304, BodyKind::None, true)
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            fin(200, BodyKind::Chunked, true)
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            fin(200, BodyKind::Chunked, false)
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            fin(200, BodyKind::UntilClose, false)
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\n\r\n"),
            fin(200, BodyKind::UntilClose, false)
        );
        assert_eq!(
            head(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
            fin(200, BodyKind::Length(0), false)
        );
        assert_eq!(
            head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            fin(200, BodyKind::Length(0), false)
        );
        assert_eq!(
            head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
            fin(200, BodyKind::Length(0), true)
        );
        assert_eq!(
            head(b"HTTP/1.1 101 Switching\r\n\r\n"),
            fin(101, BodyKind::None, false)
        );
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).expect("ok");
        assert!(matches!(
            h,
            Some((
                _,
                Head::Final {
                    body: BodyKind::None,
                    ..
                }
            ))
        ));
    }

    #[test]
    fn invalid_heads() {
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false)
                .expect("ok")
                .is_none()
        );
        for bad in [
            &b"garbage\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 099 X\r\n\r\n",
            b"HTTP/1.1 600 X\r\n\r\n",
        ] {
            assert!(parse_head(bad, false).is_err(), "{bad:?}");
        }
    }
}
