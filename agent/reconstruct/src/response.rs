//! The server→client direction of comparing endpoints: per flow, the response bytes in
//! stream order, gaps, ranges the kernel did not copy, and the end of the connection, each
//! with its capture time. Framing and pairing are shadowtap-compare's; this only orders
//! bytes, with the same reassembler (and the same hostile-input rules) as requests.
//!
//! Out-of-order bytes held here count against the same global reassembly budget as the
//! requests' ([`crate::Budgets::reassembly_bytes`]); flows are bounded by
//! [`crate::Config::max_flows`] and end at FIN, RST, idle timeout or eviction, each counted.

use std::collections::HashMap;

use bytes::Bytes;

use crate::config::Config;
use crate::counters::Counters;
use crate::reassembly::{PushStatus, ReasmCtx, Reassembler, StreamEvent};
use crate::segment::{FlowKey, Segment};

shadowtap_counters::counter_set! {
    /// Counters of the response direction.
    ResponseCounter, ResponseCounters;
    /// Response segments received.
    SegmentsSeen => "segments_seen",
    /// Response segments without payload or SYN for no live flow (ignored).
    SegmentsStray => "segments_stray",
    /// Response streams opened.
    FlowsOpened => "flows_opened",
    /// Response streams whose start (the server's SYN) was not seen.
    FlowsMidstream => "flows_midstream",
    /// Response bytes delivered in order.
    BytesDelivered => "bytes_delivered",
    /// Response bytes the kernel did not copy (status and headers modes, record limit).
    BytesUncopied => "bytes_uncopied",
    /// Gaps in response streams (bytes lost, or disputed by two segments).
    Gaps => "gaps",
    /// Response segments starting beyond any receive window (ignored).
    SegmentsOutOfWindow => "segments_out_of_window",
    /// Streams ended by the server's FIN.
    EndedFin => "ended_fin",
    /// Streams ended by RST.
    EndedRst => "ended_rst",
    /// Streams ended by the idle timeout.
    EndedIdle => "ended_idle",
    /// Streams evicted to stay within `max_flows`.
    EndedCap => "ended_cap",
    /// Streams ended by a new connection on the same addresses and ports.
    EndedReused => "ended_reused",
    /// Streams ended at the end of input.
    EndedFlush => "ended_flush",
}

/// What the response direction of one flow did, in stream order per flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseEvent {
    /// A response stream starts: from the server's SYN (`from_start`), or in the middle.
    Opened {
        /// The flow (client→server).
        flow: FlowKey,
        /// Whether its first byte is the stream's first.
        from_start: bool,
    },
    /// The next in-order response bytes.
    Data {
        /// The flow.
        flow: FlowKey,
        /// The bytes.
        bytes: Bytes,
        /// Capture time of the segment they came in.
        ts_ns: u64,
    },
    /// Bytes are missing: `lost` of them, or an unknown number.
    Gap {
        /// The flow.
        flow: FlowKey,
        /// How many.
        lost: Option<u64>,
    },
    /// Bytes the server sent that the kernel did not copy.
    Uncopied {
        /// The flow.
        flow: FlowKey,
        /// How many.
        len: u64,
    },
    /// The stream ended: by the server's FIN (`graceful`), or by RST, timeout or eviction.
    Ended {
        /// The flow.
        flow: FlowKey,
        /// Whether every byte up to a FIN was delivered.
        graceful: bool,
    },
}

impl ResponseEvent {
    /// The flow of the event.
    pub fn flow(&self) -> &FlowKey {
        match self {
            ResponseEvent::Opened { flow, .. }
            | ResponseEvent::Data { flow, .. }
            | ResponseEvent::Gap { flow, .. }
            | ResponseEvent::Uncopied { flow, .. }
            | ResponseEvent::Ended { flow, .. } => flow,
        }
    }
}

#[derive(Debug)]
struct ResponseFlow {
    reasm: Reassembler,
    last_seen: u64,
}

