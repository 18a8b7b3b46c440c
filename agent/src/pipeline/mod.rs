//! The user-space half of the data path: capture events in, mirror submissions out.
//!
//! ```text
//! ring record ─▶ Segment ─▶ Reconstructor ─┬▶ Request (HTTP/1) ──────┬▶ route (plan) ─▶ sample ─▶ MirrorSink
//!                                           └▶ H2FlowRequest (h2c) ───┘
//! ```
//!
//! HTTP/2 requests go through the same matching (`:authority` as Host, `:path` as the
//! target, `:method`, the fields), the same sampler and the same per-route series as
//! HTTP/1 ones; only the sink's method differs ([`MirrorSink::submit_h2`]).
//!
//! One [`Pipeline`] runs on one task and owns its state; nothing here blocks or awaits. Its
//! counters satisfy, at every moment:
//!
//! ```text
//! requests decoded = marked (already a mirror) + not matched (by reason) + matched without mirror
//!                  + matched with mirrors
//! mirror draws     = Σ over matched requests of their rule's mirrors
//!                  = not sampled + submitted + refused at submit (by reason)
//! ```

mod comparison;
mod counters;
mod divergences;
mod reconstruct_families;
mod route_stats;
mod view;

use std::sync::Arc;

use shadowtap_compare::{CompareSpec, PairId};
use shadowtap_mirror::{CompareTicket, Tally};
use shadowtap_reconstruct::{FlowKey, H2FlowRequest, Method, Reconstructor, Request, Segment};
use shadowtap_routes::{plan::MirrorTarget, route_request, Decision, Plan, Sampler};

pub use comparison::{CompareLatency, Comparison, PairKey, MAX_PAIRINGS, PAIRING_IDLE};
pub use counters::{NotMatched, PipelineCounters};
pub use divergences::{DivergenceDoc, DivergenceEntry, DivergentHeader};
pub use route_stats::{
    route_latency_family, DrawOutcome, MirrorStats, RouteLatencyFamily, RouteStats, WonRule,
};
pub use view::OwnedView;

use crate::metrics::{Family, FamilyKind, Snapshots};

/// Where sampled requests go. The agent's implementation queues them for replay; it must
/// never block.
pub trait MirrorSink {
    /// Queue `request` for `mirror`; an error is the reason it was refused (a metric label).
    /// Once queued, its delivery is counted on `tally` (the rule's mirror).
    fn submit(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        tally: Option<Tally>,
    ) -> Result<(), &'static str>;

    /// [`submit`](Self::submit) for a request whose mirror's response is compared: the
    /// mirror client reports it on `ticket`. A sink that cannot compare drops the ticket,
    /// which reports the pair's mirror side as failed.
    fn submit_compared(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        tally: Option<Tally>,
        ticket: CompareTicket,
    ) -> Result<(), &'static str> {
        drop(ticket);
        self.submit(mirror, request, tally)
    }

    /// [`submit`](Self::submit) for an HTTP/2 request (replayed over HTTP/2).
    fn submit_h2(
        &mut self,
        mirror: &MirrorTarget,
        request: &H2FlowRequest,
        tally: Option<Tally>,
    ) -> Result<(), &'static str>;

    /// [`submit_h2`](Self::submit_h2) for a request whose mirror's response is compared:
    /// the mirror client reports it on `ticket`. A sink that cannot compare drops the
    /// ticket, which reports the pair's mirror side as failed.
    fn submit_h2_compared(
        &mut self,
        mirror: &MirrorTarget,
        request: &H2FlowRequest,
        tally: Option<Tally>,
        ticket: CompareTicket,
    ) -> Result<(), &'static str> {
        drop(ticket);
        self.submit_h2(mirror, request, tally)
    }

    /// The pipeline switched to `plan`: the mirrors it submits for from now on are `plan`'s
    /// (so a sink may prepare per-mirror state once per plan instead of once per request).
    /// The default does nothing.
    fn set_plan(&mut self, plan: &Plan) {
        let _ = plan;
    }

    /// The caller's pass over new records ended: requests the sink holds back (or whose
    /// delivery it defers) go now. The default does nothing.
    fn flush(&mut self) {}
}

/// A decoded request of either protocol, as the pipeline routes it.
#[derive(Clone, Copy)]
enum Decoded<'r> {
    Http1(&'r Request),
    H2(&'r H2FlowRequest),
}

impl Decoded<'_> {
    /// The flow the request came on.
    fn flow(&self) -> &FlowKey {
        match self {
            Decoded::Http1(r) => r.flow(),
            Decoded::H2(r) => &r.flow,
        }
    }
}

