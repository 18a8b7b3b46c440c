//! Shadow comparison on the pipeline's task: per connection of a comparing endpoint an
//! [`Http1Pairing`] fed every decoded request in order and the response stream, or, on an
//! h2c connection, an [`H2Pairing`] fed every decoded stream and the server's frames (pairs
//! by stream id); mirrored
//! requests of comparing routes registered with the [`Comparator`]; the mirror client's
//! reports read from a channel; per route, rule and mirror the outcomes and both sides'
//! latencies. Every registered pair ends in exactly one outcome:
//! `pairs_mirrored = Σ outcomes + pending` (see [`Comparison::check_conservation`]).
//!
//! Which protocol a connection speaks is decided once, by its first evidence: an HTTP/2
//! request decoded on it, or response bytes that begin with a frame header of the server's
//! SETTINGS (an HTTP/1 response begins with `HTTP/`). A connection whose responses already
//! started as HTTP/1 is never switched (an h2c upgrade: its streams are unseen,
//! `unseen_requests_lost`).
//!
//! A connection whose start was not seen (opened before the agent, or before its endpoint
//! compared) is not paired: its mirrored requests end `primary_unseen` (counted as
//! `unseen_requests_lost`, the order cannot be trusted). Connections are bounded
//! ([`MAX_PAIRINGS`], then new ones are not paired) and end with their response stream or
//! after [`PAIRING_IDLE`] without activity.
//!
//! What the pairings hold together (queued requests, responses being read, HTTP/2
//! responses held for requests not decoded yet, decoder buffers) is kept under a node-wide
//! byte budget ([`ComparatorConfig::pairing_budget_bytes`]), tracked incrementally: after
//! each event on a connection its pairing's size (O(1)) replaces what it was charged. When
//! the total passes the budget, the connection holding the most stops pairing (of equal
//! sizes, the most recently paired): its waiting mirrored requests, and every later one,
//! end `primary_unseen` (`unseen_over_budget`), and its memory is released at once; until
//! the total is within the budget again. The largest goes first because it releases the
//! most for the fewest pairs lost, and a connection that hoards responses cannot push the
//! node's other connections out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use foldhash::fast::RandomState;
use serde::Serialize;
use shadowtap_compare::Counters;
use shadowtap_compare::{
    Comparator, ComparatorConfig, CompareSpec, Counter as CompareCounter, Finished, H2Pairing,
    H2RequestSeen, Http1Pairing, Outcome, PairId, PairingLimits, PrimaryEvent, PrimaryResult,
    RequestSeen, UnseenReason,
};
use shadowtap_mirror::{CompareTicket, MirrorReport};
use shadowtap_reconstruct::{FlowKey, Method, ResponseEvent};
use shadowtap_routes::{plan::RuleId, Plan};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::route_stats::{route_latency_family, RouteLatencyFamily};
use crate::metrics::{Family, FamilyKind, LabelledFamily};

/// Most connections paired at once; beyond it new connections are not paired.
pub const MAX_PAIRINGS: usize = 65_536;
/// A pairing with no request or response for this long ends (its pending requests unseen).
pub const PAIRING_IDLE: Duration = Duration::from_secs(120);

/// The route, rule and mirror of a pair (the per-route series' labels).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PairKey {
    /// The rule.
    pub rule: RuleId,
    /// The mirror's `namespace/name:port`.
    pub mirror: String,
}

/// The two latency histograms of comparing routes, registered by the caller:
/// `route_primary_latency_seconds` and `route_compared_mirror_latency_seconds`.
#[derive(Clone, Debug)]
pub struct CompareLatency {
    /// The primary's: request's last byte to response's first byte at the pod (kernel time).
    pub primary: RouteLatencyFamily,
    /// The mirror's, for the same pairs: exchange start to response's first byte.
    pub mirror: RouteLatencyFamily,
}

impl Default for CompareLatency {
    fn default() -> Self {
        CompareLatency {
            primary: route_latency_family(),
            mirror: route_latency_family(),
        }
    }
}

