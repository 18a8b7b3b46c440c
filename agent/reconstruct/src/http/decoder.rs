//! The per-flow HTTP/1.x stream decoder: turns the in-order bytes of one flow's client
//! direction into requests, with pipelining, keep-alive, limits, skips and resync.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::config::Limits;
use crate::counters::{Counter, Counters};
use shadowtap_wire::http1::scan::head_end;
use shadowtap_wire::http1::{ChunkedDecoder, Progress, RequestHead};

use crate::http::buf::StreamBuf;
use crate::http::request::{Body, Request};
use crate::resync;
use crate::segment::FlowKey;
use shadowtap_h2::Start;

mod budget;
mod start;

/// What the decoder needs from its caller for one call.
pub(crate) struct DecodeCtx<'a> {
    pub(crate) limits: &'a Limits,
    pub(crate) counters: &'a mut Counters,
    pub(crate) out: &'a mut Vec<Request>,
    pub(crate) flow: FlowKey,
    /// Most bytes this decoder may hold once the call returns (global in-flight budget).
    pub(crate) budget: usize,
    /// Set when a request is dropped (the caller reports the loss).
    pub(crate) dropped: &'a mut bool,
}

#[derive(Debug)]
enum Mode {
    /// At a request boundary, or inside an incomplete head.
    Head,
    /// Inside a Content-Length body; the request is `total` bytes long.
    Body { head: RequestHead, total: usize },
    /// Inside a chunked body.
    Chunked {
        head: RequestHead,
        parser: ChunkedDecoder,
    },
    /// Discarding the rest of a dropped request's Content-Length body.
    Skip { remaining: u64 },
    /// Discarding the rest of a dropped request's chunked body.
    SkipChunked { parser: ChunkedDecoder },
    /// Looking for a resync point.
    Resync,
    /// Not HTTP/1 any more (Upgrade, CONNECT, HTTP/2): bytes are ignored.
    Closed,
    /// HTTP/2 from here on (the client preface at the flow's start, or the bytes after an
    /// `Upgrade: h2c` request): the flow hands the rest of its bytes to an HTTP/2 decoder
    /// ([`Decoder::take_handoff`]).
    Handoff(Start),
}

/// The bytes of a flow that continue as HTTP/2, and how they begin.
#[derive(Debug)]
pub(crate) struct Handoff {
    /// How the HTTP/2 bytes begin.
    pub(crate) start: Start,
    /// The bytes received after the switch, in order (none may have been yet).
    pub(crate) bytes: Vec<Bytes>,
    /// The `Upgrade: h2c` request, held until the next bytes tell whether the server
    /// served it as HTTP/1.1 (declined) or as HTTP/2 stream 1 (accepted).
    pub(crate) upgrade: Option<Request>,
}

/// Decoder of one flow.
#[derive(Debug)]
pub(crate) struct Decoder {
    mode: Mode,
    buf: StreamBuf,
    boundaries: VecDeque<usize>,
    in_request: bool,
    first_ts: u64,
    /// The current request ends the connection: nothing after it is decoded.
    last: bool,
    /// No byte of the flow was consumed yet and its start was seen: the HTTP/2 client
    /// preface here means prior-knowledge HTTP/2.
    at_start: bool,
    /// The current request asks for an h2c upgrade: once it is complete, the next bytes are
    /// the HTTP/2 preface (upgrade accepted) or HTTP/1.1 again (declined).
    h2c_pending: bool,
    /// Bytes taken over by HTTP/2, waiting for [`Decoder::take_handoff`].
    handoff: Option<Handoff>,
    /// The complete `Upgrade: h2c` request, for the handoff.
    held_upgrade: Option<Request>,
}

impl Decoder {
    /// A decoder at the start of a connection (`midstream == false`) or one that must first
    /// resynchronise.
    pub(crate) fn new(midstream: bool) -> Self {
        Self {
            mode: if midstream { Mode::Resync } else { Mode::Head },
            buf: StreamBuf::default(),
            boundaries: VecDeque::new(),
            in_request: false,
            first_ts: 0,
            last: false,
            at_start: !midstream,
            h2c_pending: false,
            handoff: None,
            held_upgrade: None,
        }
    }

    /// A decoder resuming HTTP/1.1 after a declined h2c upgrade (at a request boundary).
    pub(crate) fn after_declined_upgrade() -> Self {
        Self::new(false).not_at_start()
    }

