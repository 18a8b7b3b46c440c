//! [`MirrorRequest`]: one request to replay, as the exact bytes the client sent.

use bytes::Bytes;

use super::error::RequestError;
use super::head::{has_token, scan, Layout};

/// A request to replay to a mirror backend.
///
/// `head` is the exact raw request head as the client sent it: request line, header fields
/// and the final empty line (`CRLF CRLF`). `body` is the exact raw body as received, with
/// chunked framing and trailers kept. Both are written byte for byte; the only edits are
/// the marker header and the backend's [`RewriteOptions`](super::RewriteOptions).
///
/// Both are [`Bytes`], so a request decoded from a larger buffer is shared, not copied:
/// see [`MirrorRequest::from_raw`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorRequest {
    head: Bytes,
    /// Where the request line and fields lie in `head` (scanned once, when built).
    layout: Layout,
    body: Bytes,
    is_head: bool,
    closes: bool,
}

impl MirrorRequest {
    /// Builds a request from its raw head and raw body; checks that the head is a complete
    /// HTTP/1.0 or HTTP/1.1 request head. The body is not checked against the framing.
    pub fn new(head: Bytes, body: Bytes) -> Result<Self, RequestError> {
        let layout = scan(&head)?;
        let is_head = &head[layout.method.clone()] == b"HEAD";
        let mut close = false;
        let mut keep_alive = false;
        for field in &layout.fields {
            if layout.is_named(&head, field, "connection") {
                let value = layout.value(&head, field);
                close |= has_token(value, "close");
                keep_alive |= has_token(value, "keep-alive");
            }
        }
        let closes = close || (layout.http10 && !keep_alive);
        Ok(MirrorRequest {
            head,
            layout,
            body,
            is_head,
            closes,
        })
    }

    /// Builds a request from its whole raw bytes and the length of the head within them.
    pub fn from_raw(raw: Bytes, head_len: usize) -> Result<Self, RequestError> {
        if head_len > raw.len() {
            return Err(RequestError::HeadOutOfRange {
                head_len,
                len: raw.len(),
            });
        }
        let head = raw.slice(..head_len);
        let body = raw.slice(head_len..);
        Self::new(head, body)
    }

    /// The raw head.
    pub fn head(&self) -> &Bytes {
        &self.head
    }

    /// The layout of the raw head.
    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the method is `HEAD` (its response has no body).
    pub fn is_head_method(&self) -> bool {
        self.is_head
    }

    /// Whether the request asks the server to close the connection after the response
    /// (`Connection: close`, or HTTP/1.0 without `keep-alive`).
    pub fn closes_connection(&self) -> bool {
        self.closes
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
    fn from_raw_splits() {
        let raw = Bytes::from_static(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
        let r = MirrorRequest::from_raw(raw.clone(), raw.len() - 2).expect("valid");
        assert_eq!(&r.body()[..], b"hi");
        assert_eq!(r.len(), raw.len());
        assert!(matches!(
            MirrorRequest::from_raw(raw.clone(), raw.len() + 1),
            Err(RequestError::HeadOutOfRange { .. })
        ));
        assert!(MirrorRequest::from_raw(raw, 5).is_err());
    }
}
