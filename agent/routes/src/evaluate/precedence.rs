//! Route precedence: which of a parent's rules wins a request.
//!
//! HTTPRoute rules: across all rules of all routes on one parent, the winner is the
//! matching rule with, in order: the most characters in a matching non-wildcard hostname; the most characters in any
//! matching hostname; an Exact path; the longest PathPrefix (RegularExpression paths, whose
//! precedence the spec leaves to implementations, rank below Exact and above every PathPrefix,
//! longer expressions first); a method match; the most header matches; the most query
//! parameter matches. Ties go to the oldest route (creationTimestamp; routes without one count
//! as newest), then `namespace/name` alphabetically, then the first rule in the route. The
//! tie-break order is the order of [`ParentRules::rules`](crate::model::ParentRules::rules), so
//! the first best key wins.
//!
//! GRPCRoute rules: the GRPCRoute API reference (`spec.rules[].matches`,
//! gateway.networking.k8s.io/v1) orders them by "the largest number of: characters in a
//! matching non-wildcard hostname; characters in a matching hostname; characters in a
//! matching service; characters in a matching method; header matches", then the oldest
//! route, then `{namespace}/{name}`, then the first matching rule of the route. Whether
//! the match type counts is left open upstream (kubernetes-sigs/gateway-api#2216):
//! shadowtap compares `service`, then `method`, each as Exact over RegularExpression over
//! omitted, then by characters of the value (the expression's for a RegularExpression) —
//! the same choice as for HTTPRoute paths. An Exact service and method therefore beats a
//! service-only match, which beats an empty `matches` (every call).
//!
//! "Merging MUST not be done between GRPCRoutes and HTTPRoutes": the two kinds never share
//! a hostname on one parent (`compile::cross_serving` detaches the newer of two that do),
//! and a request is either a gRPC call, which only GRPCRoute rules can match, or matched
//! only by HTTPRoute rules of other hosts; the key orders the two kinds only after the
//! hostname (HTTPRoute's before GRPCRoute's), which no accepted pair of routes can reach.

use super::conditions::{entry_matches, grpc_entry_matches};
use super::host::{best_host_match, HostScore};
use super::request::ParsedRequest;
use crate::model::{GrpcNameMatch, GrpcRouteMatch, PathMatch, RouteMatch, RuleEntry, RuleMatches};

/// The comparable strength of one matching (rule, match) for one request; larger wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct MatchKey {
    /// Hostname characters (non-wildcard, then any).
    host: HostScore,
    /// What follows the hostname, by route kind.
    rest: KindKey,
}

/// The part of a [`MatchKey`] after the hostname.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KindKey {
    /// A GRPCRoute match (ranked below HTTPRoute's; see the module docs).
    Grpc(GrpcKey),
    /// An HTTPRoute match.
    Http(HttpKey),
}

/// A GRPCRoute match's strength after the hostname.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct GrpcKey {
    /// The service's (class, characters): class 2 Exact, 1 RegularExpression, 0 omitted.
    service: (u8, usize),
    /// The method's (class, characters).
    method: (u8, usize),
    /// Number of header matches.
    headers: usize,
}

fn name_key(m: Option<&GrpcNameMatch>) -> (u8, usize) {
    match m {
        None => (0, 0),
        Some(GrpcNameMatch::RegularExpression(p)) => (1, p.as_str().len()),
        Some(GrpcNameMatch::Exact(v)) => (2, v.len()),
    }
}

impl GrpcKey {
    fn of(m: &GrpcRouteMatch) -> Self {
        Self {
            service: name_key(m.service.as_ref()),
            method: name_key(m.method.as_ref()),
            headers: m.headers.len(),
        }
    }
}

/// An HTTPRoute match's strength after the hostname.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HttpKey {
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

impl HttpKey {
    /// The key of `m`.
    fn of(m: &RouteMatch) -> Self {
        let (path_class, path_len) = match &m.path {
            PathMatch::Exact(v) => (3, v.len()),
            PathMatch::RegularExpression(p) => (2, p.as_str().len()),
            PathMatch::Prefix(v) => (1, v.len()),
        };
        Self {
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
    // Only rules with hostnames read the request's host.
    let host = if rule.hostnames.is_empty() {
        HostScore::default()
    } else {
        best_host_match(&rule.hostnames, req.host())?
    };
    let rest = match &rule.matches {
        RuleMatches::Http(ms) => ms
            .iter()
            .filter(|m| entry_matches(m, req))
            .map(|m| KindKey::Http(HttpKey::of(m)))
            .max(),
        RuleMatches::Grpc(ms) => ms
            .iter()
            .filter(|m| grpc_entry_matches(m, req))
            .map(|m| KindKey::Grpc(GrpcKey::of(m)))
            .max(),
    }?;
    Some(MatchKey { host, rest })
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