/// The pairing of one connection, by protocol.
enum Side {
    Http1(Http1Pairing),
    /// Boxed: its decoder and stream maps are larger than an HTTP/1 pairing.
    H2(Box<H2Pairing>),
    /// Stopped and released (over the pairings' budget): every later mirrored request is
    /// unseen for this reason, response bytes are ignored.
    Stopped(UnseenReason),
}

struct Pairing {
    /// `None`: the connection is not paired (its start was not seen).
    pairing: Option<Side>,
    /// Response bytes were seen (the protocol is settled).
    responded: bool,
    last_ns: u64,
    /// Bytes charged for it in [`Comparison::pairing_bytes`] (and its key in `by_size`).
    charged: usize,
    /// When it was paired, in order: the tie-break among equal sizes.
    seq: u64,
}

impl Pairing {
    fn new(pairing: Option<Side>, last_ns: u64, seq: u64) -> Pairing {
        Pairing {
            pairing,
            responded: false,
            last_ns,
            charged: 0,
            seq,
        }
    }

    /// Bytes its pairing holds now (O(1)).
    fn held_bytes(&self) -> usize {
        match &self.pairing {
            Some(Side::Http1(p)) => p.held_bytes(),
            Some(Side::H2(p)) => p.held_bytes(),
            Some(Side::Stopped(_)) | None => 0,
        }
    }
}

impl Side {
    fn end(self, graceful: bool, events: &mut Vec<PrimaryEvent>, c: &mut Counters) {
        match self {
            Side::Http1(mut p) => p.end(graceful, events, c),
            Side::H2(mut p) => p.end(events, c),
            Side::Stopped(_) => {}
        }
    }

    /// Stops it over the budget: its waiting mirrored requests end unseen.
    fn stop_over_budget(self, events: &mut Vec<PrimaryEvent>, c: &mut Counters) {
        match self {
            Side::Http1(mut p) => p.stop_over_budget(events, c),
            Side::H2(mut p) => p.stop_over_budget(events, c),
            Side::Stopped(_) => {}
        }
    }
}

/// Whether the first bytes of a response stream are an HTTP/2 server's: a SETTINGS frame
/// header on stream 0 (`HTTP/` never is: its fourth byte is `P`, not 0x4).
fn starts_as_h2(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0) && bytes.get(3).is_none_or(|t| *t == 0x4)
}

/// Comparison state of one node (see the module docs).
pub struct Comparison {
    comparator: Comparator<PairKey>,
    pairings: HashMap<FlowKey, Pairing, RandomState>,
    specs: HashMap<(RuleId, String), Arc<CompareSpec>, RandomState>,
    /// The pair keys of the current plan's comparing mirrors: the per-route series that
    /// may exist.
    live: HashSet<PairKey, RandomState>,
    reply_tx: UnboundedSender<MirrorReport>,
    reply_rx: UnboundedReceiver<MirrorReport>,
    outcomes: HashMap<PairKey, [u64; Outcome::ALL.len()], RandomState>,
    latency: Option<CompareLatency>,
    events: Vec<PrimaryEvent>,
    finished: Vec<Finished<PairKey>>,
    limits: PairingLimits,
    /// Connections not paired because [`MAX_PAIRINGS`] were.
    over_cap: u64,
    /// Connections not paired because their start was not seen.
    midstream: u64,
    /// Pairings ended by [`PAIRING_IDLE`].
    idle_ended: u64,
    /// Most bytes the pairings may hold together.
    pairing_budget: usize,
    /// Bytes the pairings hold: the sum of their `charged`.
    pairing_bytes: usize,
    /// The live pairings by (bytes charged, seq): the largest is the last.
    by_size: BTreeMap<(usize, u64), FlowKey>,
    /// The next pairing's `seq`.
    next_seq: u64,
    /// Pairings stopped to keep within `pairing_budget`.
    over_budget: u64,
    /// Pairs whose rule or mirror left the plan: counted when their series were pruned,
    /// or when they ended afterwards (they have no series left to count in).
    retired: u64,
}

impl Default for Comparison {
    fn default() -> Self {
        Self::new(ComparatorConfig::default())
    }
}

