//! Per-route counters of this node: the requests each rule won and, per mirror of the rule,
//! what became of them — not sampled, refused at submission, sent (with the mirror's
//! response class and latency) or dropped after queueing — next to the fraction the route
//! configures. Draws are plain numbers on the pipeline's task; delivery outcomes come back
//! from the mirror client's workers through each mirror's [`Tally`]. Published as snapshots
//! (the latency as a histogram family); the series follow the plan (a rule that leaves the
//! plan takes its series with it), so cardinality is bounded by routes × rules × mirrors.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use prometheus_client::metrics::{family::Family as PromFamily, histogram::Histogram};
use shadowtap_mirror::Tally;
use shadowtap_routes::{
    plan::{MirrorTarget, RuleId},
    Fraction, Plan,
};

use crate::metrics::{FamilyKind, LabelledFamily};

/// `shadowtap_route_mirror_latency_seconds{route, rule, mirror}`: registered once in the
/// agent's registry; the route statistics add and remove its series with the plan.
pub type RouteLatencyFamily = PromFamily<Vec<(String, String)>, Histogram, fn() -> Histogram>;

/// An empty latency family with the per-backend histogram's buckets.
pub fn route_latency_family() -> RouteLatencyFamily {
    PromFamily::new_with_constructor(shadowtap_mirror::latency_histogram as fn() -> Histogram)
}

fn latency_labels(id: &RuleId, mirror: &str) -> Vec<(String, String)> {
    vec![
        ("route".to_owned(), id.route_label()),
        ("rule".to_owned(), id.rule_index.to_string()),
        ("mirror".to_owned(), mirror.to_owned()),
    ]
}

/// Outcomes of one mirror of one rule.
#[derive(Clone, Debug)]
pub struct MirrorStats {
    /// The filter's field path in the route (identifies the mirror within the rule).
    field: String,
    /// `namespace/name:port` of the mirror Service.
    label: String,
    fraction: Fraction,
    not_sampled: u64,
    /// Refused at submission, by reason.
    refused: Vec<(&'static str, u64)>,
    /// Sent (with response classes and latency) or dropped after queueing.
    delivered: Tally,
}

impl MirrorStats {
    fn new(id: &RuleId, m: &MirrorTarget, latency: Option<&RouteLatencyFamily>) -> Self {
        let label = m.backend.to_string();
        let delivered = match latency {
            Some(f) => Tally::with_latency(f.get_or_create(&latency_labels(id, &label)).clone()),
            None => Tally::new(),
        };
        Self {
            field: m.field.clone(),
            label,
            fraction: m.fraction,
            not_sampled: 0,
            refused: Vec::new(),
            delivered,
        }
    }

    /// Where the mirror client counts the delivery of a request submitted for this mirror.
    pub fn tally(&self) -> Tally {
        self.delivered.clone()
    }

    /// Counts the outcome of a draw (delivery after submission is counted by the tally).
    pub fn count(&mut self, outcome: DrawOutcome) {
        match outcome {
            DrawOutcome::NotSampled => self.not_sampled += 1,
            DrawOutcome::Submitted => {}
            DrawOutcome::Refused(reason) => {
                match self.refused.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, n)) => *n += 1,
                    None => self.refused.push((reason, 1)),
                }
            }
        }
    }
}

/// Requests one rule won, and its mirrors.
#[derive(Clone, Debug, Default)]
struct RuleStats {
    won: u64,
    mirrors: Vec<MirrorStats>,
}

/// The statistics of a rule that won the request being routed.
pub struct WonRule<'a> {
    stats: &'a mut RuleStats,
    latency: Option<&'a RouteLatencyFamily>,
}

impl WonRule<'_> {
    /// The statistics of `mirror`, the `index`th mirror of `rule` (this rule): the caller
    /// takes the tally and counts the draw's outcome on what this returns.
    pub fn mirror(
        &mut self,
        rule: &RuleId,
        index: usize,
        mirror: &MirrorTarget,
    ) -> &mut MirrorStats {
        let r = &mut *self.stats;
        let i = match r.mirrors.get(index) {
            Some(s) if s.field == mirror.field => index,
            _ => match r.mirrors.iter().position(|s| s.field == mirror.field) {
                Some(i) => i,
                None => {
                    r.mirrors.push(MirrorStats::new(rule, mirror, self.latency));
                    r.mirrors.len() - 1
                }
            },
        };
        &mut r.mirrors[i]
    }
}

/// What happened to one draw (delivery after submission is counted by the mirror's
/// [`Tally`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrawOutcome {
    /// The request was not selected.
    NotSampled,
    /// Handed to the mirror client.
    Submitted,
    /// Refused at submission, with the reason.
    Refused(&'static str),
}

/// Per-route counters (see the module docs).
#[derive(Debug, Default)]
pub struct RouteStats {
    rules: HashMap<RuleId, RuleStats, RandomState>,
    latency: Option<RouteLatencyFamily>,
}

impl RouteStats {
    /// Route statistics that also observe mirror latency on `latency`.
    pub fn with_latency(latency: RouteLatencyFamily) -> Self {
        Self {
            rules: HashMap::default(),
            latency: Some(latency),
        }
    }

