//! Pairing on one HTTP/1 connection: the requests in the order the client sent them, the
//! primary's responses in the order the pod sent them (RFC 9112 §9.3: in request order,
//! pipelining included) → each mirrored request's response summary, or why it was not seen.
//!
//! Every request the decoder emitted is pushed, mirrored or not, so that order alone pairs
//! them; a response to a request that was not mirrored is read to its end and dropped. A
//! connection whose order can no longer be trusted stops pairing — a gap in the responses,
//! a grammar error, a response that ends the connection or HTTP/1, bytes the kernel did not
//! copy where the framing lies, a lost request stream — and every mirrored request it still
//! holds, or gets later, ends [`PrimaryResult::Unseen`]: a response is never given to the
//! wrong request.
//!
//! HTTP/2 pairs by stream id instead of order; [`PrimaryEvent`] and the [`PairId`] a request
//! carries are what an h2 pairing will produce and take too.

use std::collections::VecDeque;
use std::sync::Arc;

use shadowtap_wire::http1::{Method, ResponseLimits};

use crate::counters::{Counter, Counters};
use crate::framer::{FrameError, FrameProgress, Framed, ResponseFramer};
use crate::pending::PairId;
use crate::spec::CompareSpec;
use crate::summary::ResponseSummary;

/// One request of the connection, as the decoder emitted it.
#[derive(Clone, Debug)]
pub struct RequestSeen {
    /// Its method.
    pub method: Method,
    /// When it was mirrored: its pair and its route's comparison settings.
    pub mirrored: Option<(PairId, Arc<CompareSpec>)>,
    /// Capture time (ns) of its last byte.
    pub end_ns: u64,
}

/// Why a mirrored request's primary response was not seen whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnseenReason {
    /// A gap in the response stream.
    Gap,
    /// The response stream broke the HTTP/1 grammar.
    BadFraming,
    /// The connection ended in the middle of the response.
    Truncated,
    /// The connection ended before the response started.
    NoResponse,
    /// An earlier response ended the connection or HTTP/1 on it.
    ConnectionOver,
    /// The request stream lost sync.
    RequestsLost,
    /// Bytes the kernel did not copy fell on the framing.
    Elided,
    /// Too many requests awaited a response.
    QueueFull,
    /// Response bytes came for no known request.
    OrphanBytes,
    /// HTTP/2: the primary reset the stream, or refused it with GOAWAY.
    Reset,
    /// The connection's pairing was stopped to keep all pairings within their node-wide
    /// byte budget.
    OverBudget,
}

impl UnseenReason {
    /// The counter of this reason.
    pub const fn counter(self) -> Counter {
        match self {
            UnseenReason::Gap => Counter::UnseenGap,
            UnseenReason::BadFraming => Counter::UnseenBadFraming,
            UnseenReason::Truncated => Counter::UnseenTruncated,
            UnseenReason::NoResponse => Counter::UnseenNoResponse,
            UnseenReason::ConnectionOver => Counter::UnseenConnectionOver,
            UnseenReason::RequestsLost => Counter::UnseenRequestsLost,
            UnseenReason::Elided => Counter::UnseenElided,
            UnseenReason::QueueFull => Counter::UnseenQueueFull,
            UnseenReason::OrphanBytes => Counter::UnseenOrphanBytes,
            UnseenReason::Reset => Counter::UnseenReset,
            UnseenReason::OverBudget => Counter::UnseenOverBudget,
        }
    }
}

/// The primary side of one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrimaryResult {
    /// The response, summarised.
    Response(ResponseSummary),
    /// Not seen whole.
    Unseen(UnseenReason),
}

/// A mirrored request's primary side, ready for [`crate::Comparator::primary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimaryEvent {
    /// The pair.
    pub pair: PairId,
    /// What the primary answered.
    pub result: PrimaryResult,
}

/// Bounds of one connection's pairing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairingLimits {
    /// Response heads, header fields and chunked framing (shadowtap-wire's limits).
    pub response: ResponseLimits,
    /// Most requests awaiting their response (pipelined, or answered late).
    pub max_queued: usize,
}

impl Default for PairingLimits {
    fn default() -> Self {
        PairingLimits {
            response: ResponseLimits::default(),
            max_queued: 256,
        }
    }
}

#[derive(Clone, Debug)]
struct Queued {
    is_head: bool,
    is_connect: bool,
    mirrored: Option<(PairId, Arc<CompareSpec>)>,
    end_ns: u64,
}

