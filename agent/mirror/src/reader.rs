//! Reading a mirror backend's response to its end and discarding it, with shadowtap-wire's
//! [`ResponseReader`] (interim responses skipped, then the final response's body by its
//! framing). This module only moves bytes from the socket to the reader.

use bytes::{Buf, BytesMut};
use shadowtap_wire::http1::{FinalResponse, ReadProgress, ResponseLimits, ResponseReader};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::ExchangeError;

/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;

/// Reads more bytes into `buf`; returns how many (0 at end of stream).
pub(crate) async fn fill<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Result<usize, ExchangeError> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(READ_CHUNK);
    }
    rd.read_buf(buf).await.map_err(ExchangeError::from_io)
}

/// A response read to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Its status, and whether the connection may carry another request.
    pub response: FinalResponse,
    /// Whether the server said it closes after it (`Connection: close`, HTTP/1.0 without
    /// keep-alive): then it processed no later request of the connection (RFC 9112 §9.6).
    pub announces_close: bool,
}

/// Reads one complete response (interim responses skipped) and discards it. Bytes left in
/// `buf` afterwards were sent beyond the response (the next pipelined response, or bytes
/// nobody asked for). A clean close before any byte of the response is
/// [`ExchangeError::ClosedBeforeAnswer`].
pub(crate) async fn read_response<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    request_is_head: bool,
    limits: ResponseLimits,
) -> Result<Answer, ExchangeError> {
    let mut reader = ResponseReader::new(request_is_head, limits);
    let mut any = !buf.is_empty();
    loop {
        match reader
            .feed(buf)
            .map_err(|source| ExchangeError::BadResponse { source })?
        {
            ReadProgress::Complete { consumed, response } => {
                buf.advance(consumed);
                return Ok(Answer {
                    response,
                    announces_close: reader.announces_close(),
                });
            }
            ReadProgress::NeedMore { consumed } => buf.advance(consumed),
        }
        if fill(rd, buf).await? == 0 {
            return match reader.end_of_stream() {
                Some(response) => Ok(Answer {
                    response,
                    announces_close: reader.announces_close(),
                }),
                None if !any => Err(ExchangeError::ClosedBeforeAnswer),
                None => Err(ExchangeError::Closed),
            };
        }
        any = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(
        input: &[u8],
        is_head: bool,
    ) -> (Result<FinalResponse, ExchangeError>, usize) {
        let mut rd = input;
        let mut buf = BytesMut::new();
        let limits = ResponseLimits {
            max_head_bytes: 1024,
            ..ResponseLimits::default()
        };
        let r = read_response(&mut rd, &mut buf, is_head, limits).await;
        (r.map(|a| a.response), buf.len())
    }

    #[tokio::test]
    async fn reads_whole_responses() {
        let (r, left) = read_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc",
            false,
        )
        .await;
        assert_eq!(
            r.expect("ok"),
            FinalResponse {
                status: 201,
                reusable: true
            }
        );
        assert_eq!(left, 0);
        let (r, _) = read_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            false,
        )
        .await;
        assert_eq!(
            r.expect("ok"),
            FinalResponse {
                status: 200,
                reusable: true
            }
        );
        let (r, _) = read_all(b"HTTP/1.1 200 OK\r\n\r\nuntil close", false).await;
        assert_eq!(
            r.expect("ok"),
            FinalResponse {
                status: 200,
                reusable: false
            }
        );
        let (r, _) = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true).await;
        assert_eq!(
            r.expect("ok"),
            FinalResponse {
                status: 200,
                reusable: true
            }
        );
        let (r, left) = read_all(b"HTTP/1.1 204 No\r\n\r\nextra", false).await;
        assert_eq!(
            r.expect("ok"),
            FinalResponse {
                status: 204,
                reusable: true
            }
        );
        assert_eq!(left, 5);
    }

    #[tokio::test]
    async fn truncated_and_oversized() {
        let (r, _) = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false).await;
        assert!(matches!(r, Err(ExchangeError::Closed)));
        let (r, _) = read_all(b"", false).await;
        assert!(matches!(r, Err(ExchangeError::ClosedBeforeAnswer)));
        let (r, _) = read_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false,
        )
        .await;
        assert!(matches!(r, Err(ExchangeError::BadResponse { .. })));
        let big = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 2048]].concat();
        let (r, _) = read_all(&big, false).await;
        assert!(matches!(r, Err(ExchangeError::BadResponse { .. })));
    }
}