    /// Follow a new plan: keep the counts of rules and mirrors still in it, start the new
    /// ones at zero, drop the rest.
    pub fn set_plan(&mut self, plan: &Plan) {
        let mut next: HashMap<RuleId, RuleStats, RandomState> = HashMap::default();
        let rules = plan
            .route_sets
            .values()
            .flat_map(|s| s.parents.iter())
            .flat_map(|p| p.rules.iter())
            .filter(|r| r.labelled && r.routes_here());
        for rule in rules {
            let old = self.rules.remove(&rule.id).unwrap_or_default();
            let entry = next.entry(rule.id.clone()).or_default();
            entry.won = entry.won.max(old.won);
            for m in &rule.mirrors {
                if entry.mirrors.iter().any(|s| s.field == m.field) {
                    continue;
                }
                let label = m.backend.to_string();
                let mut stats = old
                    .mirrors
                    .iter()
                    .find(|s| s.field == m.field && s.label == label)
                    .cloned()
                    .unwrap_or_else(|| MirrorStats::new(&rule.id, m, self.latency.as_ref()));
                stats.fraction = m.fraction;
                entry.mirrors.push(stats);
            }
        }
        if let Some(family) = &self.latency {
            for (id, gone) in &self.rules {
                for m in &gone.mirrors {
                    let kept = next
                        .get(id)
                        .is_some_and(|r| r.mirrors.iter().any(|s| s.label == m.label));
                    if !kept {
                        family.remove(&latency_labels(id, &m.label));
                    }
                }
            }
        }
        self.rules = next;
    }

    /// `rule` won a request: counts it, and returns the rule's statistics for its mirrors'
    /// draws (one lookup per request); `None` for a rule outside the plan.
    pub fn won(&mut self, rule: &RuleId) -> Option<WonRule<'_>> {
        let stats = self.rules.get_mut(rule)?;
        stats.won += 1;
        Some(WonRule {
            stats,
            latency: self.latency.as_ref(),
        })
    }

    /// `shadowtap_route_requests_total{route, rule}`,
    /// `shadowtap_route_mirror_requests_total{route, rule, mirror, outcome}`,
    /// `shadowtap_route_mirror_responses_total{route, rule, mirror, class}` and
    /// `shadowtap_route_mirror_fraction{route, rule, mirror}`.
    pub fn families(&self) -> Vec<LabelledFamily> {
        let mut requests = Vec::new();
        let mut draws = Vec::new();
        let mut responses = Vec::new();
        let mut fractions = Vec::new();
        let mut ids: Vec<&RuleId> = self.rules.keys().collect();
        ids.sort();
        for id in ids {
            let r = &self.rules[id];
            let route = id.route_label();
            let rule = id.rule_index.to_string();
            let base = || vec![("route", route.clone()), ("rule", rule.clone())];
            requests.push((base(), r.won as f64));
            for m in &r.mirrors {
                let with_mirror = || {
                    let mut l = base();
                    l.push(("mirror", m.label.clone()));
                    l
                };
                fractions.push((
                    with_mirror(),
                    f64::from(m.fraction.numerator) / f64::from(m.fraction.denominator),
                ));
                let outcome = |o: &str| {
                    let mut l = with_mirror();
                    l.push(("outcome", o.to_owned()));
                    l
                };
                draws.push((outcome("sent"), m.delivered.sent_count() as f64));
                draws.push((outcome("not_sampled"), m.not_sampled as f64));
                let mut lost: Vec<(&str, u64)> = m.refused.clone();
                for (reason, n) in m.delivered.dropped_counts() {
                    match lost.iter_mut().find(|(r, _)| *r == reason.as_str()) {
                        Some((_, total)) => *total += n,
                        None => lost.push((reason.as_str(), n)),
                    }
                }
                for (reason, n) in lost {
                    draws.push((outcome(reason), n as f64));
                }
                for (class, n) in m.delivered.response_counts() {
                    let mut l = with_mirror();
                    l.push(("class", class.to_owned()));
                    responses.push((l, n as f64));
                }
            }
        }
        vec![
            LabelledFamily {
                name: "route_requests",
                help: "Requests decoded on this node that the rule won (route = namespace/name, rule = index).",
                kind: FamilyKind::Counter,
                rows: requests,
            },
            LabelledFamily {
                name: "route_mirror_requests",
                help: "Per mirror of a rule, the requests it won by outcome: sent (answered by the mirror), not_sampled, or the reason it was lost (refused at submission or dropped after queueing). Requests queued or in flight are not counted yet.",
                kind: FamilyKind::Counter,
                rows: draws,
            },
            LabelledFamily {
                name: "route_mirror_responses",
                help: "Per mirror of a rule, the mirror's final responses by status class.",
                kind: FamilyKind::Counter,
                rows: responses,
            },
            LabelledFamily {
                name: "route_mirror_fraction",
                help: "The fraction (0-1) the rule's RequestMirror filter configures.",
                kind: FamilyKind::Gauge,
                rows: fractions,
            },
        ]
    }
}