/// The response streams of the comparing endpoints' live flows.
#[derive(Debug, Default)]
pub(crate) struct ResponseStreams {
    flows: HashMap<FlowKey, ResponseFlow, foldhash::fast::RandomState>,
    counters: ResponseCounters,
    /// The reassembler's own counters (kept apart from the request direction's).
    reasm_counters: Counters,
    events: Vec<StreamEvent>,
    out: Vec<ResponseEvent>,
    ooo_bytes: usize,
}

impl ResponseStreams {
    pub(crate) fn counters(&self) -> &ResponseCounters {
        &self.counters
    }

    pub(crate) fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Out-of-order bytes held, all response streams together.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.ooo_bytes
    }

    /// The events since the last [`clear`](Self::clear), in order.
    pub(crate) fn drain(&mut self) -> std::vec::Drain<'_, ResponseEvent> {
        self.out.drain(..)
    }

    /// Drops the events not drained (each reconstructor call starts afresh, so a caller
    /// that never drains holds at most one call's worth).
    pub(crate) fn clear(&mut self) {
        self.out.clear();
    }

    /// One response segment; `request_ooo` is what the request direction holds of the
    /// reassembly budget.
    pub(crate) fn push(&mut self, seg: Segment, config: &Config, request_ooo: usize) {
        self.counters.inc(ResponseCounter::SegmentsSeen);
        let key = seg.flow;
        if let Some(f) = self.flows.get(&key) {
            if f.reasm.is_reuse(&seg, config.max_window_bytes) {
                self.end(
                    &key,
                    ResponseCounter::EndedReused,
                    false,
                    config,
                    request_ooo,
                );
            }
        }
        if !self.flows.contains_key(&key) {
            if seg.payload_len == 0 && !seg.syn() {
                self.counters.inc(ResponseCounter::SegmentsStray);
                return;
            }
            if self.flows.len() >= config.max_flows.max(1) {
                self.evict_oldest(config, request_ooo);
            }
            let (reasm, midstream) = Reassembler::new(&seg);
            self.counters.inc(ResponseCounter::FlowsOpened);
            if midstream {
                self.counters.inc(ResponseCounter::FlowsMidstream);
            }
            self.out.push(ResponseEvent::Opened {
                flow: key,
                from_start: !midstream,
            });
            self.flows.insert(
                key,
                ResponseFlow {
                    reasm,
                    last_seen: seg.ts_ns,
                },
            );
        }
        let status = self.run(&key, config, request_ooo, |f, ctx| {
            f.last_seen = f.last_seen.max(seg.ts_ns);
            f.reasm.push(seg, ctx)
        });
        match status {
            Some(PushStatus::Fin) => {
                self.end(&key, ResponseCounter::EndedFin, true, config, request_ooo)
            }
            Some(PushStatus::Rst) => {
                self.end(&key, ResponseCounter::EndedRst, false, config, request_ooo)
            }
            _ => {}
        }
    }

    /// Capture time reached `now`: gap timeouts, then idle streams end.
    pub(crate) fn advance(&mut self, now: u64, config: &Config, request_ooo: usize) {
        let idle = config.timeouts.idle_ns;
        let mut expired = Vec::new();
        let mut holes = Vec::new();
        for (k, f) in &self.flows {
            if now.saturating_sub(f.last_seen) >= idle {
                expired.push(*k);
            } else if f.reasm.ooo_bytes() > 0 {
                holes.push(*k);
            }
        }
        for k in holes {
            self.run(&k, config, request_ooo, |f, ctx| {
                f.reasm.check_timeout(now, ctx)
            });
        }
        for k in expired {
            self.end(&k, ResponseCounter::EndedIdle, false, config, request_ooo);
        }
    }

    /// End of input: every stream ends (what is held is delivered across its holes).
    pub(crate) fn flush(&mut self, config: &Config, request_ooo: usize) {
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for k in keys {
            self.end(&k, ResponseCounter::EndedFlush, false, config, request_ooo);
        }
    }

    fn evict_oldest(&mut self, config: &Config, request_ooo: usize) {
        let oldest = self
            .flows
            .iter()
            .min_by_key(|(_, f)| f.last_seen)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.end(&k, ResponseCounter::EndedCap, false, config, request_ooo);
        }
    }

    fn end(
        &mut self,
        key: &FlowKey,
        reason: ResponseCounter,
        graceful: bool,
        config: &Config,
        request_ooo: usize,
    ) {
        if !graceful {
            self.run(key, config, request_ooo, |f, ctx| {
                f.reasm.flush(crate::counters::Counter::GapClosed, ctx)
            });
        }
        if let Some(f) = self.flows.remove(key) {
            self.ooo_bytes = self.ooo_bytes.saturating_sub(f.reasm.ooo_bytes());
            self.counters.inc(reason);
            self.out.push(ResponseEvent::Ended {
                flow: *key,
                graceful,
            });
        }
    }

    /// Runs `f` on a stream with its share of the reassembly budget, then turns what the
    /// reassembler delivered into events.
    fn run<R>(
        &mut self,
        key: &FlowKey,
        config: &Config,
        request_ooo: usize,
        f: impl FnOnce(&mut ResponseFlow, &mut ReasmCtx<'_>) -> R,
    ) -> Option<R> {
        let flow = self.flows.get_mut(key)?;
        let before = flow.reasm.ooo_bytes();
        let others = request_ooo + self.ooo_bytes.saturating_sub(before);
        let out_of_window = self
            .reasm_counters
            .get(crate::counters::Counter::SegmentsOutOfWindow);
        let mut ctx = ReasmCtx {
            config,
            counters: &mut self.reasm_counters,
            events: &mut self.events,
            available: config.budgets.reassembly_bytes.saturating_sub(others),
        };
        let r = f(flow, &mut ctx);
        self.ooo_bytes = self.ooo_bytes.saturating_sub(before) + flow.reasm.ooo_bytes();
        let ignored = self
            .reasm_counters
            .get(crate::counters::Counter::SegmentsOutOfWindow)
            - out_of_window;
        self.counters
            .add(ResponseCounter::SegmentsOutOfWindow, ignored);
        for ev in self.events.drain(..) {
            self.out.push(match ev {
                StreamEvent::Data { bytes, ts, .. } => {
                    self.counters
                        .add(ResponseCounter::BytesDelivered, bytes.len() as u64);
                    ResponseEvent::Data {
                        flow: *key,
                        bytes,
                        ts_ns: ts,
                    }
                }
                StreamEvent::Gap { lost } => {
                    self.counters.inc(ResponseCounter::Gaps);
                    ResponseEvent::Gap { flow: *key, lost }
                }
                StreamEvent::Uncopied { len } => {
                    self.counters.add(ResponseCounter::BytesUncopied, len);
                    ResponseEvent::Uncopied { flow: *key, len }
                }
            });
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_common::record::tcp_flags;

    fn flow() -> FlowKey {
        FlowKey::new(
            "10.0.0.1:40000".parse().expect("addr"),
            "10.0.0.2:80".parse().expect("addr"),
        )
    }

    fn seg(seq: u32, flags: u8, ts: u64, data: &'static [u8]) -> Segment {
        Segment::response(flow(), seq, flags, ts, Bytes::from_static(data))
    }

    #[test]
    fn bytes_in_order_then_fin() {
        let cfg = Config::default();
        let mut r = ResponseStreams::default();
        r.push(seg(99, tcp_flags::SYN | tcp_flags::ACK, 1, b""), &cfg, 0);
        r.push(seg(106, tcp_flags::ACK, 3, b"world"), &cfg, 0);
        assert_eq!(r.ooo_bytes(), 5);
        r.push(seg(100, tcp_flags::ACK, 2, b"hello "), &cfg, 0);
        r.push(seg(111, tcp_flags::FIN | tcp_flags::ACK, 4, b""), &cfg, 0);
        let ev: Vec<_> = r.drain().collect();
        assert_eq!(
            ev[0],
            ResponseEvent::Opened {
                flow: flow(),
                from_start: true
            }
        );
        let data: Vec<u8> = ev
            .iter()
            .filter_map(|e| match e {
                ResponseEvent::Data { bytes, .. } => Some(bytes.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(data, b"hello world");
        assert_eq!(
            ev.last(),
            Some(&ResponseEvent::Ended {
                flow: flow(),
                graceful: true
            })
        );
        assert_eq!((r.flows(), r.ooo_bytes()), (0, 0));
        assert_eq!(r.counters().get(ResponseCounter::EndedFin), 1);
    }

    #[test]
    fn uncopied_tails_and_gaps_are_reported() {
        let cfg = Config::default();
        let mut r = ResponseStreams::default();
        r.push(seg(99, tcp_flags::SYN, 1, b""), &cfg, 0);
        let mut s = seg(100, tcp_flags::ACK, 2, b"HTTP/1.1 200 OK\r\n");
        s.payload_len += 1000;
        r.push(s, &cfg, 0);
        // 1117..1200 lost, then data; the timeout gives the hole up.
        r.push(seg(1200, tcp_flags::ACK, 3, b"x"), &cfg, 0);
        r.advance(3 + cfg.timeouts.gap_ns, &cfg, 0);
        let ev: Vec<_> = r.drain().collect();
        assert!(ev.contains(&ResponseEvent::Uncopied {
            flow: flow(),
            len: 1000
        }));
        assert!(ev.contains(&ResponseEvent::Gap {
            flow: flow(),
            lost: Some(83)
        }));
        assert_eq!(r.counters().get(ResponseCounter::BytesUncopied), 1000);
        assert_eq!(r.counters().get(ResponseCounter::Gaps), 1);
    }

    #[test]
    fn midstream_rst_idle_and_the_budget() {
        let mut cfg = Config::default();
        cfg.budgets.reassembly_bytes = 10;
        let mut r = ResponseStreams::default();
        r.push(seg(500, tcp_flags::ACK, 1, b"abc"), &cfg, 0);
        // Out of order, over what the requests leave of the budget: a gap, not held.
        r.push(seg(600, tcp_flags::ACK, 2, b"0123456789"), &cfg, 5);
        assert_eq!(r.ooo_bytes(), 0);
        r.push(seg(700, tcp_flags::RST, 3, b""), &cfg, 0);
        let ev: Vec<_> = r.drain().collect();
        assert_eq!(
            ev[0],
            ResponseEvent::Opened {
                flow: flow(),
                from_start: false
            }
        );
        assert!(ev.iter().any(|e| matches!(e, ResponseEvent::Gap { .. })));
        assert_eq!(
            ev.last(),
            Some(&ResponseEvent::Ended {
                flow: flow(),
                graceful: false
            })
        );
        // A stray ACK opens nothing; an idle stream ends.
        r.push(seg(800, tcp_flags::ACK, 4, b""), &cfg, 0);
        assert_eq!(r.flows(), 0);
        r.push(seg(800, tcp_flags::ACK, 5, b"late"), &cfg, 0);
        r.advance(5 + cfg.timeouts.idle_ns, &cfg, 0);
        assert_eq!(r.flows(), 0);
        assert_eq!(r.counters().get(ResponseCounter::EndedIdle), 1);
        assert_eq!(r.counters().get(ResponseCounter::SegmentsStray), 1);
        assert_eq!(r.counters().get(ResponseCounter::EndedRst), 1);
    }

    #[test]
    fn flow_cap_evicts_the_least_recent() {
        let cfg = Config {
            max_flows: 1,
            ..Config::default()
        };
        let mut r = ResponseStreams::default();
        r.push(seg(99, tcp_flags::SYN, 1, b""), &cfg, 0);
        let other = FlowKey::new(
            "10.0.0.3:40000".parse().expect("addr"),
            "10.0.0.2:80".parse().expect("addr"),
        );
        r.push(
            Segment::response(other, 5, tcp_flags::SYN, 2, Bytes::new()),
            &cfg,
            0,
        );
        assert_eq!(r.flows(), 1);
        assert_eq!(r.counters().get(ResponseCounter::EndedCap), 1);
        assert!(r.drain().any(|e| e
            == ResponseEvent::Ended {
                flow: flow(),
                graceful: false
            }));
    }
}