impl Comparison {
    /// No pair pending.
    pub fn new(config: ComparatorConfig) -> Self {
        let (reply_tx, reply_rx) = unbounded_channel();
        let pairing_budget = config.pairing_budget_bytes;
        Comparison {
            comparator: Comparator::new(config),
            pairings: HashMap::default(),
            specs: HashMap::default(),
            live: HashSet::default(),
            reply_tx,
            reply_rx,
            outcomes: HashMap::default(),
            latency: None,
            events: Vec::new(),
            finished: Vec::new(),
            limits: PairingLimits::default(),
            over_cap: 0,
            midstream: 0,
            idle_ended: 0,
            pairing_budget,
            pairing_bytes: 0,
            by_size: BTreeMap::new(),
            next_seq: 0,
            over_budget: 0,
            retired: 0,
        }
    }

    /// Also observe both sides' latency per route on `latency`.
    pub fn set_latency(&mut self, latency: CompareLatency) {
        self.latency = Some(latency);
    }

    /// Follow a plan: the comparison settings of its mirrors. The per-route series
    /// (`route_comparisons_total` and both latency histograms) of a rule or mirror that
    /// left the plan go with it, as the other per-route series do; its pairs still pending
    /// end uncounted per route ([`Comparison::retired`]).
    pub fn set_plan(&mut self, plan: &Plan) {
        self.specs.clear();
        self.live.clear();
        for rule in plan
            .route_sets
            .values()
            .flat_map(|s| s.parents.iter())
            .flat_map(|p| p.rules.iter())
        {
            for m in &rule.mirrors {
                if let Some(c) = &m.options.compare {
                    self.specs
                        .entry((rule.id.clone(), m.field.clone()))
                        .or_insert_with(|| Arc::new(c.spec()));
                    self.live.insert(PairKey {
                        rule: rule.id.clone(),
                        mirror: m.backend.to_string(),
                    });
                }
            }
        }
        let gone: Vec<PairKey> = self
            .outcomes
            .keys()
            .filter(|k| !self.live.contains(*k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(counts) = self.outcomes.remove(&k) {
                self.retired += counts.iter().sum::<u64>();
            }
            if let Some(l) = &self.latency {
                let labels = labels(&k);
                l.primary.remove(&labels);
                l.mirror.remove(&labels);
            }
        }
    }

    /// Pairs that ended without a per-route series to count in: their rule or mirror left
    /// the plan (the series' counts at pruning, and pairs that ended afterwards).
    pub fn retired(&self) -> u64 {
        self.retired
    }

    /// The comparison settings of the mirror at `field` of `rule`, if it compares.
    pub fn spec(&self, rule: &RuleId, field: &str) -> Option<Arc<CompareSpec>> {
        self.specs.get(&(rule.clone(), field.to_owned())).cloned()
    }

    /// A mirrored request starts its pair: the ticket to submit it with.
    pub fn register(
        &mut self,
        key: PairKey,
        spec: Arc<CompareSpec>,
        method: Method,
        target: &[u8],
        now_ns: u64,
    ) -> CompareTicket {
        let pair = self.comparator.register(
            key,
            spec.clone(),
            method,
            target,
            now_ns,
            &mut self.finished,
        );
        self.settle();
        CompareTicket::new(pair, spec, self.reply_tx.clone())
    }

    /// The next request decoded on `flow` (an endpoint that compares), mirrored with a
    /// pair or not.
    pub fn request(
        &mut self,
        flow: FlowKey,
        method: Method,
        end_ns: u64,
        mirrored: Option<(PairId, Arc<CompareSpec>)>,
    ) {
        let counters = self.comparator.counters_mut();
        let seen = RequestSeen {
            method,
            mirrored,
            end_ns,
        };
        let full = self.pairings.len() >= MAX_PAIRINGS;
        match self.pairings.get_mut(&flow) {
            Some(p) => {
                p.last_ns = p.last_ns.max(end_ns);
                match &mut p.pairing {
                    Some(Side::Http1(pairing)) => {
                        pairing.push_request(seen, &mut self.events, counters)
                    }
                    Some(Side::Stopped(reason)) => {
                        unseen_now(seen.mirrored, *reason, &mut self.events, counters)
                    }
                    // An HTTP/1 request on an HTTP/2 connection: not paired.
                    Some(Side::H2(_)) | None => unseen_now(
                        seen.mirrored,
                        UnseenReason::RequestsLost,
                        &mut self.events,
                        counters,
                    ),
                }
            }
            None if full => {
                self.over_cap += 1;
                unseen_now(
                    seen.mirrored,
                    UnseenReason::RequestsLost,
                    &mut self.events,
                    counters,
                );
            }
            None => {
                // The request came before its connection's response stream opened (records
                // of several CPUs): paired, until the response stream says it started
                // mid-stream.
                let mut pairing = Http1Pairing::new(self.limits);
                pairing.push_request(seen, &mut self.events, counters);
                let seq = self.next_seq();
                self.pairings
                    .insert(flow, Pairing::new(Some(Side::Http1(pairing)), end_ns, seq));
            }
        }
        self.recharge(&flow);
        self.settle();
    }

    /// The next HTTP/2 request decoded on `flow` (stream `stream_id`, an endpoint that
    /// compares), mirrored with a pair or not.
    pub fn request_h2(
        &mut self,
        flow: FlowKey,
        stream_id: u32,
        end_ns: u64,
        mirrored: Option<(PairId, Arc<CompareSpec>)>,
    ) {
        let counters = self.comparator.counters_mut();
        let seen = H2RequestSeen {
            stream_id,
            mirrored,
            end_ns,
        };
        let full = self.pairings.len() >= MAX_PAIRINGS;
        match self.pairings.get_mut(&flow) {
            Some(p) => {
                p.last_ns = p.last_ns.max(end_ns);
                if let (Some(Side::Http1(_)), false) = (&p.pairing, p.responded) {
                    // No response byte yet: the connection is HTTP/2 after all (HTTP/1
                    // requests it held, if any, end unseen).
                    if let Some(old) = p
                        .pairing
                        .replace(Side::H2(Box::new(H2Pairing::new(self.limits))))
                    {
                        old.end(false, &mut self.events, counters);
                    }
                }
                match &mut p.pairing {
                    Some(Side::H2(pairing)) => {
                        pairing.push_request(seen, &mut self.events, counters)
                    }
                    Some(Side::Stopped(reason)) => {
                        unseen_now(seen.mirrored, *reason, &mut self.events, counters)
                    }
                    Some(Side::Http1(_)) | None => unseen_now(
                        seen.mirrored,
                        UnseenReason::RequestsLost,
                        &mut self.events,
                        counters,
                    ),
                }
            }
            None if full => {
                self.over_cap += 1;
                unseen_now(
                    seen.mirrored,
                    UnseenReason::RequestsLost,
                    &mut self.events,
                    counters,
                );
            }
            None => {
                let mut pairing = Box::new(H2Pairing::new(self.limits));
                pairing.push_request(seen, &mut self.events, counters);
                let seq = self.next_seq();
                self.pairings
                    .insert(flow, Pairing::new(Some(Side::H2(pairing)), end_ns, seq));
            }
        }
        self.recharge(&flow);
        self.settle();
    }

    /// The request stream of `flow` lost sync.
    pub fn request_lost(&mut self, flow: &FlowKey) {
        // HTTP/2 pairs by stream id: a lost request stream costs only its own streams.
        if let Some(Pairing {
            pairing: Some(Side::Http1(p)),
            ..
        }) = self.pairings.get_mut(flow)
        {
            p.requests_lost(&mut self.events, self.comparator.counters_mut());
            self.recharge(flow);
            self.settle();
        }
    }

    /// One event of a response stream.
    pub fn response(&mut self, ev: ResponseEvent) {
        let flow = match &ev {
            ResponseEvent::Opened { flow, .. }
            | ResponseEvent::Data { flow, .. }
            | ResponseEvent::Gap { flow, .. }
            | ResponseEvent::Uncopied { flow, .. }
            | ResponseEvent::Ended { flow, .. } => *flow,
        };
        let seq = self.next_seq;
        let counters = self.comparator.counters_mut();
        match ev {
            ResponseEvent::Opened { flow, from_start } => {
                let full = self.pairings.len() >= MAX_PAIRINGS;
                match self.pairings.get_mut(&flow) {
                    Some(p) if !from_start => {
                        self.midstream += 1;
                        if let Some(pairing) = p.pairing.take() {
                            pairing.end(false, &mut self.events, counters);
                        }
                    }
                    Some(_) => {}
                    None if full => self.over_cap += 1,
                    None => {
                        if !from_start {
                            self.midstream += 1;
                        }
                        self.next_seq += 1;
                        self.pairings.insert(
                            flow,
                            Pairing::new(
                                from_start.then(|| Side::Http1(Http1Pairing::new(self.limits))),
                                0,
                                seq,
                            ),
                        );
                    }
                }
            }
            ResponseEvent::Data { flow, bytes, ts_ns } => {
                if let Some(p) = self.pairings.get_mut(&flow) {
                    p.last_ns = p.last_ns.max(ts_ns);
                    if !p.responded && !bytes.is_empty() {
                        p.responded = true;
                        if matches!(p.pairing, Some(Side::Http1(_))) && starts_as_h2(&bytes) {
                            if let Some(old) = p
                                .pairing
                                .replace(Side::H2(Box::new(H2Pairing::new(self.limits))))
                            {
                                old.end(false, &mut self.events, counters);
                            }
                        }
                    }
                    match &mut p.pairing {
                        Some(Side::Http1(pairing)) => {
                            pairing.push_bytes(&bytes, ts_ns, &mut self.events, counters)
                        }
                        Some(Side::H2(pairing)) => {
                            pairing.push_bytes(&bytes, ts_ns, &mut self.events, counters)
                        }
                        Some(Side::Stopped(_)) => {
                            counters.add(CompareCounter::BytesIgnored, bytes.len() as u64)
                        }
                        None => {}
                    }
                }
            }
            ResponseEvent::Gap { flow, lost } => {
                if let Some(Pairing {
                    pairing: Some(side),
                    responded,
                    ..
                }) = self.pairings.get_mut(&flow)
                {
                    *responded = true;
                    match side {
                        Side::Http1(p) => {
                            p.push_gap(lost.unwrap_or(u64::MAX), &mut self.events, counters)
                        }
                        Side::H2(p) => p.push_gap(lost, &mut self.events, counters),
                        Side::Stopped(_) => {}
                    }
                }
            }
            ResponseEvent::Uncopied { flow, len } => {
                if let Some(Pairing {
                    pairing: Some(side),
                    ..
                }) = self.pairings.get_mut(&flow)
                {
                    match side {
                        Side::Http1(p) => p.push_elided(len, &mut self.events, counters),
                        Side::H2(p) => p.push_elided(len, &mut self.events, counters),
                        Side::Stopped(_) => {}
                    }
                }
            }
            ResponseEvent::Ended { flow, graceful } => {
                if let Some(mut p) = self.pairings.remove(&flow) {
                    if let Some(side) = p.pairing.take() {
                        side.end(graceful, &mut self.events, counters);
                    }
                    self.discharge(&p);
                }
            }
        }
        self.recharge(&flow);
        self.settle();
    }

    /// The next pairing's `seq`.
    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Charges `flow`'s pairing what it holds now in place of what it was charged, then
    /// keeps the pairings within their budget.
    fn recharge(&mut self, flow: &FlowKey) {
        if let Some(p) = self.pairings.get_mut(flow) {
            let held = p.held_bytes();
            if held != p.charged {
                self.by_size.remove(&(p.charged, p.seq));
                if held > 0 {
                    self.by_size.insert((held, p.seq), *flow);
                }
                self.pairing_bytes = self.pairing_bytes - p.charged + held;
                p.charged = held;
            }
        }
        self.enforce_budget();
    }

    /// A pairing that left `pairings`: no longer charged.
    fn discharge(&mut self, p: &Pairing) {
        if p.charged > 0 {
            self.by_size.remove(&(p.charged, p.seq));
            self.pairing_bytes -= p.charged;
        }
    }

    /// Over the budget: stops the pairings that hold the most (of equal sizes, the most
    /// recently paired) until the rest fit; each one's memory is released at once.
    fn enforce_budget(&mut self) {
        while self.pairing_bytes > self.pairing_budget {
            let Some(((charged, _), flow)) = self.by_size.pop_last() else {
                break;
            };
            self.pairing_bytes -= charged;
            self.over_budget += 1;
            if let Some(p) = self.pairings.get_mut(&flow) {
                p.charged = 0;
                if let Some(side) = p.pairing.replace(Side::Stopped(UnseenReason::OverBudget)) {
                    side.stop_over_budget(&mut self.events, self.comparator.counters_mut());
                }
            }
        }
    }

    /// Reads the mirror client's reports, ends pairs that waited too long and pairings
    /// idle for [`PAIRING_IDLE`] (capture time `now_ns`).
    pub fn tick(&mut self, now_ns: u64) {
        self.poll_reports();
        let idle = u64::try_from(PAIRING_IDLE.as_nanos()).unwrap_or(u64::MAX);
        let stale: Vec<FlowKey> = self
            .pairings
            .iter()
            .filter(|(_, p)| p.last_ns > 0 && now_ns.saturating_sub(p.last_ns) > idle)
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(mut p) = self.pairings.remove(&k) {
                self.idle_ended += 1;
                if let Some(pairing) = p.pairing.take() {
                    pairing.end(false, &mut self.events, self.comparator.counters_mut());
                }
                self.discharge(&p);
            }
        }
        self.settle();
        self.comparator.expire(now_ns, &mut self.finished);
        self.settle();
    }

