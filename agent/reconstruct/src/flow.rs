//! One live flow: its reassembler and its decoder, and the glue between them.

use std::collections::VecDeque;

use shadowtap_h2::Counters as H2Counters;

use crate::config::Config;
use crate::counters::{Counter, Counters};
use crate::http::decoder::{DecodeCtx, Decoder};
use crate::http::request::Request;
use crate::http2::{looks_like_h2_frames, Chunk, H2Flow, H2FlowRequest, H2Push};
use crate::reassembly::{PushStatus, ReasmCtx, Reassembler, StreamEvent};
use crate::segment::{FlowKey, Segment};

/// What a flow operation may use and where it reports.
pub(crate) struct FlowCtx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) counters: &'a mut Counters,
    pub(crate) out: &'a mut Vec<Request>,
    /// Where HTTP/2 requests go.
    pub(crate) h2_out: &'a mut Vec<H2FlowRequest>,
    /// The HTTP/2 counters of connections no longer decoded (ended, declined, stopped
    /// flows add theirs here).
    pub(crate) h2_ended: &'a mut H2Counters,
    pub(crate) events: &'a mut Vec<StreamEvent>,
    /// Out-of-order bytes this flow may hold (global reassembly budget left to it).
    pub(crate) reasm_available: usize,
    /// Request bytes this flow may hold (global in-flight budget left to it).
    pub(crate) inflight_available: usize,
    /// Set when the call dropped a request (gaps are read from their counter): the caller
    /// reports the loss to response pairing.
    pub(crate) dropped: bool,
}

/// A live flow.
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) key: FlowKey,
    /// Generation, to tell a flow from a later one on the same 4-tuple.
    pub(crate) id: u64,
    /// Capture time of the last segment.
    pub(crate) last_seen: u64,
    reasm: Reassembler,
    dec: Decoder,
    /// The HTTP/2 side, once the HTTP/1 decoder handed the stream over (boxed: HTTP/1
    /// flows, the many, pay one pointer for it).
    h2: Option<Box<H2Flow>>,
    /// The flow started before capture and its first bytes are still to be checked for
    /// HTTP/2 frames.
    probe_h2: bool,
}

impl Flow {
    /// A flow whose first captured segment is `seg`.
    pub(crate) fn new(id: u64, seg: &Segment, counters: &mut Counters) -> Self {
        let (reasm, midstream) = Reassembler::new(seg);
        counters.inc(Counter::FlowsCreated);
        if midstream {
            counters.inc(Counter::FlowsMidstream);
            counters.inc(Counter::Resyncs);
        }
        Self {
            key: seg.flow,
            id,
            last_seen: seg.ts_ns,
            reasm,
            dec: Decoder::new(midstream),
            h2: None,
            probe_h2: midstream,
        }
    }

    /// The HTTP/2 counters of this flow's live HTTP/2 decoder, if any.
    pub(crate) fn h2_counters(&self) -> Option<&H2Counters> {
        self.h2.as_ref().map(|h| h.dec.counters())
    }

    /// HTTP/2 requests in progress (for the HTTP/2 counters' conservation).
    pub(crate) fn h2_open_streams(&self) -> usize {
        self.h2.as_ref().map_or(0, |h| h.dec.open_streams())
    }

    fn h2_decoding(&self) -> bool {
        self.h2.as_ref().is_some_and(|h| h.dec.is_decoding())
    }

