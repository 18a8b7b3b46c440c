//! What the decoder does with a request head: shadowtap-wire parses it (the one HTTP/1
//! grammar), this module applies the decoder's limits and maps every outcome to what the
//! stream decoder does next and to the [`Counter`] that records it.

use shadowtap_wire::http1::{
    parse_request_head, ContentLengthError, Framing, FramingError, Method, RequestHead,
    RequestHeadError, Status,
};

use crate::config::Limits;
use crate::counters::Counter;

pub use shadowtap_wire::http1::HTTP2_PREFACE;

/// What a buffer that starts a request head holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadOutcome {
    /// The head is not complete yet (and is within the size limit).
    Partial,
    /// A complete, acceptable head.
    Complete(RequestHead),
    /// A complete head with trustworthy framing that must not be emitted: skip
    /// `head_len` bytes and the body, and stay in sync.
    Skip {
        /// The drop reason.
        reason: Counter,
        /// Length of the head.
        head_len: usize,
        /// Framing of the body to skip.
        framing: Framing,
        /// Whether the connection persists after this request.
        persistent: bool,
    },
    /// The request cannot be emitted and its end cannot be trusted: a flow in sync stops
    /// being decoded; a flow looking for a resync point keeps looking.
    Reject {
        /// The drop reason.
        reason: Counter,
        /// Whether the head is complete with a known method and a valid target (such a
        /// position is a valid resync point even though the request is not emitted).
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

/// The drop reason of a head whose framing cannot be trusted.
pub fn framing_counter(e: FramingError) -> Counter {
    match e {
        FramingError::ContentLengthAndTransferEncoding => Counter::DroppedClAndTe,
        FramingError::ContentLength {
            source: ContentLengthError::Invalid,
        } => Counter::DroppedInvalidContentLength,
        FramingError::ContentLength {
            source: ContentLengthError::Conflicting { .. },
        } => Counter::DroppedConflictingContentLength,
        FramingError::TransferEncoding { .. } => Counter::DroppedBadTransferEncoding,
    }
}

/// Parse the request head at the start of `buf`.
#[inline]
pub fn parse_head(buf: &[u8], limits: &Limits) -> HeadOutcome {
    let head = match parse_request_head(buf, limits.max_headers) {
        Ok(Status::Partial) if buf.len() > limits.max_header_bytes => {
            return reject(Counter::DroppedHeaderTooLarge)
        }
        Ok(Status::Partial) => return HeadOutcome::Partial,
        Ok(Status::Complete(head)) => head,
        Err(e) => return rejected(e),
    };
    let skip = |reason| HeadOutcome::Skip {
        reason,
        head_len: head.head_len(),
        framing: head.framing(),
        persistent: head.persistent(),
    };
    if head.head_len() > limits.max_header_bytes {
        return skip(Counter::DroppedHeaderTooLarge);
    }
    if let Framing::Length(n) = head.framing() {
        if n > limits.max_body_bytes {
            return skip(Counter::DroppedBodyTooLarge);
        }
    }
    HeadOutcome::Complete(head)
}

fn rejected(e: RequestHeadError) -> HeadOutcome {
    match e {
        RequestHeadError::Http2Preface => HeadOutcome::Http2,
        RequestHeadError::TooManyHeaders { .. } => reject(Counter::DroppedTooManyHeaders),
        RequestHeadError::ObsFold => reject(Counter::DroppedObsFold),
        RequestHeadError::BareLf => reject(Counter::DroppedBareLf),
        RequestHeadError::TooLong => reject(Counter::DroppedHeaderTooLarge),
        RequestHeadError::LeadingEmptyLine
        | RequestHeadError::Syntax { .. }
        | RequestHeadError::InvalidTarget { .. } => reject(Counter::DroppedInvalidRequest),
        RequestHeadError::UnknownMethod {
            head_len,
            framing: Some(framing),
            persistent,
        } => HeadOutcome::Skip {
            reason: Counter::DroppedUnknownMethod,
            head_len,
            framing,
            persistent,
        },
        RequestHeadError::UnknownMethod { framing: None, .. } => {
            reject(Counter::DroppedUnknownMethod)
        }
        RequestHeadError::Framing { source, .. } => HeadOutcome::Reject {
            reason: framing_counter(source),
            sync_point: true,
        },
    }
}

/// For an acceptable head after which the flow may no longer be HTTP/1 (CONNECT, or an
/// upgrade request: an `Upgrade` field whose token `Connection` lists, RFC 9110 §7.8), the
/// drop reason. An `Upgrade` field that `Connection` does not list is not for this hop: the
/// server ignores it and so does the decoder.
pub fn stop_reason(head: &RequestHead) -> Option<Counter> {
    if head.method() == Method::Connect {
        Some(Counter::DroppedConnect)
    } else if head.has_upgrade() && head.connection().upgrade {
        Some(Counter::DroppedUpgrade)
    } else {
        None
    }
}

/// Whether `head` (parsed from `raw`) asks for an h2c upgrade the server may accept
/// (RFC 7540 §3.2): an `Upgrade` field listing `h2c`, `Connection` listing `upgrade`, exactly
/// one `HTTP2-Settings` field, and a method other than CONNECT. Such a request is served as
/// HTTP/1.1 when the upgrade is declined, and as stream 1 when it is accepted; either way the
/// server processed it.
pub fn is_h2c_upgrade(head: &RequestHead, raw: &[u8]) -> bool {
    if !head.has_upgrade() || !head.connection().upgrade || head.method() == Method::Connect {
        return false;
    }
    let mut h2c = false;
    let mut settings = 0;
    for h in head.headers() {
        let (Some(name), Some(value)) = (raw.get(h.name()), raw.get(h.value())) else {
            return false;
        };
        if name.eq_ignore_ascii_case(b"upgrade") {
            h2c |= value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"h2c"));
        } else if name.eq_ignore_ascii_case(b"http2-settings") {
            settings += 1;
        }
    }
    h2c && settings == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_wire::http1::{FramingFields, Version};

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
        assert_eq!(h.head_len(), s.len() - 3);
        assert_eq!(&s[h.target()], b"/x?y");
        assert_eq!(h.framing(), Framing::Length(3));
        assert_eq!(h.version(), Version::Http11);
        assert_eq!(h.headers().len(), 2);
        assert_eq!(stop_reason(&h), None);
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
        assert_eq!(stop_reason(&h), Some(Counter::DroppedConnect));
        let HeadOutcome::Complete(h) =
            parse(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        else {
            panic!("upgrade");
        };
        assert_eq!(stop_reason(&h), Some(Counter::DroppedUpgrade));
        assert!(!is_h2c_upgrade(
            &h,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        ));
    }

    #[test]
    fn h2c_upgrades() {
        let yes: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: foo, H2C\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";
        let no_settings: &[u8] =
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        let not_listed: &[u8] =
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\n\r\n";
        let two_settings: &[u8] = b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\nHTTP2-Settings: AA\r\n\r\n";
        for (raw, want) in [
            (yes, true),
            (no_settings, false),
            (not_listed, false),
            (two_settings, false),
        ] {
            let HeadOutcome::Complete(h) = parse(raw) else {
                panic!("complete: {}", String::from_utf8_lossy(raw));
            };
            assert_eq!(
                is_h2c_upgrade(&h, raw),
                want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    fn framing(headers: &[(&str, &str)], http10: bool) -> Result<Framing, Counter> {
        let mut f = FramingFields::default();
        for (n, v) in headers {
            f.observe(n.as_bytes(), v.as_bytes());
        }
        let version = if http10 {
            Version::Http10
        } else {
            Version::Http11
        };
        f.request_framing(version).map_err(framing_counter)
    }

    /// The decoder's framing drop reasons, for the rules shadowtap-wire implements.
    #[test]
    fn framing_counters() {
        assert_eq!(framing(&[], false), Ok(Framing::None));
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
}
