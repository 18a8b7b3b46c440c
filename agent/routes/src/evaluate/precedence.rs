//! Route precedence: which of a parent's rules wins a request.
//!
//! Across all rules of all routes on one parent, the winner is the matching rule with, in
//! order: the most characters in a matching non-wildcard hostname; the most characters in any
//! matching hostname; an Exact path; the longest PathPrefix (RegularExpression paths, whose
//! precedence the spec leaves to implementations, rank below Exact and above every PathPrefix,
//! longer expressions first); a method match; the most header matches; the most query
//! parameter matches. Ties go to the oldest route (creationTimestamp; routes without one count
//! as newest), then `namespace/name` alphabetically, then the first rule in the route. The
//! tie-break order is the order of [`ParentRules::rules`](crate::model::ParentRules::rules), so
//! the first best key wins.

use super::conditions::entry_matches;
use super::host::{best_host_match, HostScore};
use super::request::ParsedRequest;
use crate::model::{PathMatch, RouteMatch, RuleEntry};

/// The comparable strength of one matching (rule, match) for one request; larger wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MatchKey {
    /// Hostname characters (non-wildcard, then any).
    host: HostScore,
    /// 3 Exact, 2 RegularExpression, 1 PathPrefix.
    path_class: u8,
    /// Characters of the path value.
    path_len: usize,
    /// Whether a method is matched.
    method: bool,
    /// Number of header matches.
    headers: usize,
    /// Number of query parameter matches.
    query_params: usize,
}

impl MatchKey {
    /// The key of `m` under host score `host`.
    fn of(m: &RouteMatch, host: HostScore) -> Self {
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
fn rule_key(rule: &RuleEntry, req: &ParsedRequest<'_>) -> Option<MatchKey> {
    let host = best_host_match(&rule.hostnames, req.host.as_deref())?;
    rule.matches
        .iter()
        .filter(|m| entry_matches(m, req))
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
