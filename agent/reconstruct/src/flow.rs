//! One live flow: its reassembler and its decoder, and the glue between them.

use crate::config::Config;
use crate::counters::{Counter, Counters};
use crate::http::decoder::{DecodeCtx, Decoder};
use crate::http::request::Request;
use crate::reassembly::{PushStatus, ReasmCtx, Reassembler, StreamEvent};
use crate::segment::{FlowKey, Segment};

/// What a flow operation may use and where it reports.
pub(crate) struct FlowCtx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) counters: &'a mut Counters,
    pub(crate) out: &'a mut Vec<Request>,
    pub(crate) events: &'a mut Vec<StreamEvent>,
    /// Out-of-order bytes this flow may hold (global reassembly budget left to it).
    pub(crate) reasm_available: usize,
    /// Request bytes this flow may hold (global in-flight budget left to it).
    pub(crate) inflight_available: usize,
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
        }
    }

    /// Out-of-order bytes held.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.reasm.ooo_bytes()
    }

    /// Memory held by the decoder for requests in progress (charged to the in-flight budget).
    pub(crate) fn buffered(&self) -> usize {
        self.dec.buffered()
    }

    /// Whether a request is in progress.
    pub(crate) fn in_progress(&self) -> bool {
        self.dec.in_progress()
    }

    /// Whether `seg` is the SYN of another connection on the same 4-tuple.
    pub(crate) fn is_reuse(&self, seg: &Segment, max_window: u64) -> bool {
        self.reasm.is_reuse(seg, max_window)
    }

    /// Process one segment.
    pub(crate) fn push(&mut self, seg: Segment, ctx: &mut FlowCtx<'_>) -> PushStatus {
        self.last_seen = self.last_seen.max(seg.ts_ns);
        if self.dec.is_closed() {
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
        };
        self.dec.close(&mut dctx);
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
        let mut dctx = DecodeCtx {
            limits: &ctx.config.limits,
            counters: ctx.counters,
            out: ctx.out,
            flow: self.key,
            budget: ctx.inflight_available,
        };
        for ev in ctx.events.drain(..) {
            match ev {
                StreamEvent::Data {
                    bytes,
                    boundary,
                    ts,
                    alloc,
                } => self.dec.data(bytes, boundary, ts, alloc, &mut dctx),
                StreamEvent::Gap => self.dec.gap(&mut dctx),
            }
        }
    }
}
