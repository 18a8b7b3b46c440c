//! Parsing one request head (request line + header fields) with httparse and applying the
//! framing, strictness and limit rules to it.

use std::mem::MaybeUninit;
use std::ops::Range;

use crate::config::Limits;
use crate::counters::Counter;
use crate::http::framing::{has_bare_lf, has_obs_fold, valid_target, Framing, FramingBuilder};
use crate::http::request::{Header, Method, Version};

/// The HTTP/2 connection preface's request line.
pub const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Headers parsed on the stack; more are parsed into a heap array.
const STACK_HEADERS: usize = 128;

/// A complete, acceptable request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedHead {
    /// Length of the head, final empty line included.
    pub head_len: usize,
    /// The method.
    pub method: Method,
    /// The target, as a range of the head.
    pub target: Range<usize>,
    /// The version.
    pub version: Version,
    /// Header fields as ranges of the head.
    pub headers: Vec<Header>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Set for Upgrade and CONNECT requests: the drop reason, and the flow is not HTTP/1 after.
    pub stop: Option<Counter>,
}

/// What a buffer that starts a request head holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadOutcome {
    /// The head is not complete yet (and is within the size limit).
    Partial,
    /// A complete, acceptable head.
    Complete(ParsedHead),
    /// A complete head with trustworthy framing that must not be emitted: skip
    /// `head_len` bytes and the body, and stay in sync.
    Skip {
        /// The drop reason.
        reason: Counter,
        /// Length of the head.
        head_len: usize,
        /// Framing of the body to skip.
        framing: Framing,
    },
    /// The request cannot be emitted and its end cannot be trusted: resync.
    Reject {
        /// The drop reason.
        reason: Counter,
        /// Whether httparse accepted a complete head with a known method and a valid target
        /// (such a position is a valid resync point even though the request is not emitted).
        sync_point: bool,
    },
    /// The HTTP/2 connection preface.
    Http2,
}

impl HeadOutcome {
    /// Whether a flow looking for a resync point may resume decoding here.
    pub fn is_sync_point(&self) -> bool {
        match self {
            HeadOutcome::Complete(_) | HeadOutcome::Http2 => true,
            HeadOutcome::Skip { reason, .. } => *reason != Counter::DroppedUnknownMethod,
            HeadOutcome::Reject { sync_point, .. } => *sync_point,
            HeadOutcome::Partial => false,
        }
    }
}

fn reject(reason: Counter) -> HeadOutcome {
    HeadOutcome::Reject {
        reason,
        sync_point: false,
    }
}

