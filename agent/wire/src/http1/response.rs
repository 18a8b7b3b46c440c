//! Responses (RFC 9112 §4, §6.3): status lines, interim (1xx) responses, bodiless responses
//! (to HEAD; 1xx, 204, 304), Content-Length, chunked and close-delimited bodies, and whether
//! the connection stays reusable — the head parser, and [`ResponseReader`], which finds the
//! end of a response fed in arbitrary pieces without keeping its body.
//!
//! Response bytes come from mirror backends, which are untrusted: the same strictness as
//! for requests applies (CRLF only, no obs-fold, framing rules of [`super::framing`]), and
//! every part that is not body data is bounded ([`ResponseLimits`]).

use std::mem::MaybeUninit;

use super::chunked::{ChunkedDecoder, ChunkedError, ChunkedLimits, Progress};
use super::framing::{FramingError, FramingFields};
use super::method::Version;
use super::request::Status;
use super::scan::{has_bare_lf, has_obs_fold};

/// Headers parsed on the stack; more are parsed into a heap array.
const STACK_HEADERS: usize = 128;

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseBody {
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
pub struct ResponseHead {
    /// Length of the head, final empty line included.
    pub len: usize,
    /// The version.
    pub version: Version,
    /// The status code (100–599).
    pub status: u16,
    /// How the body is delimited.
    pub body: ResponseBody,
    /// Whether the connection may carry another request after this response.
    pub persistent: bool,
    /// Whether the server says it closes after this response (`Connection: close`, or
    /// HTTP/1.0 without `keep-alive`): it then processes no later request received on the
    /// connection (RFC 9112 §9.6). A response delimited by the close, or a `101`, ends the
    /// connection too without saying so.
    pub announces_close: bool,
}

impl ResponseHead {
    /// Whether this is an interim response (1xx other than 101): the final one follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Why bytes are not an acceptable response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseHeadError {
    /// More header fields than allowed.
    #[error("more than {max} header fields")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// A header line starts with whitespace (obsolete line folding).
    #[error("obsolete line folding")]
    ObsFold,
    /// A line ends in LF without CR.
    #[error("a line ends in LF without CR")]
    BareLf,
    /// The head does not follow the grammar.
    #[error("not an HTTP/1.x response head: {source}")]
    Syntax {
        /// httparse's diagnosis.
        #[source]
        source: httparse::Error,
    },
    /// A status code outside 100–599.
    #[error("status code {status} out of range")]
    StatusOutOfRange {
        /// The code.
        status: u16,
    },
    /// The framing fields cannot be trusted.
    #[error("invalid framing: {source}")]
    Framing {
        /// What is wrong.
        #[source]
        source: FramingError,
    },
}

/// Parses the response head at the start of `buf` (bytes after it are ignored), for a
/// request whose method is `HEAD` or not, with at most `max_headers` header fields.
pub fn parse_response_head(
    buf: &[u8],
    request_is_head: bool,
    max_headers: usize,
) -> Result<Status<ResponseHead>, ResponseHeadError> {
    if max_headers <= STACK_HEADERS {
        let mut arr = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
        parse_with(buf, request_is_head, &mut arr[..max_headers])
    } else {
        let mut v = vec![MaybeUninit::<httparse::Header<'_>>::uninit(); max_headers];
        parse_with(buf, request_is_head, &mut v)
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    request_is_head: bool,
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Status<ResponseHead>, ResponseHeadError> {
    let max = headers.len();
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, headers);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Status::Partial),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ResponseHeadError::TooManyHeaders { max })
        }
        Err(_) if has_obs_fold(buf) => return Err(ResponseHeadError::ObsFold),
        Err(_) if has_bare_lf(buf) => return Err(ResponseHeadError::BareLf),
        Err(source) => return Err(ResponseHeadError::Syntax { source }),
    };
    if has_bare_lf(&buf[..len]) {
        return Err(ResponseHeadError::BareLf);
    }
    let syntax = |source| ResponseHeadError::Syntax { source };
    // httparse fills both in a complete head, with version 0 or 1.
    let version = resp
        .version
        .and_then(Version::from_minor)
        .ok_or(syntax(httparse::Error::Version))?;
    let status = resp.code.ok_or(syntax(httparse::Error::Status))?;
    if !(100..=599).contains(&status) {
        return Err(ResponseHeadError::StatusOutOfRange { status });
    }
    let mut fields = FramingFields::default();
    for h in resp.headers.iter() {
        fields.observe(h.name.as_bytes(), h.value);
    }
    let announces_close = !fields.connection().persistent(version);
    let head = |body, persistent| {
        Ok(Status::Complete(ResponseHead {
            len,
            version,
            status,
            body,
            persistent,
            announces_close,
        }))
    };
    if status == 101 {
        // Switching protocols: what follows is not HTTP/1.
        return head(ResponseBody::None, false);
    }
    if (100..200).contains(&status) {
        return head(ResponseBody::None, true);
    }
    let body = fields
        .response_body(version)
        .map_err(|source| ResponseHeadError::Framing { source })?;
    let body = if request_is_head || status == 204 || status == 304 {
        ResponseBody::None
    } else {
        body
    };
    let persistent = fields.connection().persistent(version) && body != ResponseBody::UntilClose;
    head(body, persistent)
}

