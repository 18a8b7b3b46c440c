//! [`Reconstructor`]: the entry point. Segments in, requests out.
//!
//! ```
//! use bytes::Bytes;
//! use shadowtap_reconstruct::{Config, FlowKey, Reconstructor, Segment};
//!
//! let flow = FlowKey::new("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
//! let mut r = Reconstructor::new(Config::default());
//! let syn = Segment::new(flow, 99, 0x02, 1, Bytes::new());
//! assert_eq!(r.push(syn).count(), 0);
//! let data = Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
//! let reqs: Vec<_> = r.push(Segment::new(flow, 100, 0x18, 2, data)).collect();
//! assert_eq!(reqs[0].target(), b"/");
//! r.flush().for_each(drop);
//! assert!(r.counters().check_conservation(0));
//! ```

use std::collections::{HashMap, VecDeque};
use std::vec::Drain;

use crate::config::Config;
use crate::counters::{Counter, Counters};
use crate::error::SegmentError;
use crate::flow::{Flow, FlowCtx};
use crate::http::request::Request;
use crate::http2::H2FlowRequest;
use crate::reassembly::{PushStatus, StreamEvent};
use crate::response::{ResponseCounters, ResponseEvent, ResponseStreams};
use crate::segment::{Direction, FlowKey, Segment};

/// Live flows by key (foldhash: looked up for every segment).
type FlowTable = HashMap<FlowKey, Flow, foldhash::fast::RandomState>;

/// The reconstructor's fields a flow operation writes to, borrowed apart from the flow
/// table.
struct Budgeted<'a> {
    out: &'a mut Vec<Request>,
    h2_out: &'a mut Vec<H2FlowRequest>,
    h2_ended: &'a mut shadowtap_h2::Counters,
    events: &'a mut Vec<StreamEvent>,
    losses: &'a mut Vec<(FlowKey, usize)>,
    reasm_used: &'a mut usize,
    inflight_used: &'a mut usize,
    /// Out-of-order bytes of the response streams (charged to the same budget).
    responses_ooo: usize,
}

/// Reassembles the client→server streams of many flows and decodes their HTTP/1.x requests.
///
/// Feed it segments in capture order with [`push`](Self::push) (timestamps from the capture:
/// kernel monotonic time live, packet time from files); call
/// [`advance_time`](Self::advance_time) periodically when segments are rare (it applies the
/// gap and idle timeouts), and [`flush`](Self::flush) at the end of input. Each of these
/// returns the requests completed by the call; dropping the iterator drops them.
#[derive(Debug)]
pub struct Reconstructor {
    config: Config,
    flows: FlowTable,
    /// Flows in order of last activity as of when they were queued (lazily refreshed).
    order: VecDeque<(FlowKey, u64, u64)>,
    next_id: u64,
    counters: Counters,
    reasm_used: usize,
    inflight_used: usize,
    now: u64,
    last_sweep: u64,
    out: Vec<Request>,
    /// HTTP/2 requests completed by the last call ([`Reconstructor::drain_h2`]).
    h2_out: Vec<H2FlowRequest>,
    /// HTTP/2 counters of the connections no longer decoded.
    h2_ended: shadowtap_h2::Counters,
    events: Vec<StreamEvent>,
    /// Flows recently ended by FIN or RST (capture time of the end), so that late
    /// retransmissions do not start a new mid-stream flow and emit a request twice.
    closed: HashMap<FlowKey, u64, foldhash::fast::RandomState>,
    closed_order: VecDeque<(FlowKey, u64)>,
    /// The response direction of comparing endpoints.
    responses: ResponseStreams,
    /// Flows whose request stream lost sync in the last call, with the number of requests
    /// the call had returned before ([`Reconstructor::drain_request_losses`]).
    losses: Vec<(FlowKey, usize)>,
}

