//! Framing HTTP/1.1 responses on a keep-alive connection: where one response ends, from its
//! head (Content-Length or chunked), whatever headers the server adds.

use shadowtap_wire::http1::{
    parse_response_head, ReadProgress, ResponseBody, ResponseError, ResponseLimits, ResponseReader,
    Status,
};

/// Why a response cannot be framed.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The head does not parse.
    BadHead,
    /// Neither Content-Length nor chunked: the body would run to the connection's close,
    /// which a keep-alive load generator does not support.
    Unframed,
    /// A chunk size line does not parse.
    BadChunk,
}

/// One complete response at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Framed {
    /// Bytes the response takes, head and body.
    pub len: usize,
    /// The status code.
    pub status: u16,
    /// The server will close the connection after it (`Connection: close`).
    pub close: bool,
}

/// The complete response at the start of `buf`, `Ok(None)` when more bytes are needed.
/// Interim `1xx` responses are framed like any other (they have no body). The grammar is
/// shadowtap's own (`shadowtap-wire`), the one the mirror client reads responses with.
pub fn frame(buf: &[u8]) -> Result<Option<Framed>, FrameError> {
    let head = match parse_response_head(buf, false, 64) {
        Ok(Status::Partial) => return Ok(None),
        Ok(Status::Complete(head)) => head,
        Err(_) => return Err(FrameError::BadHead),
    };
    if head.is_interim() {
        return Ok(Some(Framed {
            len: head.len,
            status: head.status,
            close: !head.persistent,
        }));
    }
    if head.body == ResponseBody::UntilClose {
        return Err(FrameError::Unframed);
    }
    match ResponseReader::new(false, ResponseLimits::default()).feed(buf) {
        Ok(ReadProgress::Complete { consumed, response }) => Ok(Some(Framed {
            len: consumed,
            status: response.status,
            close: !response.reusable,
        })),
        Ok(ReadProgress::NeedMore { .. }) => Ok(None),
        Err(ResponseError::Chunked { .. }) => Err(FrameError::BadChunk),
        Err(_) => Err(FrameError::BadHead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_frames_exactly_and_waits_for_the_body() {
        let one = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let mut two = one.to_vec();
        two.extend_from_slice(one);
        let f = frame(&two).expect("frames").expect("complete");
        assert_eq!((f.len, f.status, f.close), (one.len(), 200, false));
        assert_eq!(frame(&one[..one.len() - 1]), Ok(None));
        assert_eq!(frame(b"HTTP/1.1 200 OK\r\nServer: x"), Ok(None));
    }

    #[test]
    fn extra_headers_chunked_and_close_are_honoured() {
        let r = b"HTTP/1.1 200 OK\r\nServer: proxy\r\nDate: now\r\nConnection: keep-alive, close\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\nHTTP";
        let f = frame(r).expect("frames").expect("complete");
        assert_eq!(f.len, r.len() - 4);
        assert!(f.close);
        assert_eq!(frame(&r[..r.len() - 8]), Ok(None));
    }

    #[test]
    fn bodyless_statuses_and_unframed_bodies() {
        let f = frame(b"HTTP/1.1 204 No Content\r\nServer: p\r\n\r\n")
            .expect("frames")
            .expect("complete");
        assert_eq!(f.status, 204);
        assert_eq!(
            frame(b"HTTP/1.1 200 OK\r\nServer: p\r\n\r\nok"),
            Err(FrameError::Unframed)
        );
        assert_eq!(frame(b"NOPE\r\n\r\n"), Err(FrameError::BadHead));
    }
}