/// Reconstruction, routing and sampling for one node.
pub struct Pipeline<S> {
    reconstructor: Reconstructor,
    sampler: Sampler,
    plan: Arc<Plan>,
    sink: S,
    marker: String,
    counters: PipelineCounters,
    routes: RouteStats,
    /// The requests of one reconstructor call, between calls empty (its allocation kept).
    scratch: Vec<Request>,
    comparison: Comparison,
}

/// What routing one request decided, for the comparison.
struct Routed {
    /// Its endpoint compares responses.
    compares: bool,
    /// It was mirrored with a pair.
    pair: Option<(PairId, Arc<CompareSpec>)>,
}

impl Routed {
    const NOT_COMPARED: Routed = Routed {
        compares: false,
        pair: None,
    };
}

impl<S: MirrorSink> Pipeline<S> {
    /// A pipeline with an empty plan. `marker` is the header that identifies replayed
    /// requests (they are never mirrored again).
    pub fn new(reconstructor: Reconstructor, sampler: Sampler, sink: S, marker: &str) -> Self {
        Self {
            reconstructor,
            sampler,
            plan: Arc::new(Plan::default()),
            sink,
            marker: marker.to_ascii_lowercase(),
            counters: PipelineCounters::default(),
            routes: RouteStats::default(),
            scratch: Vec::new(),
            comparison: Comparison::default(),
        }
    }

    /// Also observe comparing routes' latencies on `latency` (registered by the caller).
    #[must_use]
    pub fn with_compare_latency(mut self, latency: CompareLatency) -> Self {
        self.comparison.set_latency(latency);
        self
    }

    /// Compare with these settings (pending-pair budget, timeout, log size, redaction);
    /// call before [`with_compare_latency`](Self::with_compare_latency).
    #[must_use]
    pub fn with_comparator(mut self, config: shadowtap_compare::ComparatorConfig) -> Self {
        self.comparison = Comparison::new(config);
        self.comparison.set_plan(&self.plan);
        self
    }

    /// The comparison state (pairs, outcomes, divergence log).
    pub fn comparison(&self) -> &Comparison {
        &self.comparison
    }

    /// Also observe per-route mirror latency on `latency` (registered by the caller).
    #[must_use]
    pub fn with_route_latency(mut self, latency: RouteLatencyFamily) -> Self {
        self.routes = RouteStats::with_latency(latency);
        self
    }

    /// Switch to a new plan. Flows in progress keep their reassembly state.
    pub fn set_plan(&mut self, plan: Arc<Plan>) {
        self.routes.set_plan(&plan);
        self.sink.set_plan(&plan);
        self.comparison.set_plan(&plan);
        self.plan = plan;
    }

    /// The current plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Feed one segment.
    pub fn push(&mut self, segment: Segment) {
        let mut requests = std::mem::take(&mut self.scratch);
        requests.extend(self.reconstructor.push(segment));
        self.handle_output(requests);
    }

    /// Advance capture time (idle eviction, gap timeouts), and the comparison's timers.
    pub fn advance_time(&mut self, now_ns: u64) {
        let mut requests = std::mem::take(&mut self.scratch);
        requests.extend(self.reconstructor.advance_time(now_ns));
        self.handle_output(requests);
        self.comparison.tick(now_ns);
    }

    /// Ends a pass over new records: the sink delivers what it deferred
    /// ([`MirrorSink::flush`]).
    pub fn flush_mirrors(&mut self) {
        self.sink.flush();
    }

    /// Reads the mirror client's comparison reports received so far.
    pub fn poll_comparisons(&mut self) {
        self.comparison.poll_reports();
    }

    /// Routes the requests of the last reconstructor call, with the request-stream losses
    /// placed among them and the response events after them, then the HTTP/2 requests;
    /// keeps the vector's allocation for the next call.
    fn handle_output(&mut self, mut requests: Vec<Request>) {
        // Empty (no allocation, nothing collected) unless a request stream lost sync in
        // this call.
        let losses: Vec<(FlowKey, usize)> = {
            let drain = self.reconstructor.drain_request_losses();
            if drain.len() == 0 {
                Vec::new()
            } else {
                drain.collect()
            }
        };
        let mut losses = losses.into_iter().peekable();
        for (i, r) in requests.drain(..).enumerate() {
            while let Some((flow, _)) = losses.next_if(|(_, at)| *at <= i) {
                self.comparison.request_lost(&flow);
            }
            self.handle(&r);
        }
        for (flow, _) in losses {
            self.comparison.request_lost(&flow);
        }
        for ev in self.reconstructor.drain_responses() {
            self.comparison.response(ev);
        }
        self.scratch = requests;
        self.handle_h2_output();
    }