impl Reconstructor {
    /// A pipeline with no flows.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            flows: HashMap::default(),
            order: VecDeque::new(),
            next_id: 0,
            counters: Counters::default(),
            reasm_used: 0,
            inflight_used: 0,
            now: 0,
            last_sweep: 0,
            out: Vec::new(),
            h2_out: Vec::new(),
            h2_ended: shadowtap_h2::Counters::default(),
            events: Vec::new(),
            closed: HashMap::default(),
            closed_order: VecDeque::new(),
            responses: ResponseStreams::default(),
            losses: Vec::new(),
        }
    }

    /// The response-direction events of the last [`push`](Self::push),
    /// [`advance_time`](Self::advance_time) or [`flush`](Self::flush), in order per flow
    /// (segments of [`Direction::Response`]: comparing endpoints only).
    pub fn drain_responses(&mut self) -> Drain<'_, ResponseEvent> {
        self.responses.drain()
    }

    /// The flows whose request stream lost sync (a gap, or a request dropped) during the
    /// last call, each with how many of the requests that call returned came before the
    /// loss — or possibly after it: a loss is placed no later than where it happened, so a
    /// response pairing that trusts order never trusts it past a loss.
    pub fn drain_request_losses(&mut self) -> Drain<'_, (FlowKey, usize)> {
        self.losses.drain(..)
    }

    /// The response direction's counters.
    pub fn response_counters(&self) -> &ResponseCounters {
        self.responses.counters()
    }

    /// Live response streams.
    pub fn response_flows(&self) -> usize {
        self.responses.flows()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Mutable counters, for callers that count their own input outcomes (e.g. pcap).
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The HTTP/2 requests completed by the last [`push`](Self::push),
    /// [`advance_time`](Self::advance_time) or [`flush`](Self::flush). Each of those calls
    /// first discards what the previous one left here, so a caller that wants HTTP/2
    /// requests drains them after every call (and one that does not holds at most one
    /// call's worth).
    pub fn drain_h2(&mut self) -> Drain<'_, H2FlowRequest> {
        self.h2_out.drain(..)
    }

    /// The HTTP/2 decoders' counters, all connections together (ended and live), with
    /// `h2_midstream` for flows that started before capture and carry HTTP/2 frames.
    pub fn h2_counters(&self) -> shadowtap_h2::Counters {
        let mut c = self.h2_ended.clone();
        for f in self.flows.values() {
            if let Some(live) = f.h2_counters() {
                c.merge(live);
            }
        }
        c
    }

    /// HTTP/2 requests in progress, all flows together (for
    /// [`shadowtap_h2::Counters::check_conservation`] on [`h2_counters`](Self::h2_counters)).
    pub fn h2_open_streams(&self) -> u64 {
        self.flows
            .values()
            .map(|f| f.h2_open_streams() as u64)
            .sum()
    }

    /// Live flows.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Out-of-order bytes held, all flows and both directions together (reassembly budget
    /// use).
    pub fn reassembly_bytes(&self) -> usize {
        self.reasm_used + self.responses.ooo_bytes()
    }

    /// Bytes of requests in progress, all flows together (in-flight budget use).
    pub fn inflight_bytes(&self) -> usize {
        self.inflight_used
    }

    /// Requests started but neither emitted nor dropped yet (for
    /// [`Counters::check_conservation`]).
    pub fn requests_in_progress(&self) -> u64 {
        self.flows.values().filter(|f| f.in_progress()).count() as u64
    }

    /// Process one raw ring record (a `RecordHeader` followed by its payload). A malformed
    /// record is counted under `segments_malformed` and returned as an error.
    pub fn push_record(&mut self, record: &[u8]) -> Result<Drain<'_, Request>, SegmentError> {
        match Segment::from_ring_record(record) {
            Ok(seg) => Ok(self.push(seg)),
            Err(e) => {
                self.counters.inc(Counter::SegmentsMalformed);
                Err(e)
            }
        }
    }

    /// Process one segment; returns the requests it completed.
    pub fn push(&mut self, seg: Segment) -> Drain<'_, Request> {
        self.h2_out.clear();
        self.losses.clear();
        self.responses.clear();
        self.now = self.now.max(seg.ts_ns);
        if seg.direction == Direction::Response {
            let used = self.reasm_used;
            self.responses.push(seg, &self.config, used);
            self.maybe_sweep();
            return self.out.drain(..);
        }
        self.counters.inc(Counter::SegmentsSeen);
        let key = seg.flow;
        // The usual segment: its flow exists and the segment is no SYN of a new connection
        // on the same 4-tuple — one lookup.
        let window = self.config.max_window_bytes;
        let (flows, config, counters, mut sinks) = self.split();
        if let Some(flow) = flows.get_mut(&key) {
            if !flow.is_reuse(&seg, window) {
                let status = Self::run_flow(flow, &key, config, counters, &mut sinks, |f, ctx| {
                    f.push(seg, ctx)
                });
                match status {
                    PushStatus::Fin => self.end(&key, Counter::EvictedFin),
                    PushStatus::Rst => self.end(&key, Counter::EvictedRst),
                    PushStatus::Open => {}
                }
                self.maybe_sweep();
                return self.out.drain(..);
            }
        }
        if !self.flows.contains_key(&key) {
            let linger = self.config.timeouts.linger_ns;
            let recent = |t: &u64| seg.ts_ns.saturating_sub(*t) < linger;
            if !seg.syn() && self.closed.get(&key).is_some_and(recent) {
                self.counters.inc(Counter::SegmentsAfterClose);
                self.maybe_sweep();
                return self.out.drain(..);
            }
            self.closed.remove(&key);
            if seg.payload_len == 0 && !seg.syn() {
                self.counters.inc(Counter::SegmentsStray);
                self.maybe_sweep();
                return self.out.drain(..);
            }
            self.create(&seg);
        }
        if self
            .flows
            .get(&key)
            .is_some_and(|f| f.is_reuse(&seg, window))
        {
            self.remove(&key, Counter::EvictedReused);
            self.create(&seg);
        }
        match self.run(&key, |f, ctx| f.push(seg, ctx)) {
            Some(PushStatus::Fin) => self.end(&key, Counter::EvictedFin),
            Some(PushStatus::Rst) => self.end(&key, Counter::EvictedRst),
            _ => {}
        }
        self.maybe_sweep();
        self.out.drain(..)
    }

    /// Tell the pipeline that capture time has reached `now_ns` (applies the gap and idle
    /// timeouts to every flow); returns the requests that completes.
    pub fn advance_time(&mut self, now_ns: u64) -> Drain<'_, Request> {
        self.h2_out.clear();
        self.losses.clear();
        self.responses.clear();
        self.now = self.now.max(now_ns);
        self.sweep();
        self.out.drain(..)
    }

    /// End of input: deliver everything held in every flow (holes become gaps), end all
    /// flows, and return the requests that completes.
    pub fn flush(&mut self) -> Drain<'_, Request> {
        self.h2_out.clear();
        self.losses.clear();
        self.responses.clear();
        let keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        for k in keys {
            self.remove(&k, Counter::EvictedFlush);
        }
        let used = self.reasm_used;
        self.responses.flush(&self.config, used);
        self.order.clear();
        self.closed.clear();
        self.closed_order.clear();
        self.out.drain(..)
    }

    fn create(&mut self, seg: &Segment) {
        if self.flows.len() >= self.config.max_flows.max(1) {
            self.evict_oldest();
        }
        self.next_id += 1;
        let flow = Flow::new(self.next_id, seg, &mut self.counters);
        self.order.push_back((seg.flow, flow.id, flow.last_seen));
        self.flows.insert(seg.flow, flow);
        if self.order.len() > 2 * self.flows.len() + 64 {
            let flows = &self.flows;
            self.order
                .retain(|(k, id, _)| flows.get(k).is_some_and(|f| f.id == *id));
        }
    }

    /// Run `f` on a flow with its share of the budgets, and account for what it holds after.
    fn run<R>(
        &mut self,
        key: &FlowKey,
        f: impl FnOnce(&mut Flow, &mut FlowCtx<'_>) -> R,
    ) -> Option<R> {
        let (flows, config, counters, mut sinks) = self.split();
        let flow = flows.get_mut(key)?;
        Some(Self::run_flow(flow, key, config, counters, &mut sinks, f))
    }

    /// The flow table, the configuration, the counters and what flow operations write to,
    /// borrowed apart.
    fn split(&mut self) -> (&mut FlowTable, &Config, &mut Counters, Budgeted<'_>) {
        let responses_ooo = self.responses.ooo_bytes();
        (
            &mut self.flows,
            &self.config,
            &mut self.counters,
            Budgeted {
                out: &mut self.out,
                h2_out: &mut self.h2_out,
                h2_ended: &mut self.h2_ended,
                events: &mut self.events,
                losses: &mut self.losses,
                reasm_used: &mut self.reasm_used,
                inflight_used: &mut self.inflight_used,
                responses_ooo,
            },
        )
    }

    /// [`run`](Self::run) on a flow already looked up (the fields it needs borrowed apart
    /// from the flow table).
    fn run_flow<R>(
        flow: &mut Flow,
        key: &FlowKey,
        config: &Config,
        counters: &mut Counters,
        sinks: &mut Budgeted<'_>,
        f: impl FnOnce(&mut Flow, &mut FlowCtx<'_>) -> R,
    ) -> R {
        let (ob, ib) = (flow.ooo_bytes(), flow.buffered());
        let emitted_before = sinks.out.len();
        let gaps_before = counters.get(Counter::Gaps);
        let b = &config.budgets;
        let reasm_available = b
            .reassembly_bytes
            .saturating_sub(sinks.reasm_used.saturating_sub(ob) + sinks.responses_ooo);
        let inflight_available = b.flow_inflight_share(sinks.inflight_used.saturating_sub(ib));
        let mut ctx = FlowCtx {
            config,
            counters: &mut *counters,
            out: &mut *sinks.out,
            h2_out: &mut *sinks.h2_out,
            h2_ended: &mut *sinks.h2_ended,
            events: &mut *sinks.events,
            reasm_available,
            inflight_available,
            dropped: false,
        };
        let r = f(flow, &mut ctx);
        let dropped = ctx.dropped;
        *sinks.reasm_used = sinks.reasm_used.saturating_sub(ob) + flow.ooo_bytes();
        *sinks.inflight_used = sinks.inflight_used.saturating_sub(ib) + flow.buffered();
        if dropped || counters.get(Counter::Gaps) > gaps_before {
            sinks.losses.push((*key, emitted_before));
        }
        r
    }

    /// End a flow closed by the client (FIN or RST) and remember it for `linger_ns`.
    fn end(&mut self, key: &FlowKey, reason: Counter) {
        self.remove(key, reason);
        if self.closed_order.len() >= self.config.max_flows.max(1) {
            if let Some((k, ts)) = self.closed_order.pop_front() {
                if self.closed.get(&k) == Some(&ts) {
                    self.closed.remove(&k);
                }
            }
        }
        self.closed.insert(*key, self.now);
        self.closed_order.push_back((*key, self.now));
    }

    fn remove(&mut self, key: &FlowKey, reason: Counter) {
        self.run(key, |f, ctx| f.finish(Counter::GapClosed, ctx));
        if let Some(f) = self.flows.remove(key) {
            self.reasm_used = self.reasm_used.saturating_sub(f.ooo_bytes());
            self.inflight_used = self.inflight_used.saturating_sub(f.buffered());
            self.counters.inc(reason);
        }
    }

    /// Evict the least recently active flow (second-chance queue: an entry whose flow saw
    /// segments since it was queued is queued again with its new time).
    fn evict_oldest(&mut self) {
        while let Some((key, id, seen)) = self.order.pop_front() {
            let Some(f) = self.flows.get(&key) else {
                continue;
            };
            if f.id != id {
                continue;
            }
            if f.last_seen > seen {
                self.order.push_back((key, id, f.last_seen));
                continue;
            }
            self.remove(&key, Counter::EvictedCap);
            return;
        }
    }

    fn maybe_sweep(&mut self) {
        if self.now.saturating_sub(self.last_sweep) >= self.config.timeouts.sweep_ns {
            self.sweep();
        }
    }

    fn sweep(&mut self) {
        self.last_sweep = self.now;
        let now = self.now;
        let linger = self.config.timeouts.linger_ns;
        while let Some(&(k, ts)) = self.closed_order.front() {
            if now.saturating_sub(ts) < linger {
                break;
            }
            self.closed_order.pop_front();
            if self.closed.get(&k) == Some(&ts) {
                self.closed.remove(&k);
            }
        }
        let idle = self.config.timeouts.idle_ns;
        let mut expired = Vec::new();
        let mut holes = Vec::new();
        for (k, f) in &self.flows {
            if now.saturating_sub(f.last_seen) >= idle {
                expired.push(*k);
            } else if f.ooo_bytes() > 0 {
                holes.push(*k);
            }
        }
        for k in holes {
            self.run(&k, |f, ctx| f.tick(now, ctx));
        }
        for k in expired {
            self.remove(&k, Counter::EvictedIdle);
        }
        let used = self.reasm_used;
        self.responses.advance(now, &self.config, used);
    }
}