    /// Reads the mirror client's reports received so far.
    pub fn poll_reports(&mut self) {
        while let Ok((pair, result)) = self.reply_rx.try_recv() {
            self.comparator.mirror(pair, result, &mut self.finished);
        }
        self.settle();
    }

    /// Hands the primary events to the comparator and counts the finished pairs.
    fn settle(&mut self) {
        for ev in self.events.drain(..) {
            self.comparator.primary(ev, &mut self.finished);
        }
        for f in self.finished.drain(..) {
            if !self.live.contains(&f.key) {
                // Its rule or mirror left the plan while the pair was pending: no series.
                self.retired += 1;
                continue;
            }
            let i = Outcome::ALL
                .iter()
                .position(|o| *o == f.outcome)
                .unwrap_or(0);
            if let Some(l) = &self.latency {
                let labels = labels(&f.key);
                // Latencies only of compared pairs: both sides answered.
                if f.outcome.compared() {
                    if let Some(p) = f.primary_latency {
                        l.primary.get_or_create(&labels).observe(p.as_secs_f64());
                    }
                    if let Some(m) = f.mirror_latency {
                        l.mirror.get_or_create(&labels).observe(m.as_secs_f64());
                    }
                }
            }
            self.outcomes
                .entry(f.key)
                .or_insert([0; Outcome::ALL.len()])[i] += 1;
        }
    }

