//! Reading a mirror backend's response to its end and discarding it: interim responses
//! skipped, then the final response's body by its framing.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::chunked::ChunkedDecoder;
use super::error::ExchangeError;
use super::response::{parse_head, Answer, BodyKind, Head};

/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;

fn bad(detail: &'static str) -> ExchangeError {
    ExchangeError::BadResponse { detail }
}

/// Reads more bytes into `buf`; returns how many (0 at end of stream).
async fn fill<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Result<usize, ExchangeError> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(READ_CHUNK);
    }
    rd.read_buf(buf).await.map_err(ExchangeError::from_io)
}

/// Reads one complete response (interim responses skipped) and discards it. Bytes left in
/// `buf` afterwards were sent beyond the response (the next pipelined response, or bytes
/// nobody asked for). `reusable` says whether the server keeps the connection open.
pub(crate) async fn read_response<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    request_is_head: bool,
    max_head: usize,
) -> Result<Answer, ExchangeError> {
    loop {
        let (len, head) = loop {
            if let Some(parsed) = parse_head(buf, request_is_head)? {
                break parsed;
            }
            if buf.len() >= max_head {
                return Err(bad("response head too large"));
            }
            if fill(rd, buf).await? == 0 {
                return Err(ExchangeError::Closed);
            }
        };
        buf.advance(len);
        let Head::Final {
            status,
            body,
            keep_alive,
        } = head
        else {
            continue;
        };
        let complete = read_body(rd, buf, body).await?;
        return Ok(Answer {
            status,
            reusable: keep_alive && complete,
        });
    }
}

/// Discards a body; returns false when the connection ended it (close-delimited).
async fn read_body<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    body: BodyKind,
) -> Result<bool, ExchangeError> {
    match body {
        BodyKind::None => Ok(true),
        BodyKind::Length(mut left) => loop {
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            buf.advance(take);
            left -= take as u64;
            if left == 0 {
                return Ok(true);
            }
            if fill(rd, buf).await? == 0 {
                return Err(ExchangeError::Closed);
            }
        },
        BodyKind::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            loop {
                let (used, done) = decoder.feed(buf).map_err(|e| bad(e.detail()))?;
                buf.advance(used);
                if done {
                    return Ok(true);
                }
                if fill(rd, buf).await? == 0 {
                    return Err(ExchangeError::Closed);
                }
            }
        }
        BodyKind::UntilClose => loop {
            buf.clear();
            if fill(rd, buf).await? == 0 {
                return Ok(false);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8], is_head: bool) -> (Result<Answer, ExchangeError>, usize) {
        let mut rd = input;
        let mut buf = BytesMut::new();
        let r = read_response(&mut rd, &mut buf, is_head, 1024).await;
        (r, buf.len())
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
            Answer {
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
            Answer {
                status: 200,
                reusable: true
            }
        );
        let (r, _) = read_all(b"HTTP/1.1 200 OK\r\n\r\nuntil close", false).await;
        assert_eq!(
            r.expect("ok"),
            Answer {
                status: 200,
                reusable: false
            }
        );
        let (r, _) = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true).await;
        assert_eq!(
            r.expect("ok"),
            Answer {
                status: 200,
                reusable: true
            }
        );
        let (r, left) = read_all(b"HTTP/1.1 204 No\r\n\r\nextra", false).await;
        assert_eq!(
            r.expect("ok"),
            Answer {
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
        assert!(matches!(r, Err(ExchangeError::Closed)));
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