    fn not_at_start(mut self) -> Self {
        self.at_start = false;
        self
    }

    /// When the flow has switched to HTTP/2: how it begins and the bytes already received
    /// after the switch. The decoder is then closed (it decodes nothing more).
    pub(crate) fn take_handoff(&mut self) -> Option<Handoff> {
        let h = self.handoff.take()?;
        self.mode = Mode::Closed;
        Some(h)
    }

    /// Memory held: the allocations the buffered bytes keep alive.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.held()
    }

    /// Whether a started request is neither emitted nor dropped yet.
    pub(crate) fn in_progress(&self) -> bool {
        self.in_request
    }

    /// Whether the flow is no longer decoded.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.mode, Mode::Closed)
    }

    /// The flow carries something this decoder cannot follow (HTTP/2 frames of a
    /// connection that started before capture): decode nothing more.
    pub(crate) fn close_not_decoded(&mut self) {
        self.buf.clear();
        self.boundaries.clear();
        self.mode = Mode::Closed;
    }

    /// Move the buffered bytes and `rest` to the handoff: HTTP/2 decodes them.
    fn hand_off(&mut self, start: Start, rest: Bytes) {
        let upgrade = self.held_upgrade.take();
        let h = self.handoff.get_or_insert_with(|| Handoff {
            start,
            bytes: Vec::new(),
            upgrade,
        });
        if !self.buf.is_empty() {
            let n = self.buf.len();
            h.bytes.push(self.buf.take(n).0);
        }
        if !rest.is_empty() {
            h.bytes.push(rest);
        }
        self.buf.clear();
        self.boundaries.clear();
    }

    /// The next in-order bytes of the stream, a slice of a buffer of `alloc` bytes.
    /// `boundary` is true when `data` begins a captured segment (a possible resync point).
    /// Between calls the decoder keeps no allocation for bytes it has consumed
    /// ([`StreamBuf::compact`]).
    pub(crate) fn data(
        &mut self,
        data: Bytes,
        boundary: bool,
        ts: u64,
        alloc: usize,
        ctx: &mut DecodeCtx<'_>,
    ) {
        self.data_inner(data, boundary, ts, alloc, ctx);
        self.buf.compact();
    }

    fn data_inner(
        &mut self,
        data: Bytes,
        boundary: bool,
        ts: u64,
        alloc: usize,
        ctx: &mut DecodeCtx<'_>,
    ) {
        if data.is_empty() {
            return;
        }
        if let Mode::Closed = self.mode {
            ctx.counters.add(Counter::BytesSkipped, data.len() as u64);
            return;
        }
        if let Mode::Handoff(start) = self.mode {
            self.hand_off(start, data);
            return;
        }
        if let Mode::Resync = self.mode {
            if boundary {
                self.boundaries.push_back(self.buf.len());
            }
        }
        let mut data = data;
        while !data.is_empty() {
            // Move into the buffer only the bytes the request in progress needs, so the
            // rest of the segment is decoded in place (no copy).
            let (mut known_partial, mut head_ends) = (false, false);
            let take = if self.buf.is_empty() {
                data.len()
            } else {
                match &self.mode {
                    Mode::Body { total, .. } => total.saturating_sub(self.buf.len()).max(1),
                    Mode::Head if self.in_request => {
                        let b = self.buf.as_slice();
                        match head_end(&b[b.len().saturating_sub(3)..], &data) {
                            Some(n) => {
                                head_ends = true;
                                n
                            }
                            None => {
                                known_partial = true;
                                data.len()
                            }
                        }
                    }
                    _ => data.len(),
                }
            };
            let part = data.split_to(take.min(data.len()));
            let goal = match &self.mode {
                Mode::Body { total, .. } => Some(*total),
                _ => None,
            };
            self.buf.append_toward(part, alloc, goal);
            if head_ends {
                // The buffer now ends with the head's empty line: no need to look for it.
                self.buf.ends_with_crlfcrlf();
            }
            // An incomplete head that still has no end needs no new parse below the limit.
            if !(known_partial && self.buf.len() <= ctx.limits.max_header_bytes) {
                self.process(ts, ctx);
            }
            if let Mode::Handoff(start) = self.mode {
                self.hand_off(start, data);
                return;
            }
            self.buf.compact();
            self.enforce_budget(ctx);
            if let Mode::Closed = self.mode {
                ctx.counters.add(Counter::BytesSkipped, data.len() as u64);
                return;
            }
        }
    }

    /// Bytes are missing before the next data: drop the request in progress and resync.
    pub(crate) fn gap(&mut self, ctx: &mut DecodeCtx<'_>) {
        if let Mode::Closed | Mode::Handoff(_) = self.mode {
            return;
        }
        self.at_start = false;
        self.h2c_pending = false;
        if self.in_request {
            self.drop_request(Counter::DroppedGap, ctx);
        }
        if self.last {
            // The request the gap cut ended the connection: nothing after it is a request.
            self.closed_by_request(ctx);
            return;
        }
        if let Mode::Resync = self.mode {
            ctx.counters
                .add(Counter::ResyncSkippedBytes, self.buf.len() as u64);
            self.buf.clear();
            self.boundaries.clear();
        } else {
            self.enter_resync(ctx);
        }
    }

    /// The stream ended: a request in progress is incomplete.
    pub(crate) fn close(&mut self, ctx: &mut DecodeCtx<'_>) {
        if self.in_request {
            self.drop_request(Counter::DroppedIncomplete, ctx);
        }
        self.buf.clear();
        self.boundaries.clear();
    }

    fn drop_request(&mut self, reason: Counter, ctx: &mut DecodeCtx<'_>) {
        ctx.counters.inc(reason);
        *ctx.dropped = true;
        self.in_request = false;
    }

    fn enter_resync(&mut self, ctx: &mut DecodeCtx<'_>) {
        ctx.counters.inc(Counter::Resyncs);
        ctx.counters
            .add(Counter::ResyncSkippedBytes, self.buf.len() as u64);
        self.buf.clear();
        self.boundaries.clear();
        self.mode = Mode::Resync;
    }

    /// The request in progress is dropped for `reason` and the flow is no longer decoded
    /// (counted under `flows`).
    fn stop_as(&mut self, reason: Counter, flows: Counter, ctx: &mut DecodeCtx<'_>) {
        self.drop_request(reason, ctx);
        ctx.counters.inc(flows);
        ctx.counters
            .add(Counter::BytesSkipped, self.buf.len() as u64);
        self.buf.clear();
        self.mode = Mode::Closed;
    }

    /// The last request ended the connection: the server reads nothing after it.
    fn closed_by_request(&mut self, ctx: &mut DecodeCtx<'_>) {
        self.last = false;
        ctx.counters.inc(Counter::FlowsClosedByRequest);
        ctx.counters
            .add(Counter::BytesSkipped, self.buf.len() as u64);
        self.buf.clear();
        self.mode = Mode::Closed;
    }

    /// The flow is no longer HTTP/1 after this request (Upgrade, CONNECT, HTTP/2).
    fn stop(&mut self, reason: Counter, ctx: &mut DecodeCtx<'_>) {
        self.stop_as(reason, Counter::FlowsNotHttp1, ctx);
    }

    /// In sync, the request's head or framing is invalid: where the server thinks it ends
    /// is unknown, so the flow stops; while resynchronising, the search goes on.
    fn invalid(&mut self, reason: Counter, ctx: &mut DecodeCtx<'_>) {
        self.stop_as(reason, Counter::FlowsStoppedInvalid, ctx);
    }

    fn emit(
        &mut self,
        total: usize,
        head: RequestHead,
        body: Body,
        ts: u64,
        ctx: &mut DecodeCtx<'_>,
    ) {
        let (raw, pinned) = self.buf.take(total);
        let request = Request {
            flow: ctx.flow,
            raw,
            pinned,
            head,
            body,
            first_ts_ns: self.first_ts,
            last_ts_ns: ts,
        };
        self.in_request = false;
        if self.h2c_pending {
            // Counted when it is released, as HTTP/1.1 or as HTTP/2 (see `Handoff`).
            self.held_upgrade = Some(request);
            return;
        }
        ctx.out.push(request);
        ctx.counters.inc(Counter::RequestsEmitted);
    }

    fn process(&mut self, ts: u64, ctx: &mut DecodeCtx<'_>) {
        loop {
            match &self.mode {
                Mode::Head => {
                    if !self.head(ts, ctx) {
                        return;
                    }
                    continue;
                }
                // A Content-Length body: the usual wait is decided in place (the mode is not
                // moved out and back), and the complete request leaves the mode at `Head`.
                Mode::Body { total, .. } => {
                    let total = *total;
                    if self.buf.len() < total {
                        return;
                    }
                    if let Mode::Body { head, .. } = std::mem::replace(&mut self.mode, Mode::Head) {
                        let len = (total - head.head_len()) as u64;
                        self.emit(total, head, Body::Length(len), ts, ctx);
                    }
                    continue;
                }
                _ => {}
            }
            let mode = std::mem::replace(&mut self.mode, Mode::Head);
            let next = match mode {
                Mode::Head => Mode::Head,
                // Decided by the match above, never reached here: put back as it was.
                Mode::Body { head, total } => {
                    self.mode = Mode::Body { head, total };
                    continue;
                }
                Mode::Chunked { head, mut parser } => {
                    let start = head.head_len() + parser.position() as usize;
                    let fed = self.buf.as_slice().get(start..).unwrap_or(&[]);
                    match parser.feed(fed) {
                        Ok(Progress::Done(n)) if n > ctx.limits.max_body_bytes => {
                            self.drop_request(Counter::DroppedBodyTooLarge, ctx);
                            let total = head.head_len() + n as usize;
                            ctx.counters.add(Counter::BytesSkipped, total as u64);
                            self.buf.advance(total);
                            Mode::Head
                        }
                        Ok(Progress::Done(n)) => {
                            let h = head.head_len();
                            let chunks = parser
                                .take_chunks()
                                .into_iter()
                                .map(|r| r.start + h..r.end + h)
                                .collect();
                            self.emit(h + n as usize, head, Body::Chunked(chunks), ts, ctx);
                            Mode::Head
                        }
                        Ok(Progress::NeedMore) => {
                            let body = (self.buf.len() - head.head_len()) as u64;
                            if body > ctx.limits.max_body_bytes {
                                self.drop_request(Counter::DroppedBodyTooLarge, ctx);
                                ctx.counters
                                    .add(Counter::BytesSkipped, self.buf.len() as u64);
                                self.buf.clear();
                                parser.stop_recording();
                                self.mode = Mode::SkipChunked { parser };
                            } else {
                                self.mode = Mode::Chunked { head, parser };
                            }
                            return;
                        }
                        Err(_) => {
                            self.invalid(Counter::DroppedInvalidChunked, ctx);
                            return;
                        }
                    }
                }
                Mode::Skip { remaining } => {
                    let n = remaining.min(self.buf.len() as u64);
                    self.buf.advance(n as usize);
                    ctx.counters.add(Counter::BytesSkipped, n);
                    if remaining > n {
                        self.mode = Mode::Skip {
                            remaining: remaining - n,
                        };
                        return;
                    }
                    Mode::Head
                }
                Mode::SkipChunked { mut parser } => {
                    let before = parser.position();
                    match parser.feed(self.buf.as_slice()) {
                        Ok(Progress::Done(n)) => {
                            let used = (n - before) as usize;
                            self.buf.advance(used);
                            ctx.counters.add(Counter::BytesSkipped, used as u64);
                            Mode::Head
                        }
                        Ok(Progress::NeedMore) => {
                            ctx.counters
                                .add(Counter::BytesSkipped, self.buf.len() as u64);
                            self.buf.clear();
                            self.mode = Mode::SkipChunked { parser };
                            return;
                        }
                        Err(_) => {
                            // The request was already counted as dropped.
                            ctx.counters.inc(Counter::FlowsStoppedInvalid);
                            ctx.counters
                                .add(Counter::BytesSkipped, self.buf.len() as u64);
                            self.buf.clear();
                            self.mode = Mode::Closed;
                            return;
                        }
                    }
                }
                Mode::Resync => {
                    let found = resync::find(
                        &mut self.buf,
                        &mut self.boundaries,
                        ctx.limits,
                        ctx.counters,
                    );
                    self.mode = Mode::Resync;
                    if !found {
                        return;
                    }
                    Mode::Head
                }
                Mode::Closed => {
                    ctx.counters
                        .add(Counter::BytesSkipped, self.buf.len() as u64);
                    self.buf.clear();
                    self.mode = Mode::Closed;
                    return;
                }
                Mode::Handoff(start) => {
                    self.mode = Mode::Handoff(start);
                    return;
                }
            };
            self.mode = next;
        }
    }
}
