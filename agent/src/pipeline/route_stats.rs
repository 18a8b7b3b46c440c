//! Per-route counters of this node: the requests each rule won and, per mirror of the rule,
//! the draws by outcome, next to the fraction the route configures. Kept as plain numbers on
//! the pipeline's task and published as snapshots; the series follow the plan (a rule that
//! leaves the plan takes its series with it), so cardinality is bounded by routes × rules ×
//! mirrors.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use shadowtap_routes::{
    plan::{MirrorTarget, RuleId},
    Fraction, Plan,
};

use crate::metrics::{FamilyKind, LabelledFamily};

/// Draw outcomes of one mirror of one rule.
#[derive(Clone, Debug)]
struct MirrorStats {
    /// The filter's field path in the route (identifies the mirror within the rule).
    field: String,
    /// `namespace/name:port` of the mirror Service.
    label: String,
    fraction: Fraction,
    not_sampled: u64,
    submitted: u64,
    /// Refused at submission, by reason.
    refused: Vec<(&'static str, u64)>,
}

impl MirrorStats {
    fn new(m: &MirrorTarget) -> Self {
        Self {
            field: m.field.clone(),
            label: m.backend.to_string(),
            fraction: m.fraction,
            not_sampled: 0,
            submitted: 0,
            refused: Vec::new(),
        }
    }
}

/// Requests one rule won, and its mirrors.
#[derive(Clone, Debug, Default)]
struct RuleStats {
    won: u64,
    mirrors: Vec<MirrorStats>,
}

/// What happened to one draw.
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
}

impl RouteStats {
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
                let mut stats = old
                    .mirrors
                    .iter()
                    .find(|s| s.field == m.field)
                    .cloned()
                    .unwrap_or_else(|| MirrorStats::new(m));
                stats.label = m.backend.to_string();
                stats.fraction = m.fraction;
                entry.mirrors.push(stats);
            }
        }
        self.rules = next;
    }

    /// `rule` won a request.
    pub fn won(&mut self, rule: &RuleId) {
        if let Some(r) = self.rules.get_mut(rule) {
            r.won += 1;
        }
    }

    /// The outcome of the draw for `mirror` (the `index`th mirror of `rule`).
    pub fn drawn(
        &mut self,
        rule: &RuleId,
        index: usize,
        mirror: &MirrorTarget,
        outcome: DrawOutcome,
    ) {
        let Some(r) = self.rules.get_mut(rule) else {
            return;
        };
        let i = match r.mirrors.get(index) {
            Some(s) if s.field == mirror.field => index,
            _ => match r.mirrors.iter().position(|s| s.field == mirror.field) {
                Some(i) => i,
                None => {
                    r.mirrors.push(MirrorStats::new(mirror));
                    r.mirrors.len() - 1
                }
            },
        };
        let stats = &mut r.mirrors[i];
        match outcome {
            DrawOutcome::NotSampled => stats.not_sampled += 1,
            DrawOutcome::Submitted => stats.submitted += 1,
            DrawOutcome::Refused(reason) => {
                match stats.refused.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, n)) => *n += 1,
                    None => stats.refused.push((reason, 1)),
                }
            }
        }
    }

    /// `shadowtap_route_requests_total{route, rule}`,
    /// `shadowtap_route_mirror_requests_total{route, rule, mirror, outcome}` and
    /// `shadowtap_route_mirror_fraction{route, rule, mirror}`.
    pub fn families(&self) -> Vec<LabelledFamily> {
        let mut requests = Vec::new();
        let mut draws = Vec::new();
        let mut fractions = Vec::new();
        let mut ids: Vec<&RuleId> = self.rules.keys().collect();
        ids.sort();
        for id in ids {
            let r = &self.rules[id];
            let route = id.route.to_string();
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
                draws.push((outcome("submitted"), m.submitted as f64));
                draws.push((outcome("not_sampled"), m.not_sampled as f64));
                for (reason, n) in &m.refused {
                    draws.push((outcome(reason), *n as f64));
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
                help: "Per mirror of a rule, the requests it won by draw outcome: submitted (handed to the mirror client; delivery outcomes are in shadowtap_mirror_requests_total by backend), not_sampled, or a refusal reason.",
                kind: FamilyKind::Counter,
                rows: draws,
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