/// Whether the line whose content ends at `at` ends in CRLF (after optional trailing
/// whitespace). httparse accepts a bare LF wherever a line ends; checking the end of the
/// request line, of each header line and of the head (CRLF CRLF) finds every bare LF.
#[inline]
fn line_ends_crlf(head: &[u8], mut at: usize) -> bool {
    while matches!(head.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    head.get(at..at + 2) == Some(b"\r\n")
}

/// Parse the request head at the start of `buf`.
pub fn parse_head(buf: &[u8], limits: &Limits) -> HeadOutcome {
    if buf.starts_with(HTTP2_PREFACE) {
        return HeadOutcome::Http2;
    }
    if HTTP2_PREFACE.starts_with(buf) {
        return HeadOutcome::Partial;
    }
    let cap = limits.max_headers;
    if cap <= STACK_HEADERS {
        let mut arr = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
        parse_with(buf, limits, &mut arr[..cap])
    } else {
        let mut v = vec![MaybeUninit::<httparse::Header<'_>>::uninit(); cap];
        parse_with(buf, limits, &mut v)
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    limits: &Limits,
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
) -> HeadOutcome {
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_header_bytes {
                return reject(Counter::DroppedHeaderTooLarge);
            }
            return HeadOutcome::Partial;
        }
        Err(httparse::Error::TooManyHeaders) => return reject(Counter::DroppedTooManyHeaders),
        Err(_) if has_obs_fold(buf) => return reject(Counter::DroppedObsFold),
        Err(_) if has_bare_lf(buf) => return reject(Counter::DroppedBareLf),
        Err(_) => return reject(Counter::DroppedInvalidRequest),
    };
    let head = &buf[..head_len];
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| -> Option<Range<usize>> {
        let start = (s.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(s.len())?;
        (end <= head_len).then_some(start..end)
    };
    let (Some(method_tok), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return reject(Counter::DroppedInvalidRequest);
    };
    let version = match version {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return reject(Counter::DroppedInvalidRequest),
    };
    let Some(target) = range(path.as_bytes()) else {
        return reject(Counter::DroppedInvalidRequest);
    };
    let method = Method::from_token(method_tok.as_bytes());
    if let Some(m) = method {
        if !valid_target(m, path.as_bytes()) {
            return reject(Counter::DroppedInvalidRequest);
        }
    }
    if u32::try_from(head_len).is_err()
        || !head.ends_with(b"\r\n\r\n")
        || head.get(target.end + 9..target.end + 11) != Some(b"\r\n")
    {
        return reject(Counter::DroppedBareLf);
    }
    let mut fb = FramingBuilder::default();
    let mut out = Vec::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        let ns = (name.as_ptr() as usize).wrapping_sub(base);
        let vs = (h.value.as_ptr() as usize).wrapping_sub(base);
        let ve = vs.wrapping_add(h.value.len());
        if ns.wrapping_add(name.len()) > head_len || vs > ve || ve > head_len {
            return reject(Counter::DroppedInvalidRequest);
        }
        if !line_ends_crlf(head, ve) {
            return reject(Counter::DroppedBareLf);
        }
        fb.header(name, h.value);
        out.push(Header::new(ns..ns + name.len(), vs..ve));
    }
    let framing_result = fb.finish(version == Version::Http10);
    let Some(method) = method else {
        return match framing_result {
            Ok(framing) => HeadOutcome::Skip {
                reason: Counter::DroppedUnknownMethod,
                head_len,
                framing,
            },
            Err(_) => reject(Counter::DroppedUnknownMethod),
        };
    };
    let framing = match framing_result {
        Ok(f) => f,
        Err(reason) => {
            return HeadOutcome::Reject {
                reason,
                sync_point: true,
            }
        }
    };
    let skip = |reason| HeadOutcome::Skip {
        reason,
        head_len,
        framing,
    };
    if head_len > limits.max_header_bytes {
        return skip(Counter::DroppedHeaderTooLarge);
    }
    if let Framing::Length(n) = framing {
        if n > limits.max_body_bytes {
            return skip(Counter::DroppedBodyTooLarge);
        }
    }
    let stop = if method == Method::Connect {
        Some(Counter::DroppedConnect)
    } else if fb.upgrade() {
        Some(Counter::DroppedUpgrade)
    } else {
        None
    };
    HeadOutcome::Complete(ParsedHead {
        head_len,
        method,
        target,
        version,
        headers: out,
        framing,
        stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> HeadOutcome {
        parse_head(s, &Limits::default())
    }

    fn reason(o: HeadOutcome) -> Option<Counter> {
        match o {
            HeadOutcome::Skip { reason, .. } | HeadOutcome::Reject { reason, .. } => Some(reason),
            _ => None,
        }
    }

    #[test]
    fn complete_head() {
        let s = b"POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
        let HeadOutcome::Complete(h) = parse(s) else {
            panic!("not complete");
        };
        assert_eq!(h.head_len, s.len() - 3);
        assert_eq!(&s[h.target.clone()], b"/x?y");
        assert_eq!(h.framing, Framing::Length(3));
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.stop, None);
    }

    #[test]
    fn partial_and_limits() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost: a\r\n"),
            HeadOutcome::Partial
        );
        assert_eq!(parse(b"PRI * HT"), HeadOutcome::Partial);
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            HeadOutcome::Http2
        );
        let limits = Limits {
            max_header_bytes: 32,
            max_headers: 2,
            max_body_bytes: 10,
        };
        let big = b"GET / HTTP/1.1\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(
            reason(parse_head(big, &limits)),
            Some(Counter::DroppedHeaderTooLarge)
        );
        let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            reason(parse_head(many, &limits)),
            Some(Counter::DroppedTooManyHeaders)
        );
        let body = b"PUT / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        let limits = Limits {
            max_header_bytes: 64,
            ..limits
        };
        assert_eq!(
            reason(parse_head(body, &limits)),
            Some(Counter::DroppedBodyTooLarge)
        );
    }

    #[test]
    fn rejected_heads() {
        let cases: &[(&[u8], Counter)] = &[
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", Counter::DroppedBareLf),
            (b"GET / HTTP/1.1\r\nHost: a\n\n", Counter::DroppedBareLf),
            (
                b"GET / HTTP/1.1\r\nX: a \nY: b\r\n\r\n",
                Counter::DroppedBareLf,
            ),
            (
                b"GET / HTTP/1.1\r\nX:\nY: b\r\n\r\n",
                Counter::DroppedBareLf,
            ),
            (
                b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
                Counter::DroppedObsFold,
            ),
            (b"GET / HTTP/2.0\r\n\r\n", Counter::DroppedInvalidRequest),
            (b"GET foo HTTP/1.1\r\n\r\n", Counter::DroppedInvalidRequest),
            (
                b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
                Counter::DroppedInvalidRequest,
            ),
            (b"BREW /pot HTTP/1.1\r\n\r\n", Counter::DroppedUnknownMethod),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Counter::DroppedClAndTe,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(
                reason(parse(s)),
                Some(*want),
                "{}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn stops() {
        let HeadOutcome::Complete(h) = parse(b"CONNECT a.b:443 HTTP/1.1\r\nHost: a.b:443\r\n\r\n")
        else {
            panic!("connect");
        };
        assert_eq!(h.stop, Some(Counter::DroppedConnect));
        let HeadOutcome::Complete(h) =
            parse(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        else {
            panic!("upgrade");
        };
        assert_eq!(h.stop, Some(Counter::DroppedUpgrade));
    }
}
