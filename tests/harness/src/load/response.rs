//! Framing HTTP/1.1 responses on a keep-alive connection: where one response ends, from its
//! head (Content-Length or chunked), whatever headers the server adds.

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
/// Interim `1xx` responses are framed like any other (they have no body).
pub fn frame(buf: &[u8]) -> Result<Option<Framed>, FrameError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FrameError::BadHead),
    };
    let status = resp.code.ok_or(FrameError::BadHead)?;
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).map_err(|_| FrameError::BadHead)?;
            length = Some(v.trim().parse::<usize>().map_err(|_| FrameError::BadHead)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h
                .value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        }
    }
    let body_less = (100..200).contains(&status) || status == 204 || status == 304;
    let end = if body_less {
        Some(head)
    } else if chunked {
        chunked_end(buf, head)?
    } else if let Some(n) = length {
        (buf.len() >= head + n).then_some(head + n)
    } else {
        return Err(FrameError::Unframed);
    };
    Ok(end.map(|len| Framed { len, status, close }))
}

/// Where a chunked body starting at `pos` ends (after its trailers), if all of it is here.
fn chunked_end(buf: &[u8], mut pos: usize) -> Result<Option<usize>, FrameError> {
    loop {
        let Some(eol) = find_crlf(&buf[pos..]) else {
            return Ok(None);
        };
        let line = &buf[pos..pos + eol];
        let size = line.split(|b| *b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .ok_or(FrameError::BadChunk)?;
        pos += eol + 2;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let Some(eol) = find_crlf(&buf[pos..]) else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some(pos));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        pos += size + 2;
    }
}

fn find_crlf(hay: &[u8]) -> Option<usize> {
    hay.windows(2).position(|w| w == b"\r\n")
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