    /// Route and sample the HTTP/2 requests the last reconstructor call completed.
    fn handle_h2_output(&mut self) {
        let h2 = self.reconstructor.drain_h2();
        if h2.len() == 0 {
            return;
        }
        let h2: Vec<H2FlowRequest> = h2.collect();
        for r in h2 {
            self.handle_h2(&r);
        }
    }

    /// Route and sample one decoded HTTP/1 request; on an endpoint that compares, the
    /// request takes its place in its connection's pairing (mirrored with a pair or not).
    pub fn handle(&mut self, request: &Request) {
        let routed = self.route(Decoded::Http1(request));
        if routed.compares {
            self.comparison.request(
                *request.flow(),
                request.method(),
                request.last_ts_ns(),
                routed.pair,
            );
        }
    }

    /// Route and sample one decoded HTTP/2 request; on an endpoint that compares, the
    /// stream takes its place in its connection's pairing by stream id (mirrored with a
    /// pair or not).
    pub fn handle_h2(&mut self, request: &H2FlowRequest) {
        let routed = self.route(Decoded::H2(request));
        if routed.compares {
            self.comparison.request_h2(
                request.flow,
                request.request.stream_id,
                request.last_ts_ns,
                routed.pair,
            );
        }
    }

    fn route(&mut self, request: Decoded<'_>) -> Routed {
        self.counters.decoded += 1;
        let marked = match request {
            Decoded::Http1(r) => r.header(&self.marker).is_some(),
            Decoded::H2(r) => r.request.header_values(&self.marker).next().is_some(),
        };
        let server = request.flow().server();
        let plan = self.plan.clone();
        let endpoint = plan.endpoint(&server);
        let compares = endpoint.is_some_and(|e| e.compare.is_some());
        let unpaired = Routed {
            compares,
            pair: None,
        };
        if marked {
            self.counters.marked += 1;
            return unpaired;
        }
        let Some(endpoint) = endpoint else {
            self.counters.not_matched(NotMatched::NoEndpoint);
            return Routed::NOT_COMPARED;
        };
        let Some(rules) = plan.route_sets.get(&endpoint.route_set) else {
            self.counters.not_matched(NotMatched::NoEndpoint);
            return unpaired;
        };
        let view = match request {
            Decoded::Http1(r) => OwnedView::new(r),
            Decoded::H2(r) => OwnedView::from_h2(&r.request),
        };
        let Some(view) = view else {
            self.counters.not_matched(NotMatched::NotUtf8);
            return unpaired;
        };
        // GAMMA consumer routes apply to the clients of their namespace: the client's pod IP
        // says which. Other clients follow the producer routes; those whose IP does not tell
        // (a host-network pod's) are counted. Route sets without consumer routes skip this.
        let client_namespace = if rules.has_consumer_routes() {
            let ip = request.flow().client().ip();
            let ns = plan.client_namespace(ip);
            if ns.is_none() && plan.client_unknown(ip) {
                self.counters.client_namespace_unknown += 1;
            }
            ns
        } else {
            None
        };
        let (rule, mirrors) = match route_request(rules, &view.view(), client_namespace) {
            Decision::Matched { rule, mirrors } => (rule, mirrors),
            Decision::WonByUnlabelled { .. } => {
                self.counters.not_matched(NotMatched::WonByUnlabelled);
                return unpaired;
            }
            Decision::WonByOtherBackend { .. } => {
                self.counters.not_matched(NotMatched::WonByOtherBackend);
                return unpaired;
            }
            Decision::NotMatched => {
                self.counters.not_matched(NotMatched::NoRule);
                return unpaired;
            }
        };
        let mut won = self.routes.won(rule);
        if mirrors.is_empty() {
            self.counters.matched_without_mirror += 1;
            return unpaired;
        }
        self.counters.matched_with_mirrors += 1;
        // The rate the kernel captures this endpoint's flows at, from the plan (the kernel
        // map holds the same value), so each request is mirrored with probability p.
        let q = endpoint.capture_threshold;
        let mut pair = None;
        for (i, mirror) in mirrors.iter().enumerate() {
            self.counters.draws += 1;
            let mut stats = won.as_mut().map(|w| w.mirror(rule, i, mirror));
            let outcome = if !self.sampler.sample(mirror.fraction, q) {
                self.counters.not_sampled += 1;
                DrawOutcome::NotSampled
            } else {
                let tally = stats.as_ref().map(|s| s.tally());
                // One pair per request: the first sampled mirror of a comparing rule.
                let spec = match &pair {
                    None if compares => self.comparison.spec(rule, &mirror.field),
                    _ => None,
                };
                // The method and target the divergence log shows (an HTTP/2 method that
                // HTTP/1's grammar does not know, an extension, is not compared).
                let shown = match request {
                    Decoded::Http1(r) => Some((r.method(), r.target(), r.last_ts_ns())),
                    Decoded::H2(r) => Method::from_token(&r.request.pseudo.method).map(|m| {
                        let path = r.request.pseudo.path.as_deref().unwrap_or_default();
                        (m, path, r.last_ts_ns)
                    }),
                };
                let ticket = spec.zip(shown).map(|(spec, (method, target, end_ns))| {
                    let key = PairKey {
                        rule: rule.clone(),
                        mirror: mirror.backend.to_string(),
                    };
                    let ticket =
                        self.comparison
                            .register(key, spec.clone(), method, target, end_ns);
                    pair = Some((ticket.pair(), spec));
                    ticket
                });
                let submitted = match (request, ticket) {
                    (Decoded::Http1(r), Some(ticket)) => {
                        self.sink.submit_compared(mirror, r, tally, ticket)
                    }
                    (Decoded::Http1(r), None) => self.sink.submit(mirror, r, tally),
                    (Decoded::H2(r), Some(ticket)) => {
                        self.sink.submit_h2_compared(mirror, r, tally, ticket)
                    }
                    (Decoded::H2(r), None) => self.sink.submit_h2(mirror, r, tally),
                };
                match submitted {
                    Ok(()) => {
                        self.counters.submitted += 1;
                        DrawOutcome::Submitted
                    }
                    Err(reason) => {
                        self.counters.refused(reason);
                        DrawOutcome::Refused(reason)
                    }
                }
            };
            if let Some(s) = stats.as_mut() {
                s.count(outcome);
            }
        }
        Routed { compares, pair }
    }

