//! Route precedence and the per-request decision.
//!
//! Across all rules of all routes on one parent, the winner is the matching rule with, in
//! order: the most characters in a matching non-wildcard hostname; the most characters in any
//! matching hostname; an Exact path; the longest PathPrefix (RegularExpression paths, whose
//! precedence the spec leaves to implementations, rank below Exact and above every PathPrefix,
//! longer expressions first); a method match; the most header matches; the most query
//! parameter matches. Ties go to the oldest route (creationTimestamp; routes without one count
//! as newest), then `namespace/name` alphabetically, then the first rule in the route. The
//! tie-break order is the order of [`ParentRules::rules`], so the first best key wins.

use super::host::{best_host_match, HostScore};
use super::request::{ParsedRequest, RequestView};
use super::{PathMatch, RouteMatch};
use crate::plan::{EndpointRules, MirrorTarget, ParentRules, RuleEntry, RuleId};

/// The comparable strength of one matching (rule, match) for one request; larger wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MatchKey {
    /// Hostname characters (non-wildcard, then any).
    pub host: HostScore,
    /// 3 Exact, 2 RegularExpression, 1 PathPrefix.
    pub path_class: u8,
    /// Characters of the path value.
    pub path_len: usize,
    /// Whether a method is matched.
    pub method: bool,
    /// Number of header matches.
    pub headers: usize,
    /// Number of query parameter matches.
    pub query_params: usize,
}

impl MatchKey {
    /// The key of `m` under host score `host`.
    pub fn of(m: &RouteMatch, host: HostScore) -> Self {
        let (path_class, path_len) = match &m.path {
            PathMatch::Exact(v) => (3, v.len()),
            PathMatch::RegularExpression(p) => (2, p.as_str().len()),
            PathMatch::Prefix(v) => (1, v.len()),
        };
        Self {
            host,
            path_class,
            path_len,
            method: m.method.is_some(),
            headers: m.headers.len(),
            query_params: m.query_params.len(),
        }
    }
}

/// The best key of `rule` for `req`, `None` if it does not match.
pub fn rule_key(rule: &RuleEntry, req: &ParsedRequest<'_>) -> Option<MatchKey> {
    let host = best_host_match(&rule.hostnames, req.host.as_deref())?;
    rule.matches
        .iter()
        .filter(|m| m.matches(req))
        .map(|m| MatchKey::of(m, host))
        .max()
}

/// The winning rule among `rules` (in tie-break order).
pub fn winner<'p>(rules: &'p [RuleEntry], req: &ParsedRequest<'_>) -> Option<&'p RuleEntry> {
    let mut best: Option<(MatchKey, &RuleEntry)> = None;
    for rule in rules {
        if let Some(k) = rule_key(rule, req) {
            if best.is_none_or(|(bk, _)| k > bk) {
                best = Some((k, rule));
            }
        }
    }
    best.map(|(_, r)| r)
}

/// What happens to one request at one endpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision<'p> {
    /// A rule of a labelled route that routes here won; draw for each mirror (may be empty
    /// when the rule has no RequestMirror filter).
    Matched {
        /// The winning rule.
        rule: &'p RuleId,
        /// Its mirrors.
        mirrors: &'p [MirrorTarget],
    },
    /// A rule of a route without the opt-in label won: not ours, no mirror.
    WonByUnlabelled {
        /// The winning rule.
        rule: &'p RuleId,
    },
    /// A labelled rule that sends elsewhere won: the request did not come here via it.
    WonByOtherBackend {
        /// The winning rule.
        rule: &'p RuleId,
    },
    /// No rule of any parent matched.
    NotMatched,
}

impl Decision<'_> {
    fn rank(&self) -> u8 {
        match self {
            Decision::Matched { mirrors, .. } if !mirrors.is_empty() => 4,
            Decision::Matched { .. } => 3,
            Decision::WonByOtherBackend { .. } => 2,
            Decision::WonByUnlabelled { .. } => 1,
            Decision::NotMatched => 0,
        }
    }

    /// The mirrors to draw for (empty unless [`Decision::Matched`]).
    pub fn mirrors(&self) -> &[MirrorTarget] {
        match self {
            Decision::Matched { mirrors, .. } => mirrors,
            _ => &[],
        }
    }

    /// A stable snake_case name (metric label).
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Matched { .. } => "matched",
            Decision::WonByUnlabelled { .. } => "won_by_unlabelled",
            Decision::WonByOtherBackend { .. } => "won_by_other_backend",
            Decision::NotMatched => "not_matched",
        }
    }
}

fn decide_parent<'p>(parent: &'p ParentRules, req: &ParsedRequest<'_>) -> Decision<'p> {
    match winner(&parent.rules, req) {
        None => Decision::NotMatched,
        Some(r) if !r.labelled => Decision::WonByUnlabelled { rule: &r.id },
        Some(r) if !r.routes_here => Decision::WonByOtherBackend { rule: &r.id },
        Some(r) => Decision::Matched {
            rule: &r.id,
            mirrors: &r.mirrors,
        },
    }
}

/// Decides one request at an endpoint. Each parent is decided on its own; when the endpoint
/// serves several parents (the request may have come through any), the first parent whose
/// winner mirrors decides, else the most specific outcome.
pub fn route_request<'p>(rules: &'p EndpointRules, req: &RequestView<'_>) -> Decision<'p> {
    let parsed = ParsedRequest::new(req);
    let mut best = Decision::NotMatched;
    for parent in &rules.parents {
        let d = decide_parent(parent, &parsed);
        if d.rank() > best.rank() {
            best = d;
        }
    }
    best
}