    /// The comparator (counters, divergence log).
    pub fn comparator(&self) -> &Comparator<PairKey> {
        &self.comparator
    }

    /// Connections being paired.
    pub fn pairings(&self) -> usize {
        self.pairings.len()
    }

    /// Outcomes of the pairs of `key`, indexed like [`Outcome::ALL`].
    pub fn outcomes(&self, key: &PairKey) -> [u64; Outcome::ALL.len()] {
        self.outcomes
            .get(key)
            .copied()
            .unwrap_or([0; Outcome::ALL.len()])
    }

    /// Whether every registered pair ended in exactly one outcome or is pending:
    /// `pairs_mirrored = Σ outcomes + pending`, over the counters and over the per-route
    /// outcomes alike (those plus the pairs retired with their rule's series).
    pub fn check_conservation(&self) -> bool {
        let c = self.comparator.counters();
        let mirrored = c.get(CompareCounter::PairsMirrored);
        let pending = self.comparator.pending() as u64;
        let per_route: u64 = self.outcomes.values().flat_map(|o| o.iter()).sum();
        mirrored == c.sum(shadowtap_compare::PAIR_OUTCOMES) + pending
            && mirrored == per_route + self.retired + pending
    }

    /// `shadowtap_route_comparisons_total{route, rule, mirror, outcome}` (every outcome,
    /// zeros included, for each key that registered a pair).
    pub fn route_families(&self) -> Vec<LabelledFamily> {
        let mut keys: Vec<&PairKey> = self.outcomes.keys().collect();
        keys.sort();
        let mut rows = Vec::new();
        for k in keys {
            let counts = &self.outcomes[k];
            for (o, n) in Outcome::ALL.iter().zip(counts) {
                rows.push((
                    vec![
                        ("route", k.rule.route_label()),
                        ("rule", k.rule.rule_index.to_string()),
                        ("mirror", k.mirror.clone()),
                        ("outcome", o.name().to_owned()),
                    ],
                    *n as f64,
                ));
            }
        }
        vec![LabelledFamily {
            name: "route_comparisons",
            help: "Per mirror of a comparing rule, the mirrored requests by comparison outcome: same, status_class_differs, status_differs, headers_differ, body_differs, mirror_failed, primary_unseen, pair_timeout, over_budget. Pairs still pending are not counted yet.",
            kind: FamilyKind::Counter,
            rows,
        }]
    }