/// Bounds on a response's parts that are not body data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseLimits {
    /// Longest head, interim heads each on their own (64 KiB).
    pub max_head_bytes: usize,
    /// Most header fields in one head (128).
    pub max_headers: usize,
    /// Bounds of a chunked body (4 KiB chunk-size lines, 64 KiB of trailers).
    pub chunked: ChunkedLimits,
}

impl Default for ResponseLimits {
    fn default() -> Self {
        ResponseLimits {
            max_head_bytes: 64 << 10,
            max_headers: 128,
            chunked: ChunkedLimits {
                max_size_line: 4096,
                max_trailers: 64 << 10,
            },
        }
    }
}

/// Why a response cannot be read to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// A head is longer than [`ResponseLimits::max_head_bytes`].
    #[error("response head larger than {max} bytes")]
    HeadTooLarge {
        /// The limit.
        max: usize,
    },
    /// A head is invalid.
    #[error("{source}")]
    Head {
        /// What is wrong.
        #[from]
        source: ResponseHeadError,
    },
    /// The chunked body is invalid.
    #[error("invalid chunked body: {source}")]
    Chunked {
        /// What is wrong.
        #[from]
        source: ChunkedError,
    },
}

/// The end of a final response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalResponse {
    /// The final status code.
    pub status: u16,
    /// Whether the connection may carry another request.
    pub reusable: bool,
}

/// What [`ResponseReader::feed`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadProgress {
    /// The response continues. The first `consumed` bytes are read (drop them); the rest
    /// (an incomplete head) must be fed again with more bytes after it.
    NeedMore {
        /// Bytes read.
        consumed: usize,
    },
    /// The response ended after `consumed` bytes; the rest belong to what follows.
    Complete {
        /// Bytes read.
        consumed: usize,
        /// The final response.
        response: FinalResponse,
    },
}

#[derive(Clone, Debug)]
enum ReadState {
    Head,
    Length {
        left: u64,
        status: u16,
        persistent: bool,
    },
    Chunked {
        decoder: ChunkedDecoder,
        status: u16,
        persistent: bool,
    },
    UntilClose {
        status: u16,
    },
    Done(FinalResponse),
}

/// Finds the end of one response (interim responses skipped) in bytes fed in arbitrary
/// pieces, keeping none of them: the caller keeps a buffer, feeds it whole, and drops the
/// bytes reported consumed. The answers do not depend on how the bytes are cut.
#[derive(Clone, Debug)]
pub struct ResponseReader {
    request_is_head: bool,
    limits: ResponseLimits,
    state: ReadState,
    announces_close: bool,
}

impl ResponseReader {
    /// A reader at the start of the response to a request (whose method is `HEAD` or not).
    pub fn new(request_is_head: bool, limits: ResponseLimits) -> Self {
        ResponseReader {
            request_is_head,
            limits,
            state: ReadState::Head,
            announces_close: false,
        }
    }

