//! [`Mode::Head`]: parsing the head of the next request and choosing how to read its body.

use shadowtap_wire::http1::{ChunkedDecoder, Framing};

use shadowtap_h2::frame::PREFACE;
use shadowtap_h2::Start;

use super::{DecodeCtx, Decoder, Mode};
use crate::counters::Counter;
use crate::http::head::{is_h2c_upgrade, parse_head, stop_reason, HeadOutcome};
use crate::http::request::Body;
use crate::resync;

impl Decoder {
    /// Handle [`Mode::Head`] (the mode when this is called): sets the next mode where it
    /// changes. Returns whether to go on decoding the buffer (`false`: wait for more bytes,
    /// or the flow stopped).
    pub(super) fn head(&mut self, ts: u64, ctx: &mut DecodeCtx<'_>) -> bool {
        if self.last && !self.in_request {
            self.closed_by_request(ctx);
            return false;
        }
        if self.h2c_pending && !self.in_request {
            // The upgrade request is complete: what follows is HTTP/2 if the server
            // accepted it (the HTTP/2 decoder tells, and hands declined bytes back).
            self.h2c_pending = false;
            ctx.counters.inc(Counter::FlowsHttp2);
            self.mode = Mode::Handoff(Start::AfterH2cUpgrade);
            return false;
        }
        if self.at_start && !self.in_request {
            // The client preface (`PRI * HTTP/2.0`, never an HTTP/1 request) as the first
            // bytes of a connection whose start was seen: prior-knowledge HTTP/2.
            let b = self.buf.as_slice();
            let n = b.len().min(PREFACE.len());
            if b[..n] == PREFACE[..n] {
                if n < PREFACE.len() {
                    return false;
                }
                self.at_start = false;
                ctx.counters.inc(Counter::FlowsHttp2);
                self.mode = Mode::Handoff(Start::PriorKnowledge);
                return false;
            }
            self.at_start = false;
        }
        if !self.in_request {
            let blank = self
                .buf
                .as_slice()
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if blank > 0 {
                self.buf.advance(blank);
            }
            if self.buf.is_empty() {
                return false;
            }
            self.in_request = true;
            self.first_ts = ts;
            ctx.counters.inc(Counter::RequestsStarted);
        }
        // No head end yet, plausible start, within the limit: wait without parsing.
        if self.buf.len() <= ctx.limits.max_header_bytes
            && !self.buf.has_crlfcrlf()
            && resync::method_prefix(self.buf.as_slice()) != Some(false)
        {
            return false;
        }
        match parse_head(self.buf.as_slice(), ctx.limits) {
            HeadOutcome::Partial => false,
            HeadOutcome::Complete(head) => {
                if is_h2c_upgrade(&head, self.buf.as_slice()) {
                    // Emitted as the HTTP/1.1 request it is; the flow switches once it ends.
                    self.h2c_pending = true;
                } else if let Some(reason) = stop_reason(&head) {
                    self.stop(reason, ctx);
                    return false;
                }
                self.last = !head.persistent();
                match head.framing() {
                    Framing::None => {
                        let total = head.head_len();
                        self.emit(total, head, Body::None, ts, ctx);
                        true
                    }
                    Framing::Length(n) => {
                        let total = usize::try_from(n)
                            .ok()
                            .and_then(|n| n.checked_add(head.head_len()))
                            .unwrap_or(usize::MAX);
                        self.mode = Mode::Body { head, total };
                        true
                    }
                    Framing::Chunked => {
                        self.mode = Mode::Chunked {
                            head,
                            parser: ChunkedDecoder::new().recording(),
                        };
                        true
                    }
                }
            }
            HeadOutcome::Skip {
                reason,
                head_len,
                framing,
                persistent,
            } => {
                self.last = !persistent;
                self.drop_request(reason, ctx);
                self.buf.advance(head_len);
                ctx.counters.add(Counter::BytesSkipped, head_len as u64);
                match framing {
                    Framing::None => {}
                    Framing::Length(n) => self.mode = Mode::Skip { remaining: n },
                    Framing::Chunked => {
                        self.mode = Mode::SkipChunked {
                            parser: ChunkedDecoder::new(),
                        }
                    }
                }
                true
            }
            // Over shadowtap's own limits the server may well have served the request:
            // resynchronise. Anything else the server rejected or framed in its own way.
            HeadOutcome::Reject {
                reason: reason @ (Counter::DroppedTooManyHeaders | Counter::DroppedHeaderTooLarge),
                ..
            } => {
                self.drop_request(reason, ctx);
                self.enter_resync(ctx);
                false
            }
            HeadOutcome::Reject { reason, .. } => {
                self.invalid(reason, ctx);
                false
            }
            HeadOutcome::Http2 => {
                self.stop(Counter::DroppedHttp2, ctx);
                false
            }
        }
    }
}