    /// The comparison layer's counters (pairing, framing, unseen reasons) and gauges.
    pub fn families(&self) -> Vec<Family> {
        let c = self.comparator.counters();
        vec![
            Family {
                name: "compare_events",
                help: "Comparison layer events by kind: pairs registered, outcomes, unseen primary responses by reason, responses framed, late results.",
                kind: FamilyKind::Counter,
                label: "event",
                values: CompareCounter::ALL
                    .iter()
                    .map(|k| (k.name(), c.get(*k)))
                    .collect(),
            },
            Family {
                name: "compare_connections",
                help: "Connections of comparing endpoints not paired, by reason: midstream (start not seen), over_cap, idle (ended after the idle timeout), over_budget (stopped to keep the pairings within --compare-pairing-budget).",
                kind: FamilyKind::Counter,
                label: "reason",
                values: vec![
                    ("midstream", self.midstream),
                    ("over_cap", self.over_cap),
                    ("idle", self.idle_ended),
                    ("over_budget", self.over_budget),
                ],
            },
            Family {
                name: "compare_pairing_bytes",
                help: "Bytes the connections' pairings hold together (their budget is --compare-pairing-budget).",
                kind: FamilyKind::Gauge,
                label: "",
                values: vec![("", self.pairing_bytes as u64)],
            },
            Family {
                name: "compare_pending",
                help: "Comparison state held: pairs awaiting a side, and connections being paired.",
                kind: FamilyKind::Gauge,
                label: "what",
                values: vec![
                    ("pairs", self.comparator.pending() as u64),
                    ("connections", self.pairings.len() as u64),
                ],
            },
        ]
    }