    /// Reads what it can of `buf` (the unread bytes of the connection).
    pub fn feed(&mut self, buf: &[u8]) -> Result<ReadProgress, ResponseError> {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match &mut self.state {
                ReadState::Done(response) => {
                    return Ok(ReadProgress::Complete {
                        consumed: at,
                        response: *response,
                    })
                }
                ReadState::Head => {
                    let max = self.limits.max_head_bytes;
                    let parsed =
                        parse_response_head(rest, self.request_is_head, self.limits.max_headers)?;
                    let head = match parsed {
                        Status::Complete(head) if head.len <= max => head,
                        Status::Partial if rest.len() < max => {
                            return Ok(ReadProgress::NeedMore { consumed: at })
                        }
                        _ => return Err(ResponseError::HeadTooLarge { max }),
                    };
                    at += head.len;
                    if head.is_interim() {
                        continue;
                    }
                    let (status, persistent) = (head.status, head.persistent);
                    self.announces_close = head.announces_close && status != 101;
                    self.state = match head.body {
                        ResponseBody::None => ReadState::Done(FinalResponse {
                            status,
                            reusable: persistent,
                        }),
                        ResponseBody::Length(left) => ReadState::Length {
                            left,
                            status,
                            persistent,
                        },
                        ResponseBody::Chunked => ReadState::Chunked {
                            decoder: ChunkedDecoder::with_limits(self.limits.chunked),
                            status,
                            persistent,
                        },
                        ResponseBody::UntilClose => ReadState::UntilClose { status },
                    };
                }
                ReadState::Length {
                    left,
                    status,
                    persistent,
                } => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    at += take;
                    *left -= take as u64;
                    if *left > 0 {
                        return Ok(ReadProgress::NeedMore { consumed: at });
                    }
                    self.state = ReadState::Done(FinalResponse {
                        status: *status,
                        reusable: *persistent,
                    });
                }
                ReadState::Chunked {
                    decoder,
                    status,
                    persistent,
                } => {
                    let before = decoder.position();
                    match decoder.feed(rest)? {
                        Progress::NeedMore => {
                            return Ok(ReadProgress::NeedMore {
                                consumed: buf.len(),
                            })
                        }
                        Progress::Done(end) => {
                            at += usize::try_from(end - before).unwrap_or(usize::MAX);
                            self.state = ReadState::Done(FinalResponse {
                                status: *status,
                                reusable: *persistent,
                            });
                        }
                    }
                }
                ReadState::UntilClose { .. } => {
                    return Ok(ReadProgress::NeedMore {
                        consumed: buf.len(),
                    })
                }
            }
        }
    }

    /// Whether the final response read so far says the server closes after it (see
    /// [`ResponseHead::announces_close`]; never for a `101`).
    pub fn announces_close(&self) -> bool {
        self.announces_close
    }

    /// The connection ended: the final response when its body is delimited by the close
    /// (the connection is then not reusable), `None` when the response is incomplete.
    pub fn end_of_stream(&self) -> Option<FinalResponse> {
        match self.state {
            ReadState::UntilClose { status } => Some(FinalResponse {
                status,
                reusable: false,
            }),
            ReadState::Done(response) => Some(response),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::{ContentLengthError, TransferEncodingError};

    fn head(s: &[u8]) -> ResponseHead {
        match parse_response_head(s, false, 128) {
            Ok(Status::Complete(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    fn fin(s: &[u8]) -> (u16, ResponseBody, bool) {
        let h = head(s);
        (h.status, h.body, h.persistent)
    }

    #[test]
    fn framing_rules() {
        assert!(head(b"HTTP/1.1 100 Continue\r\n\r\n").is_interim());
        assert!(!head(b"HTTP/1.1 101 Switching\r\n\r\n").is_interim());
        assert_eq!(
            fin(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            (200, ResponseBody::Length(5), true)
        );
        assert_eq!(
            fin(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"),
            (200, ResponseBody::Length(5), true)
        );
        assert_eq!(
            fin(b"HTTP/1.1 204 No\r\nContent-Length: 5\r\n\r\n"),
            (204, ResponseBody::None, true)
        );
        assert_eq!(
            fin(b"HTTP/1.1 304 NM\r\n\r\n"),
            (304, ResponseBody::None, true)
        );
        assert_eq!(
            fin(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            (200, ResponseBody::Chunked, true)
        );
        assert_eq!(
            fin(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            (200, ResponseBody::UntilClose, false)
        );
        assert_eq!(
            fin(b"HTTP/1.1 200 OK\r\n\r\n"),
            (200, ResponseBody::UntilClose, false)
        );
        assert_eq!(
            fin(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
            (200, ResponseBody::Length(0), false)
        );
        assert_eq!(
            fin(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            (200, ResponseBody::Length(0), false)
        );
        assert_eq!(
            fin(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"),
            (200, ResponseBody::Length(0), true)
        );
        assert_eq!(
            fin(b"HTTP/1.1 101 Switching\r\n\r\n"),
            (101, ResponseBody::None, false)
        );
        let h = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, 128);
        assert!(matches!(
            h,
            Ok(Status::Complete(ResponseHead {
                body: ResponseBody::None,
                persistent: true,
                ..
            }))
        ));
    }

    #[test]
    fn announced_close() {
        let close = |s: &[u8]| match parse_response_head(s, false, 128) {
            Ok(Status::Complete(h)) => (h.persistent, h.announces_close),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            close(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
            (false, true)
        );
        assert_eq!(
            close(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
            (false, true)
        );
        // Delimited by the close, but not announced: later requests may have been read.
        assert_eq!(close(b"HTTP/1.1 200 OK\r\n\r\n"), (false, false));
        assert_eq!(
            close(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            (true, false)
        );
        let mut r = ResponseReader::new(false, ResponseLimits::default());
        let fed = r.feed(b"HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(fed, Ok(ReadProgress::Complete { .. })));
        assert!(!r.announces_close(), "the final response's fields count");
    }

    #[test]
    fn invalid_heads() {
        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false, 128),
            Ok(Status::Partial)
        );
        let framing = |source| ResponseHeadError::Framing { source };
        let cases: &[(&[u8], ResponseHeadError)] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                framing(FramingError::ContentLength {
                    source: ContentLengthError::Invalid,
                }),
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                framing(FramingError::ContentLength {
                    source: ContentLengthError::Conflicting { first: 1, other: 2 },
                }),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                framing(FramingError::ContentLengthAndTransferEncoding),
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                framing(FramingError::TransferEncoding {
                    source: TransferEncodingError::ChunkedNotLast,
                }),
            ),
            (
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                framing(FramingError::TransferEncoding {
                    source: TransferEncodingError::Http10,
                }),
            ),
            (
                b"HTTP/1.1 099 X\r\n\r\n",
                ResponseHeadError::StatusOutOfRange { status: 99 },
            ),
            (
                b"HTTP/1.1 600 X\r\n\r\n",
                ResponseHeadError::StatusOutOfRange { status: 600 },
            ),
            (
                b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
                ResponseHeadError::BareLf,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\n\n",
                ResponseHeadError::BareLf,
            ),
            (
                b"HTTP/1.1 200 OK\r\nA: 1\r\n 2\r\n\r\n",
                ResponseHeadError::ObsFold,
            ),
        ];
        for (s, want) in cases {
            assert_eq!(
                parse_response_head(s, false, 128),
                Err(*want),
                "{}",
                String::from_utf8_lossy(s)
            );
        }
        assert!(matches!(
            parse_response_head(b"garbage\r\n\r\n", false, 128),
            Err(ResponseHeadError::Syntax { .. })
        ));
        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", false, 1),
            Err(ResponseHeadError::TooManyHeaders { max: 1 })
        );
    }

    fn read(input: &[u8], is_head: bool) -> Result<ReadProgress, ResponseError> {
        let limits = ResponseLimits {
            max_head_bytes: 1024,
            ..ResponseLimits::default()
        };
        ResponseReader::new(is_head, limits).feed(input)
    }

    fn complete(
        consumed: usize,
        status: u16,
        reusable: bool,
    ) -> Result<ReadProgress, ResponseError> {
        Ok(ReadProgress::Complete {
            consumed,
            response: FinalResponse { status, reusable },
        })
    }

    #[test]
    fn reads_whole_responses() {
        let s =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(read(s, false), complete(s.len(), 201, true));
        let s =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n";
        assert_eq!(read(s, false), complete(s.len(), 200, true));
        let s = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(read(s, true), complete(s.len(), 200, true));
        assert_eq!(
            read(b"HTTP/1.1 204 No\r\n\r\nextra", false),
            complete(19, 204, true)
        );
        let s = b"HTTP/1.1 200 OK\r\n\r\nuntil close";
        assert_eq!(
            read(s, false),
            Ok(ReadProgress::NeedMore { consumed: s.len() })
        );
        let mut r = ResponseReader::new(false, ResponseLimits::default());
        assert!(r.end_of_stream().is_none());
        assert!(r.feed(s).is_ok());
        assert_eq!(
            r.end_of_stream(),
            Some(FinalResponse {
                status: 200,
                reusable: false
            })
        );
    }

    #[test]
    fn truncated_and_oversized() {
        let s = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(
            read(s, false),
            Ok(ReadProgress::NeedMore { consumed: s.len() })
        );
        assert_eq!(read(b"", false), Ok(ReadProgress::NeedMore { consumed: 0 }));
        assert_eq!(
            read(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                false
            ),
            Err(ResponseError::Chunked {
                source: ChunkedError::BadSize { offset: 0 }
            })
        );
        let big = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 2048]].concat();
        assert_eq!(
            read(&big, false),
            Err(ResponseError::HeadTooLarge { max: 1024 })
        );
        let big = [&big[..], b"\r\n\r\n"].concat();
        assert_eq!(
            read(&big, false),
            Err(ResponseError::HeadTooLarge { max: 1024 })
        );
    }

    #[test]
    fn pieces_equal_whole() {
        let s = b"HTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\n\r\nNEXT";
        let whole = read(s, false);
        for cut in 0..s.len() {
            let mut r = ResponseReader::new(false, ResponseLimits::default());
            let mut buf = s[..cut].to_vec();
            let mut total = 0;
            let mut fed = cut;
            let got = loop {
                match r.feed(&buf) {
                    Ok(ReadProgress::NeedMore { consumed }) => {
                        total += consumed;
                        buf.drain(..consumed);
                        buf.extend_from_slice(&s[fed..]);
                        fed = s.len();
                    }
                    Ok(ReadProgress::Complete { consumed, response }) => {
                        break Ok(ReadProgress::Complete {
                            consumed: total + consumed,
                            response,
                        })
                    }
                    Err(e) => break Err(e),
                }
            };
            assert_eq!(got, whole, "cut at {cut}");
        }
    }
}
