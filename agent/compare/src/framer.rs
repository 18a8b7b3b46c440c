//! One primary response framed from the pod→client byte stream: interim responses skipped,
//! the final head's status and compared header fields kept, the body measured and (in the
//! body mode) hashed as it streams by, its end found — by shadowtap-wire's rules
//! (status line, framing fields, bodiless responses, the chunked decoder).

use std::time::Duration;

use shadowtap_wire::http1::{
    parse_response_head, ChunkedDecoder, Progress, ResponseBody, ResponseError, ResponseLimits,
    Status,
};

use crate::digest::{BodyDigest, BodyHasher};
use crate::spec::CompareSpec;
use crate::summary::ResponseSummary;

/// Why a response cannot be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes break the HTTP/1 response grammar or its limits.
    #[error("{source}")]
    Response {
        /// What shadowtap-wire found.
        #[from]
        source: ResponseError,
    },
    /// Bytes the kernel did not copy fell where the framing lies (a head or a chunked body).
    #[error("bytes not copied where the framing lies")]
    ElidedFraming,
}

/// A response read to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framed {
    /// The final status.
    pub status: u16,
    /// The summary, when the request was mirrored.
    pub summary: Option<ResponseSummary>,
    /// Whether the connection carries another response after this one.
    pub reusable: bool,
    /// Whether HTTP/1 ends on the connection (`101`, or a 2xx to `CONNECT`).
    pub ends_http1: bool,
}

/// What [`ResponseFramer::feed`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameProgress {
    /// The response continues; `consumed` bytes are read (the rest, an incomplete head,
    /// must be fed again with more bytes after it).
    NeedMore {
        /// Bytes read.
        consumed: usize,
    },
    /// The response ended after `consumed` bytes.
    Complete {
        /// Bytes read.
        consumed: usize,
        /// The response.
        response: Framed,
    },
}

#[derive(Clone, Debug)]
enum BodyState {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Clone, Debug)]
struct Body {
    state: BodyState,
    status: u16,
    summary: Option<ResponseSummary>,
    hasher: Option<Box<BodyHasher>>,
    len: u64,
    reusable: bool,
    /// What `summary` holds, measured once: it does not change while the body is read.
    summary_bytes: usize,
}

impl Body {
    fn data(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
    }

    fn finish(self) -> Framed {
        let (len, hasher) = (self.len, self.hasher);
        let summary = self.summary.map(|mut s| {
            s.body = match hasher {
                Some(h) => h.finish(),
                None => BodyDigest::unhashed(len),
            };
            s
        });
        Framed {
            status: self.status,
            summary,
            reusable: self.reusable,
            ends_http1: false,
        }
    }
}

#[derive(Clone, Debug)]
enum State {
    Head,
    Body(Box<Body>),
    Done,
}

/// Frames one response. Feed it the unread bytes of the connection (all it was not told
/// were consumed, then the new ones); the answers do not depend on how they are cut.
#[derive(Clone, Debug)]
pub struct ResponseFramer {
    is_head: bool,
    is_connect: bool,
    spec: Option<std::sync::Arc<CompareSpec>>,
    request_end_ns: u64,
    head_first_ns: Option<u64>,
    /// Whether any byte of the response (an interim head included) was read.
    started: bool,
    limits: ResponseLimits,
    state: State,
}

impl ResponseFramer {
    /// A framer at the start of the response to a request: its method (`HEAD`: no body;
    /// `CONNECT`: a 2xx starts a tunnel), the comparing route's settings when the request
    /// was mirrored (the response is then summarised, else only read to its end), and the
    /// capture time of its last byte.
    pub fn new(
        is_head: bool,
        is_connect: bool,
        spec: Option<std::sync::Arc<CompareSpec>>,
        request_end_ns: u64,
        limits: ResponseLimits,
    ) -> ResponseFramer {
        ResponseFramer {
            is_head,
            is_connect,
            spec,
            request_end_ns,
            head_first_ns: None,
            started: false,
            limits,
            state: State::Head,
        }
    }