    /// The pipeline's counters.
    pub fn counters(&self) -> &PipelineCounters {
        &self.counters
    }

    /// The reconstruction library's state and counters.
    pub fn reconstructor(&self) -> &Reconstructor {
        &self.reconstructor
    }

    /// The sink (tests inspect what was submitted).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Publish every counter of this pipeline and of reconstruction as metric snapshots.
    pub fn publish(&self, snapshots: &Snapshots) {
        let mut families = self.counters.families();
        families.extend(reconstruct_families::reconstruct_families(
            self.reconstructor.counters(),
        ));
        families.push(reconstruct_families::h2_family(
            &self.reconstructor.h2_counters(),
        ));
        families.push(Family {
            name: "flows_live",
            help: "TCP flows being reassembled.",
            kind: FamilyKind::Gauge,
            label: "",
            values: vec![("", self.reconstructor.flows() as u64)],
        });
        families.push(Family {
            name: "budget_bytes",
            help: "Bytes held against each memory budget.",
            kind: FamilyKind::Gauge,
            label: "budget",
            values: vec![
                ("reassembly", self.reconstructor.reassembly_bytes() as u64),
                (
                    "bodies_in_flight",
                    self.reconstructor.inflight_bytes() as u64,
                ),
            ],
        });
        families.extend(self.comparison.families());
        families.push(Family {
            name: "compare_budget_bytes",
            help: "Bytes the pending comparison pairs hold (their budget is --compare-budget).",
            kind: FamilyKind::Gauge,
            label: "",
            values: vec![("", self.comparison.held_bytes() as u64)],
        });
        families.push(reconstruct_families::response_family(
            self.reconstructor.response_counters(),
        ));
        snapshots.publish("pipeline", families);
        let mut labelled = self.routes.families();
        labelled.extend(self.comparison.route_families());
        snapshots.publish_labelled("routes", labelled);
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_compare;
#[cfg(test)]
mod tests_compare_h2;
#[cfg(test)]
mod tests_compare_support;
#[cfg(test)]
mod tests_gamma_ports;
#[cfg(test)]
mod tests_h2;
