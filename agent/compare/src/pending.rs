//! Pending pairs: each mirrored request waits here for its two sides — the primary's
//! response from [`crate::Http1Pairing`], the mirror's from the mirror client — and is
//! compared once both are in. Pairs are held under a byte budget (oldest dropped first,
//! `over_budget`) and a timeout (`pair_timeout`). Conservation: every registered pair ends
//! in exactly one [`Outcome`], so `pairs_mirrored` = Σ outcomes + pending. The first side
//! to fail decides: a pair whose mirror failed before its primary was unseen ends
//! `mirror_failed`, and the other way round `primary_unseen`; results for a pair that has
//! ended are counted (`late_primary`, `late_mirror`) and dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use shadowtap_wire::http1::Method;

use crate::compare::compare;
use crate::counters::{Counter, Counters};
use crate::outcome::Outcome;
use crate::pairing::{PrimaryEvent, PrimaryResult};
use crate::spec::{CompareSpec, Redaction};
use crate::store::{DivergenceLog, DivergentPair};
use crate::summary::ResponseSummary;

/// A mirrored request's pair, numbered in registration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PairId(pub u64);

/// The mirror side of one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MirrorResult {
    /// The mirror's response, summarised with the route's [`CompareSpec`].
    Response(ResponseSummary),
    /// No response to compare (connection, timeout, framing failure, or the request was
    /// dropped before it was sent).
    Failed,
}

/// Settings of the pending pairs and the divergence log.
#[derive(Clone, Debug)]
pub struct ComparatorConfig {
    /// Most bytes pending pairs may hold (requests' targets and both sides' summaries).
    pub budget_bytes: usize,
    /// Most bytes all connections' pairings may hold together (queued requests, response
    /// heads and summaries being read, HTTP/2 responses held for requests not decoded
    /// yet, decoder buffers); over it the connection holding the most stops pairing
    /// (`unseen_over_budget`). Kept by the agent's comparison state, which owns the
    /// pairings.
    pub pairing_budget_bytes: usize,
    /// How long a pair may wait for its sides, from its registration.
    pub pair_timeout: Duration,
    /// Divergent pairs kept for `shadowtap diff`.
    pub log_capacity: usize,
    /// Header values never shown.
    pub redaction: Redaction,
}

impl Default for ComparatorConfig {
    fn default() -> Self {
        ComparatorConfig {
            budget_bytes: 16 << 20,
            pairing_budget_bytes: 16 << 20,
            pair_timeout: Duration::from_secs(30),
            log_capacity: 256,
            redaction: Redaction::default(),
        }
    }
}

/// One finished pair, for the per-route series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished<K> {
    /// The route, rule and mirror it belongs to.
    pub key: K,
    /// The pair.
    pub pair: PairId,
    /// How it ended.
    pub outcome: Outcome,
    /// The primary's latency, when its response was seen.
    pub primary_latency: Option<Duration>,
    /// The mirror's latency, when it answered.
    pub mirror_latency: Option<Duration>,
}

#[derive(Debug)]
struct Pending<K> {
    key: K,
    spec: Arc<CompareSpec>,
    method: Method,
    target: Bytes,
    registered_ns: u64,
    primary: Option<ResponseSummary>,
    mirror: Option<ResponseSummary>,
    charged: usize,
}

impl<K> Pending<K> {
    fn cost(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.target.len()
            + self.primary.as_ref().map_or(0, ResponseSummary::held_bytes)
            + self.mirror.as_ref().map_or(0, ResponseSummary::held_bytes)
    }
}

/// The pending pairs of a node, their counters and the divergence log. `K` names the
/// route, rule and mirror of a pair (the agent's key for its per-route series).
#[derive(Debug)]
pub struct Comparator<K> {
    config: ComparatorConfig,
    pending: BTreeMap<PairId, Pending<K>>,
    next: u64,
    last_registered_ns: u64,
    held: usize,
    counters: Counters,
    log: DivergenceLog<K>,
}

impl<K: Clone> Comparator<K> {
    /// No pair pending.
    pub fn new(config: ComparatorConfig) -> Comparator<K> {
        let log = DivergenceLog::new(config.log_capacity);
        Comparator {
            config,
            pending: BTreeMap::new(),
            next: 0,
            last_registered_ns: 0,
            held: 0,
            counters: Counters::default(),
            log,
        }
    }