    /// Whether the final head has been read (the response's body is being read).
    pub fn in_body(&self) -> bool {
        matches!(self.state, State::Body(_))
    }

    /// Bytes held: the framer, and while a body is read its state, hasher and summary.
    /// O(1): the summary's size is measured once, when the head is read.
    pub fn held_bytes(&self) -> usize {
        let body = match &self.state {
            State::Body(b) => {
                std::mem::size_of::<Body>()
                    + b.hasher
                        .as_ref()
                        .map_or(0, |h| std::mem::size_of::<BodyHasher>() + h.heap_bytes())
                    + b.summary_bytes
            }
            _ => 0,
        };
        std::mem::size_of::<Self>() + body
    }

    /// Whether any byte of the response was read (an interim response included).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Reads what it can of `buf`, the first of whose bytes arrived at `at_ns` or earlier.
    pub fn feed(&mut self, buf: &[u8], at_ns: u64) -> Result<FrameProgress, FrameError> {
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            match &mut self.state {
                State::Done => return Ok(FrameProgress::NeedMore { consumed: at }),
                State::Head => {
                    if rest.is_empty() {
                        return Ok(FrameProgress::NeedMore { consumed: at });
                    }
                    self.head_first_ns.get_or_insert(at_ns);
                    let max = self.limits.max_head_bytes;
                    let parsed = parse_response_head(rest, self.is_head, self.limits.max_headers)
                        .map_err(ResponseError::from)?;
                    let head = match parsed {
                        Status::Complete(head) if head.len <= max => head,
                        Status::Partial if rest.len() < max => {
                            return Ok(FrameProgress::NeedMore { consumed: at })
                        }
                        _ => return Err(ResponseError::HeadTooLarge { max }.into()),
                    };
                    let head_bytes = &rest[..head.len];
                    at += head.len;
                    self.started = true;
                    if head.is_interim() {
                        self.head_first_ns = None;
                        continue;
                    }
                    let summary = self.spec.as_deref().map(|spec| {
                        let mut s = ResponseSummary::new(head.status);
                        s.latency = Duration::from_nanos(
                            self.head_first_ns
                                .unwrap_or(at_ns)
                                .saturating_sub(self.request_end_ns),
                        );
                        if spec.mode().headers() {
                            collect_headers(head_bytes, self.limits.max_headers, spec, &mut s);
                        }
                        s
                    });
                    let tunnel = self.is_connect && (200..300).contains(&head.status);
                    if head.status == 101 || tunnel {
                        self.state = State::Done;
                        let mut summary = summary;
                        if let Some(s) = &mut summary {
                            s.body = if hashes_body(self.spec.as_deref()) {
                                BodyDigest::of(b"")
                            } else {
                                BodyDigest::unhashed(0)
                            };
                        }
                        return Ok(FrameProgress::Complete {
                            consumed: at,
                            response: Framed {
                                status: head.status,
                                summary,
                                reusable: false,
                                ends_http1: true,
                            },
                        });
                    }
                    let hasher = (summary.is_some() && hashes_body(self.spec.as_deref()))
                        .then(|| Box::new(BodyHasher::new()));
                    let state = match head.body {
                        ResponseBody::None => BodyState::Length(0),
                        ResponseBody::Length(n) => BodyState::Length(n),
                        // Chunk data is located only when it is measured and hashed.
                        ResponseBody::Chunked if summary.is_some() => BodyState::Chunked(
                            ChunkedDecoder::with_limits(self.limits.chunked).recording(),
                        ),
                        ResponseBody::Chunked => {
                            BodyState::Chunked(ChunkedDecoder::with_limits(self.limits.chunked))
                        }
                        ResponseBody::UntilClose => BodyState::UntilClose,
                    };
                    let summary_bytes = summary.as_ref().map_or(0, ResponseSummary::held_bytes);
                    self.state = State::Body(Box::new(Body {
                        state,
                        status: head.status,
                        summary,
                        hasher,
                        len: 0,
                        reusable: head.persistent,
                        summary_bytes,
                    }));
                }
                State::Body(body) => match &mut body.state {
                    BodyState::Length(left) => {
                        let take = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                        *left -= take as u64;
                        at += take;
                        body.data(&rest[..take]);
                        if body.state_done() {
                            return Ok(self.complete(at));
                        }
                        return Ok(FrameProgress::NeedMore { consumed: at });
                    }
                    BodyState::Chunked(decoder) => {
                        let before = decoder.position();
                        let progress = decoder.feed(rest).map_err(ResponseError::from)?;
                        let chunks = decoder.take_chunks();
                        for r in chunks {
                            // Ranges count from the body's start; `rest` starts at `before`.
                            let local = |x: usize| {
                                usize::try_from((x as u64).saturating_sub(before))
                                    .unwrap_or(usize::MAX)
                                    .min(rest.len())
                            };
                            let (s, e) = (local(r.start), local(r.end));
                            body.data(&rest[s..e.max(s)]);
                        }
                        match progress {
                            Progress::NeedMore => {
                                return Ok(FrameProgress::NeedMore {
                                    consumed: buf.len(),
                                })
                            }
                            Progress::Done(end) => {
                                at += usize::try_from(end - before).unwrap_or(usize::MAX);
                                return Ok(self.complete(at));
                            }
                        }
                    }
                    BodyState::UntilClose => {
                        body.data(rest);
                        return Ok(FrameProgress::NeedMore {
                            consumed: buf.len(),
                        });
                    }
                },
            }
        }
    }

    /// `n` bytes of the stream were not copied by the kernel (their length is known).
    /// Returns how many of them the response took and whether it completed; bytes past its
    /// end belong to the next response, whose head is then lost.
    pub fn skip(&mut self, n: u64) -> Result<(u64, Option<Framed>), FrameError> {
        let State::Body(body) = &mut self.state else {
            return Err(FrameError::ElidedFraming);
        };
        body.hasher = None;
        match &mut body.state {
            BodyState::Length(left) => {
                let take = n.min(*left);
                *left -= take;
                body.len += take;
                if *left == 0 {
                    return Ok((take, self.take_done()));
                }
                Ok((take, None))
            }
            BodyState::UntilClose => {
                body.len += n;
                Ok((n, None))
            }
            BodyState::Chunked(_) => Err(FrameError::ElidedFraming),
        }
    }

    /// The connection ended (FIN when `graceful`, else RST or eviction): the response if
    /// it was delimited by the close and the close was graceful, else `None` (truncated).
    pub fn end_of_stream(&mut self, graceful: bool) -> Option<Framed> {
        match &self.state {
            State::Body(body) if graceful && matches!(body.state, BodyState::UntilClose) => {
                self.take_done()
            }
            _ => None,
        }
    }

    fn complete(&mut self, consumed: usize) -> FrameProgress {
        match self.take_done() {
            Some(response) => FrameProgress::Complete { consumed, response },
            None => FrameProgress::NeedMore { consumed },
        }
    }

    /// The response being read, finished (`None` before its final head).
    fn take_done(&mut self) -> Option<Framed> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Body(body) => Some(body.finish()),
            other => {
                self.state = other;
                None
            }
        }
    }
}

impl Body {
    fn state_done(&self) -> bool {
        matches!(self.state, BodyState::Length(0))
    }
}

fn hashes_body(spec: Option<&CompareSpec>) -> bool {
    spec.is_some_and(|s| s.mode().body())
}

/// Keeps the compared header fields of a head that shadowtap-wire has already accepted.
fn collect_headers(
    head: &[u8],
    max_headers: usize,
    spec: &CompareSpec,
    summary: &mut ResponseSummary,
) {
    let mut fields = vec![httparse::EMPTY_HEADER; head_field_count(head).min(max_headers)];
    let mut resp = httparse::Response::new(&mut fields);
    if let Ok(httparse::Status::Complete(_)) = resp.parse(head) {
        for h in resp.headers.iter() {
            summary.observe_header(spec, h.name.as_bytes(), h.value);
        }
    }
}

/// An upper bound on the field lines of a complete head (its CRLFs).
fn head_field_count(head: &[u8]) -> usize {
    head.iter().filter(|&&c| c == b'\n').count()
}