    /// The divergence log as JSON ([`super::DivergenceDoc`]).
    pub fn divergences_json(&self) -> String {
        serde_json::to_string(&super::DivergenceDoc::of(self.comparator.log()))
            .unwrap_or_else(|_| "{}".to_owned())
    }

    /// Bytes the pending pairs hold (the comparison budget).
    pub fn held_bytes(&self) -> usize {
        self.comparator.held_bytes()
    }

    /// Bytes the connections' pairings hold together (the pairings' budget).
    pub fn pairing_bytes(&self) -> usize {
        self.pairing_bytes
    }

    /// Pairings stopped to keep within the pairings' budget.
    pub fn stopped_over_budget(&self) -> u64 {
        self.over_budget
    }
}

/// A request that cannot be paired: a mirrored one is unseen for `reason`.
fn unseen_now(
    mirrored: Option<(PairId, Arc<CompareSpec>)>,
    reason: UnseenReason,
    events: &mut Vec<PrimaryEvent>,
    counters: &mut shadowtap_compare::Counters,
) {
    if let Some((pair, _)) = mirrored {
        counters.inc(reason.counter());
        events.push(PrimaryEvent {
            pair,
            result: PrimaryResult::Unseen(reason),
        });
    }
}

fn labels(k: &PairKey) -> Vec<(String, String)> {
    vec![
        ("route".to_owned(), k.rule.route_label()),
        ("rule".to_owned(), k.rule.rule_index.to_string()),
        ("mirror".to_owned(), k.mirror.clone()),
    ]
}

#[cfg(test)]
#[path = "tests_compare_budget.rs"]
mod tests_budget;
