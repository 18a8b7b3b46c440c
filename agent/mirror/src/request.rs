//! [`MirrorRequest`]: one request to replay, as the exact bytes the client sent, with the
//! layout of its head as parsed once by shadowtap-wire.

use bytes::Bytes;
use shadowtap_reconstruct::Request;
use shadowtap_wire::http1::{parse_request_head, Method, RequestHead, Status};

use crate::compare::CompareTicket;
use crate::error::RequestError;

/// Most header fields [`MirrorRequest::new`] accepts in a head.
const MAX_HEADERS: usize = 128;

/// A request to replay to a mirror backend.
///
/// `head` is the exact raw request head as the client sent it: request line, header fields
/// and the final empty line (`CRLF CRLF`). `body` is the exact raw body as received, with
/// chunked framing and trailers kept. Both are written byte for byte; the only edits are
/// the marker header and the backend's [`RewriteOptions`](crate::RewriteOptions), made from
/// the head's layout.
///
/// Both are [`Bytes`], so a request decoded from a larger buffer is shared, not copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorRequest {
    head: Bytes,
    /// Where the request line and fields lie in `head`.
    layout: RequestHead,
    body: Bytes,
    /// The comparison it takes part in, if any.
    compare: Option<CompareTicket>,
}

impl MirrorRequest {
    /// The request the decoder emitted, with the head layout it already parsed (no second
    /// parse). Its bytes are shared with the capture buffer they arrived in, or copied out
    /// when sharing would keep alive more than twice their size
    /// ([`Request::detached_raw`]).
    pub fn from_decoded(request: &Request) -> Self {
        let raw = request.detached_raw();
        let layout = request.parsed_head().clone();
        let head_len = layout.head_len();
        MirrorRequest {
            head: raw.slice(..head_len),
            layout,
            body: raw.slice(head_len..),
            compare: None,
        }
    }

    /// The same request, its response compared through `ticket`.
    #[must_use]
    pub fn with_compare(mut self, ticket: CompareTicket) -> Self {
        self.compare = Some(ticket);
        self
    }

    /// The comparison the request takes part in.
    pub fn compare(&self) -> Option<&CompareTicket> {
        self.compare.as_ref()
    }

    /// Builds a request from its raw head and raw body; checks with shadowtap-wire's request
    /// grammar (the decoder's) that the head is exactly one complete, valid HTTP/1.0 or
    /// HTTP/1.1 request head. The body is not checked against the framing.
    pub fn new(head: Bytes, body: Bytes) -> Result<Self, RequestError> {
        let layout = match parse_request_head(&head, MAX_HEADERS) {
            Ok(Status::Complete(layout)) => layout,
            Ok(Status::Partial) => return Err(RequestError::Incomplete { len: head.len() }),
            Err(source) => return Err(RequestError::Invalid { source }),
        };
        if layout.head_len() != head.len() {
            return Err(RequestError::TrailingBytes {
                extra: head.len() - layout.head_len(),
            });
        }
        Ok(MirrorRequest {
            head,
            layout,
            body,
            compare: None,
        })
    }

    /// The raw head.
    pub fn head(&self) -> &Bytes {
        &self.head
    }

    /// The layout of the raw head.
    pub fn layout(&self) -> &RequestHead {
        &self.layout
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the method is `HEAD` (its response has no body).
    pub fn is_head_method(&self) -> bool {
        self.layout.method() == Method::Head
    }

    /// Whether the request asks the server to close the connection after the response
    /// (`Connection: close`, or HTTP/1.0 without `keep-alive`).
    pub fn closes_connection(&self) -> bool {
        !self.layout.persistent()
    }

    /// Bytes charged to the queue budget: head plus body.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Never true for a valid request (a head has at least a request line).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_wire::http1::RequestHeadError;

    #[test]
    fn method_and_connection() {
        let r = MirrorRequest::new(Bytes::from_static(b"HEAD / HTTP/1.1\r\n\r\n"), Bytes::new())
            .expect("valid");
        assert!(r.is_head_method());
        assert!(!r.closes_connection());
        let r = MirrorRequest::new(
            Bytes::from_static(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"),
            Bytes::new(),
        )
        .expect("valid");
        assert!(!r.is_head_method());
        assert!(r.closes_connection());
        let r = MirrorRequest::new(Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n"), Bytes::new())
            .expect("valid");
        assert!(r.closes_connection());
        let r = MirrorRequest::new(
            Bytes::from_static(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"),
            Bytes::new(),
        )
        .expect("valid");
        assert!(!r.closes_connection());
    }

    #[test]
    fn checked_heads() {
        assert!(matches!(
            MirrorRequest::new(
                Bytes::from_static(b"GET / HTTP/1.1\r\nHost: x\r\n"),
                Bytes::new()
            ),
            Err(RequestError::Incomplete { .. })
        ));
        assert_eq!(
            MirrorRequest::new(Bytes::from_static(b"GET / HTTP/1.1\r\n\r\nx"), Bytes::new()),
            Err(RequestError::TrailingBytes { extra: 1 })
        );
        assert!(matches!(
            MirrorRequest::new(Bytes::from_static(b"GET / HTTP/2\r\n\r\n"), Bytes::new()),
            Err(RequestError::Invalid { .. })
        ));
        assert!(matches!(
            MirrorRequest::new(
                Bytes::from_static(b"GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n"),
                Bytes::new()
            ),
            Err(RequestError::Invalid { .. })
        ));
        assert_eq!(
            MirrorRequest::new(
                Bytes::from_static(b"GET / HTTP/1.1\nHost: x\n\n"),
                Bytes::new()
            ),
            Err(RequestError::Invalid {
                source: RequestHeadError::BareLf
            })
        );
        assert_eq!(
            MirrorRequest::new(
                Bytes::from_static(b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n"),
                Bytes::new()
            ),
            Err(RequestError::Invalid {
                source: RequestHeadError::ObsFold
            })
        );
    }

    #[test]
    fn from_decoded_shares_the_decoder_layout() {
        use shadowtap_common::record::tcp_flags::{ACK, PSH, SYN};
        use shadowtap_reconstruct::{Config, FlowKey, Reconstructor, Segment};
        let raw: &[u8] = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi";
        let flow = FlowKey::new(
            "10.0.0.1:30000".parse().expect("addr"),
            "10.1.0.1:8080".parse().expect("addr"),
        );
        let mut recon = Reconstructor::new(Config::default());
        let mut out: Vec<Request> = recon
            .push(Segment::new(flow, 7, SYN, 0, Bytes::new()))
            .collect();
        out.extend(recon.push(Segment::new(flow, 8, ACK | PSH, 1, Bytes::from_static(raw))));
        assert_eq!(out.len(), 1);
        let r = MirrorRequest::from_decoded(&out[0]);
        let checked = MirrorRequest::new(
            Bytes::copy_from_slice(&raw[..raw.len() - 2]),
            Bytes::from_static(b"hi"),
        )
        .expect("valid");
        assert_eq!(r, checked);
        assert_eq!(r.len(), raw.len());
    }
}