    /// Out-of-order bytes held.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.reasm.ooo_bytes()
    }

    /// Memory held by the decoder for requests in progress (charged to the in-flight budget).
    pub(crate) fn buffered(&self) -> usize {
        self.dec.buffered() + self.h2.as_ref().map_or(0, |h| h.held())
    }

    /// Whether a request is in progress.
    pub(crate) fn in_progress(&self) -> bool {
        self.dec.in_progress() || self.h2.as_ref().is_some_and(|h| h.holds_upgrade())
    }

    /// Whether `seg` is the SYN of another connection on the same 4-tuple.
    pub(crate) fn is_reuse(&self, seg: &Segment, max_window: u64) -> bool {
        self.reasm.is_reuse(seg, max_window)
    }

    /// Process one segment.
    pub(crate) fn push(&mut self, seg: Segment, ctx: &mut FlowCtx<'_>) -> PushStatus {
        self.last_seen = self.last_seen.max(seg.ts_ns);
        if self.dec.is_closed() && !self.h2_decoding() {
            ctx.counters.inc(Counter::SegmentsIgnored);
            ctx.counters
                .add(Counter::BytesSkipped, seg.payload.len() as u64);
            return if seg.rst() {
                PushStatus::Rst
            } else if seg.fin() {
                PushStatus::Fin
            } else {
                PushStatus::Open
            };
        }
        let status = self.reasm.push(seg, &mut Self::reasm_ctx(ctx));
        self.feed(ctx);
        status
    }

    /// Apply the gap timeout at capture time `now`.
    pub(crate) fn tick(&mut self, now: u64, ctx: &mut FlowCtx<'_>) {
        self.reasm.check_timeout(now, &mut Self::reasm_ctx(ctx));
        self.feed(ctx);
    }

    /// End the flow: deliver everything held (holes become gaps counted under `gap_reason`),
    /// then close the decoder.
    pub(crate) fn finish(&mut self, gap_reason: Counter, ctx: &mut FlowCtx<'_>) {
        self.reasm.flush(gap_reason, &mut Self::reasm_ctx(ctx));
        self.feed(ctx);
        let mut dctx = DecodeCtx {
            limits: &ctx.config.limits,
            counters: ctx.counters,
            out: ctx.out,
            flow: self.key,
            budget: ctx.inflight_available,
            dropped: &mut ctx.dropped,
        };
        self.dec.close(&mut dctx);
        if let Some(mut h2) = self.h2.take() {
            if let Some(r) = h2.take_undecided_upgrade() {
                // Nothing followed the upgrade request: the server served it, and no
                // preface says it did so as HTTP/2.
                ctx.out.push(r);
                ctx.counters.inc(Counter::RequestsEmitted);
            }
            h2.dec.finish();
            ctx.h2_ended.merge(h2.dec.counters());
        }
    }

    fn reasm_ctx<'c>(ctx: &'c mut FlowCtx<'_>) -> ReasmCtx<'c> {
        ReasmCtx {
            config: ctx.config,
            counters: ctx.counters,
            events: ctx.events,
            available: ctx.reasm_available,
        }
    }

    fn feed(&mut self, ctx: &mut FlowCtx<'_>) {
        let mut events = std::mem::take(ctx.events);
        for ev in events.drain(..) {
            // Bytes the capture did not copy are lost to a request decoder.
            let ev = match ev {
                StreamEvent::Uncopied { len } => StreamEvent::Gap { lost: Some(len) },
                other => other,
            };
            match ev {
                StreamEvent::Data {
                    bytes,
                    boundary,
                    ts,
                    alloc,
                } => {
                    if std::mem::take(&mut self.probe_h2)
                        && boundary
                        && looks_like_h2_frames(&bytes)
                    {
                        self.h2_midstream(bytes.len(), ctx);
                        continue;
                    }
                    self.data(
                        Chunk {
                            bytes,
                            boundary,
                            ts,
                            alloc,
                        },
                        ctx,
                    );
                }
                StreamEvent::Uncopied { .. } => {}
                StreamEvent::Gap { lost } => {
                    self.probe_h2 = false;
                    if let Some(h2) = &mut self.h2 {
                        // A rewind (unknown length) leaves the framing unknown: the most
                        // that can be lost stops the connection.
                        let mut out = Vec::new();
                        h2.dec.gap(lost.unwrap_or(u64::MAX), &mut out);
                        if h2.take_undecided_upgrade().is_some() {
                            // Lost before the bytes that tell how it was served.
                            ctx.counters.inc(Counter::DroppedGap);
                            ctx.dropped = true;
                        }
                        let ts = self.last_seen;
                        self.emit_h2(out, ts, ctx);
                    } else {
                        self.dec.gap(&mut Self::decode_ctx(self.key, ctx));
                    }
                }
            }
        }
        *ctx.events = events;
    }

    fn decode_ctx<'c>(flow: FlowKey, ctx: &'c mut FlowCtx<'_>) -> DecodeCtx<'c> {
        DecodeCtx {
            limits: &ctx.config.limits,
            counters: ctx.counters,
            out: ctx.out,
            flow,
            budget: ctx.inflight_available,
            dropped: &mut ctx.dropped,
        }
    }

    /// A flow that started before capture carries HTTP/2 frames: without the HPACK state
    /// of its start nothing on it decodes, so it is left alone.
    fn h2_midstream(&mut self, len: usize, ctx: &mut FlowCtx<'_>) {
        ctx.counters.inc(Counter::FlowsH2Midstream);
        ctx.counters.add(Counter::BytesSkipped, len as u64);
        ctx.h2_ended.inc(shadowtap_h2::Counter::H2Midstream);
        self.dec.close_not_decoded();
    }

    /// Decode the next in-order bytes with the HTTP/1 decoder or the HTTP/2 one, switching
    /// between them where the stream does (h2c preface or upgrade; declined upgrade).
    fn data(&mut self, first: Chunk, ctx: &mut FlowCtx<'_>) {
        // Chunks handed back by a protocol switch (an upgrade declined or accepted) are
        // decoded next, in order; the queue exists only then (no allocation per segment).
        let mut next = Some(first);
        let mut queue: VecDeque<Chunk> = VecDeque::new();
        while let Some(chunk) = next.take().or_else(|| queue.pop_front()) {
            let ts = chunk.ts;
            if let Some(h2) = &mut self.h2 {
                let mut out = Vec::new();
                match h2.push(chunk, &mut out) {
                    H2Push::Declined(chunks, upgrade) => {
                        if let Some(r) = upgrade {
                            ctx.out.push(*r);
                            ctx.counters.inc(Counter::RequestsEmitted);
                        }
                        ctx.h2_ended.merge(h2.dec.counters());
                        self.h2 = None;
                        self.dec = Decoder::after_declined_upgrade();
                        for c in chunks.into_iter().rev() {
                            queue.push_front(c);
                        }
                    }
                    H2Push::Continue => {
                        if let Some(stream_1) = h2.take_accepted_upgrade() {
                            out.insert(0, stream_1);
                            ctx.counters.inc(Counter::RequestsUpgradedH2);
                        }
                        self.emit_h2(out, ts, ctx);
                    }
                }
                continue;
            }
            let mut dctx = Self::decode_ctx(self.key, ctx);
            self.dec
                .data(chunk.bytes, chunk.boundary, ts, chunk.alloc, &mut dctx);
            if let Some(handoff) = self.dec.take_handoff() {
                self.h2 = Some(Box::new(H2Flow::new(
                    handoff.start,
                    ctx.config.h2_limits.clone(),
                    handoff.upgrade,
                )));
                for bytes in handoff.bytes.into_iter().rev() {
                    let alloc = bytes.len();
                    queue.push_front(Chunk {
                        bytes,
                        boundary: false,
                        ts,
                        alloc,
                    });
                }
            }
        }
    }

    /// Hand completed HTTP/2 requests out, then keep the connection within the flow's share
    /// of the in-flight budget: over it, HTTP/2 decoding of the flow stops.
    fn emit_h2(&mut self, out: Vec<shadowtap_h2::H2Request>, ts: u64, ctx: &mut FlowCtx<'_>) {
        let flow = self.key;
        ctx.h2_out
            .extend(out.into_iter().map(|request| H2FlowRequest {
                flow,
                request,
                last_ts_ns: ts,
            }));
        let budget = ctx.inflight_available.saturating_sub(self.dec.buffered());
        if let Some(h2) = &mut self.h2 {
            if h2.dec.is_decoding() && h2.held() > budget {
                h2.dec.finish();
                ctx.counters.inc(Counter::FlowsH2OverBudget);
            }
        }
    }
}