/// Pairs the requests and primary responses of one HTTP/1 connection seen from its start.
/// Every method appends the pairs it finishes to `out`, in request order, and counts into
/// `counters`; nothing panics, whatever the bytes.
#[derive(Debug)]
pub struct Http1Pairing {
    limits: PairingLimits,
    queue: VecDeque<Queued>,
    framer: Option<ResponseFramer>,
    /// Bytes fed but not consumed: an incomplete head (or bytes before any request).
    unread: Vec<u8>,
    /// Capture time of the first unread byte.
    unread_ns: u64,
    requests_lost: bool,
    stopped: Option<UnseenReason>,
}

impl Http1Pairing {
    /// A connection seen from its first byte in both directions.
    pub fn new(limits: PairingLimits) -> Http1Pairing {
        Http1Pairing {
            limits,
            queue: VecDeque::new(),
            framer: None,
            unread: Vec::new(),
            unread_ns: 0,
            requests_lost: false,
            stopped: None,
        }
    }

    /// Why the connection stopped pairing, if it did.
    pub fn stopped(&self) -> Option<UnseenReason> {
        self.stopped
    }

    /// Requests awaiting their response.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Bytes held (queued requests, unread head bytes, the response being read). O(1):
    /// capacities, and the response's size measured when its head was read.
    pub fn held_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.queue.capacity() * std::mem::size_of::<Queued>()
            + self.unread.capacity()
            + self.framer.as_ref().map_or(0, ResponseFramer::held_bytes)
    }

    /// Stops pairing to release what the connection holds (the node's pairings are over
    /// their budget): every queued mirrored request, and every later one, is unseen
    /// (`unseen_over_budget`). Nothing if it had stopped already.
    pub fn stop_over_budget(&mut self, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.stopped.is_none() {
            self.stop(UnseenReason::OverBudget, out, counters);
        }
    }

    /// The next request of the connection (every one the decoder emitted, in order).
    pub fn push_request(
        &mut self,
        req: RequestSeen,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        let queued = Queued {
            is_head: req.method == Method::Head,
            is_connect: req.method == Method::Connect,
            mirrored: req.mirrored,
            end_ns: req.end_ns,
        };
        if let Some(reason) = self.stopped {
            unseen(&queued, reason, out, counters);
            return;
        }
        if self.requests_lost {
            unseen(&queued, UnseenReason::RequestsLost, out, counters);
            return;
        }
        self.queue.push_back(queued);
        if self.queue.len() > self.limits.max_queued {
            self.stop(UnseenReason::QueueFull, out, counters);
            return;
        }
        if self.queue.len() == 1 && !self.unread.is_empty() {
            let ns = self.unread_ns;
            self.drive(&[], ns, out, counters);
        }
    }

    /// The next bytes of the response stream, captured at `at_ns`.
    pub fn push_bytes(
        &mut self,
        data: &[u8],
        at_ns: u64,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        if self.stopped.is_some() {
            counters.add(Counter::BytesIgnored, data.len() as u64);
            return;
        }
        self.drive(data, at_ns, out, counters);
    }

    /// `len` bytes of the response stream are lost: the response being read and every later
    /// one are unseen.
    pub fn push_gap(&mut self, _len: u64, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.stopped.is_none() {
            self.stop(UnseenReason::Gap, out, counters);
        }
    }

    /// `len` bytes of the response stream were not copied by the kernel (the status and
    /// headers modes copy heads only): fine inside a Content-Length or close-delimited
    /// body, fatal to the pairing where a head or chunked framing lies.
    pub fn push_elided(&mut self, len: u64, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.stopped.is_some() || len == 0 {
            return;
        }
        let skipped = match (&mut self.framer, self.unread.is_empty()) {
            (Some(framer), true) if framer.in_body() => framer.skip(len),
            _ => Err(FrameError::ElidedFraming),
        };
        match skipped {
            Ok((taken, done)) => {
                if let Some(response) = done {
                    self.framer = None;
                    self.finish_front(response, out, counters);
                }
                if taken < len && self.stopped.is_none() {
                    self.stop(UnseenReason::Elided, out, counters);
                }
            }
            Err(_) => self.stop(UnseenReason::Elided, out, counters),
        }
    }

    /// The request stream lost sync (a gap, a request the decoder dropped): the requests
    /// already pushed keep their responses, later ones cannot be matched by order.
    pub fn requests_lost(&mut self, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        self.requests_lost = true;
        if self.queue.is_empty() && self.stopped.is_none() {
            self.stop(UnseenReason::RequestsLost, out, counters);
        }
    }

    /// The connection ended: by FIN when `graceful` (a close-delimited body ends there),
    /// else by RST or eviction.
    pub fn end(&mut self, graceful: bool, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.stopped.is_some() {
            return;
        }
        if let Some(framer) = &mut self.framer {
            let started = framer.started() || !self.unread.is_empty();
            match framer.end_of_stream(graceful) {
                Some(response) => {
                    self.framer = None;
                    self.finish_front(response, out, counters);
                }
                None if started => {
                    self.framer = None;
                    if let Some(front) = self.queue.pop_front() {
                        unseen(&front, UnseenReason::Truncated, out, counters);
                    }
                }
                None => {}
            }
        } else if !self.unread.is_empty() {
            if let Some(front) = self.queue.pop_front() {
                unseen(&front, UnseenReason::Truncated, out, counters);
            }
        }
        if self.stopped.is_none() {
            self.stop(UnseenReason::NoResponse, out, counters);
        }
    }

    fn drive(
        &mut self,
        data: &[u8],
        at_ns: u64,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        if self.unread.is_empty() {
            let used = self.process(data, at_ns, out, counters);
            if self.stopped.is_none() && used < data.len() {
                self.unread_ns = at_ns;
                self.keep_unread(&data[used..], out, counters);
            }
        } else {
            let mut buf = std::mem::take(&mut self.unread);
            buf.extend_from_slice(data);
            let ns = self.unread_ns;
            let used = self.process(&buf, ns, out, counters);
            if self.stopped.is_none() && used < buf.len() {
                if used > 0 {
                    self.unread_ns = at_ns;
                }
                buf.drain(..used);
                self.unread = Vec::new();
                self.keep_unread(&buf, out, counters);
            }
        }
    }

    /// Keeps bytes not consumed yet: an incomplete head, or bytes no request is known for
    /// (a response may be captured before the request's end is decoded) up to a head's
    /// worth.
    fn keep_unread(&mut self, rest: &[u8], out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.queue.is_empty() && rest.len() > self.limits.response.max_head_bytes {
            self.stop(UnseenReason::OrphanBytes, out, counters);
            return;
        }
        self.unread.extend_from_slice(rest);
    }

    /// Frames responses from `buf` for the queued requests; returns the bytes consumed.
    fn process(
        &mut self,
        buf: &[u8],
        at_ns: u64,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) -> usize {
        let mut at = 0;
        while self.stopped.is_none() {
            let Some(front) = self.queue.front() else {
                if self.requests_lost {
                    self.stop(UnseenReason::RequestsLost, out, counters);
                }
                break;
            };
            let limits = self.limits.response;
            let framer = self.framer.get_or_insert_with(|| {
                ResponseFramer::new(
                    front.is_head,
                    front.is_connect,
                    front.mirrored.as_ref().map(|(_, spec)| spec.clone()),
                    front.end_ns,
                    limits,
                )
            });
            match framer.feed(&buf[at..], at_ns) {
                Ok(FrameProgress::NeedMore { consumed }) => {
                    at += consumed;
                    break;
                }
                Ok(FrameProgress::Complete { consumed, response }) => {
                    at += consumed;
                    self.framer = None;
                    self.finish_front(response, out, counters);
                }
                Err(_) => {
                    self.framer = None;
                    self.stop(UnseenReason::BadFraming, out, counters);
                }
            }
        }
        if self.stopped.is_some() {
            counters.add(Counter::BytesIgnored, (buf.len() - at) as u64);
            return buf.len();
        }
        at
    }

    /// The front request's response was read to its end.
    fn finish_front(
        &mut self,
        response: Framed,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        let Some(front) = self.queue.pop_front() else {
            return;
        };
        counters.inc(Counter::ResponsesFramed);
        match (front.mirrored, response.summary) {
            (Some((pair, _)), Some(summary)) => {
                counters.inc(Counter::ResponsesSummarised);
                out.push(PrimaryEvent {
                    pair,
                    result: PrimaryResult::Response(summary),
                });
            }
            _ => counters.inc(Counter::ResponsesUnmirrored),
        }
        if response.ends_http1 || !response.reusable {
            self.stop(UnseenReason::ConnectionOver, out, counters);
        }
    }

    /// Stops pairing: every queued mirrored request, and every later one, is unseen.
    fn stop(&mut self, reason: UnseenReason, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        self.stopped = Some(reason);
        counters.inc(Counter::ConnectionsStopped);
        for q in self.queue.drain(..) {
            unseen(&q, reason, out, counters);
        }
        self.framer = None;
        counters.add(Counter::BytesIgnored, self.unread.len() as u64);
        self.unread = Vec::new();
        self.queue = VecDeque::new();
    }
}

fn unseen(q: &Queued, reason: UnseenReason, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
    if let Some((pair, _)) = &q.mirrored {
        counters.inc(reason.counter());
        out.push(PrimaryEvent {
            pair: *pair,
            result: PrimaryResult::Unseen(reason),
        });
    }
}