    /// A request of `key` was mirrored at `now_ns`: its pair starts waiting. Pairs the
    /// budget cannot hold any more end in `out` (`over_budget`, oldest first — possibly
    /// this one, whose later results then count as late).
    pub fn register(
        &mut self,
        key: K,
        spec: Arc<CompareSpec>,
        method: Method,
        target: &[u8],
        now_ns: u64,
        out: &mut Vec<Finished<K>>,
    ) -> PairId {
        let id = PairId(self.next);
        self.next += 1;
        // Capture clocks of several CPUs may disagree slightly: a pair never counts as
        // registered before the previous one.
        let now_ns = now_ns.max(self.last_registered_ns);
        self.last_registered_ns = now_ns;
        self.counters.inc(Counter::PairsMirrored);
        let mut p = Pending {
            key,
            spec,
            method,
            target: Bytes::copy_from_slice(target),
            registered_ns: now_ns,
            primary: None,
            mirror: None,
            charged: 0,
        };
        p.charged = p.cost();
        self.held += p.charged;
        self.pending.insert(id, p);
        self.fit_budget(out);
        id
    }

    /// The primary side of a pair, from the connection's pairing.
    pub fn primary(&mut self, event: PrimaryEvent, out: &mut Vec<Finished<K>>) {
        let Some(p) = self.pending.get_mut(&event.pair) else {
            self.counters.inc(Counter::LatePrimary);
            return;
        };
        match event.result {
            PrimaryResult::Unseen(_) => self.finish(event.pair, Outcome::PrimaryUnseen, out),
            PrimaryResult::Response(summary) => {
                p.primary = Some(summary);
                self.settle(event.pair, out);
            }
        }
    }

    /// The mirror side of a pair, from the mirror client.
    pub fn mirror(&mut self, pair: PairId, result: MirrorResult, out: &mut Vec<Finished<K>>) {
        let Some(p) = self.pending.get_mut(&pair) else {
            self.counters.inc(Counter::LateMirror);
            return;
        };
        match result {
            MirrorResult::Failed => self.finish(pair, Outcome::MirrorFailed, out),
            MirrorResult::Response(summary) => {
                p.mirror = Some(summary);
                self.settle(pair, out);
            }
        }
    }

    /// Ends, as `pair_timeout`, every pair registered more than the timeout before `now_ns`.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Finished<K>>) {
        let timeout = u64::try_from(self.config.pair_timeout.as_nanos()).unwrap_or(u64::MAX);
        // Registration times never decrease with the id (see `register`): the oldest
        // pairs come first, and the scan stops at the first one still in time.
        while let Some((&id, p)) = self.pending.first_key_value() {
            if now_ns.saturating_sub(p.registered_ns) <= timeout {
                break;
            }
            self.finish(id, Outcome::PairTimeout, out);
        }
    }

    /// Pairs waiting for a side.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes the pending pairs hold (what the budget counts).
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters, to merge the connections' pairing counters into.
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// The recent divergent pairs.
    pub fn log(&self) -> &DivergenceLog<K> {
        &self.log
    }

    /// Compares the pair when both sides are in, then re-checks the budget.
    fn settle(&mut self, id: PairId, out: &mut Vec<Finished<K>>) {
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let (Some(primary), Some(mirror)) = (&p.primary, &p.mirror) else {
            let cost = p.cost();
            self.held = self.held - p.charged + cost;
            p.charged = cost;
            self.fit_budget(out);
            return;
        };
        let c = compare(&p.spec, primary, mirror);
        if p.spec.mode().body() && !c.body_hashed {
            self.counters.inc(Counter::BodyNotHashed);
        }
        if c.outcome.diverges() {
            let entry = DivergentPair::new(
                p.key.clone(),
                id.0,
                p.method.as_str(),
                &p.target,
                primary,
                mirror,
                &c,
                &self.config.redaction,
            );
            self.counters.inc(Counter::DivergentLogged);
            if self.log.push(entry) {
                self.counters.inc(Counter::DivergentEvicted);
            }
        }
        self.finish(id, c.outcome, out);
    }

    /// Drops the oldest pairs until the held bytes fit the budget.
    fn fit_budget(&mut self, out: &mut Vec<Finished<K>>) {
        while self.held > self.config.budget_bytes {
            let Some((&oldest, _)) = self.pending.first_key_value() else {
                break;
            };
            self.finish(oldest, Outcome::OverBudget, out);
        }
    }

    fn finish(&mut self, id: PairId, outcome: Outcome, out: &mut Vec<Finished<K>>) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        self.held -= p.charged;
        self.counters.inc(outcome.counter());
        out.push(Finished {
            key: p.key,
            pair: id,
            outcome,
            primary_latency: p.primary.map(|s| s.latency),
            mirror_latency: p.mirror.map(|s| s.latency),
        });
    }
}
