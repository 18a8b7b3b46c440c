//! The global in-flight budget as applied to one decoder.

use super::{DecodeCtx, Decoder, Mode};
use crate::counters::Counter;

impl Decoder {
    /// Keep the bytes held within the in-flight budget: over it, the request in progress is
    /// dropped (and its body skipped when its length is known).
    pub(super) fn enforce_budget(&mut self, ctx: &mut DecodeCtx<'_>) {
        if self.buf.held() <= ctx.budget {
            return;
        }
        let held = self.buf.len() as u64;
        let mode = std::mem::replace(&mut self.mode, Mode::Head);
        self.mode = match mode {
            Mode::Body { total, .. } => {
                self.drop_request(Counter::DroppedBodyBudget, ctx);
                ctx.counters.add(Counter::BytesSkipped, held);
                self.buf.clear();
                Mode::Skip {
                    remaining: (total as u64).saturating_sub(held),
                }
            }
            Mode::Chunked { mut parser, .. } => {
                self.drop_request(Counter::DroppedBodyBudget, ctx);
                ctx.counters.add(Counter::BytesSkipped, held);
                self.buf.clear();
                parser.stop_recording();
                Mode::SkipChunked { parser }
            }
            Mode::Head if self.in_request => {
                self.drop_request(Counter::DroppedBodyBudget, ctx);
                self.enter_resync(ctx);
                return;
            }
            other => {
                ctx.counters.add(Counter::ResyncSkippedBytes, held);
                self.buf.clear();
                self.boundaries.clear();
                other
            }
        };
    }
}
