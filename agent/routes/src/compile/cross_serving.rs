//! Cross serving: an HTTPRoute and a GRPCRoute on one parent that share a hostname.
//!
//! The Gateway API (GRPCRoute `spec.hostnames`, gateway.networking.k8s.io/v1): "If a Route
//! (A) of type HTTPRoute or GRPCRoute is attached to a Listener and that listener already
//! has another Route (B) of the other type attached and the intersection of the hostnames
//! of A and B is non-empty, then the implementation MUST accept exactly one of these two
//! routes, determined by the following criteria, in order: the oldest Route based on
//! creation timestamp; the Route appearing first in alphabetical order by
//! `{namespace}/{name}`. The rejected Route MUST raise an 'Accepted' condition with a
//! status of 'False'."
//!
//! Applied per parent (listener, or group of a Service's routes): routes are taken oldest
//! first (then by `namespace/name`), and a route is not attached there when an older route
//! of the other kind, already kept, shares a hostname with it. Hostnames are the route's
//! effective hostnames on that parent (narrowed by the listener; empty = any host). On a
//! Service parent hostnames do not apply (GAMMA), so any HTTPRoute and GRPCRoute of one
//! group conflict: the spec names only listeners, and shadowtap applies the same rule to
//! Service parents, the only reading under which one request cannot be claimed by both.
//! A route not attached for this reason is a `hostname_conflict` problem (for labelled
//! routes, as every problem); the route that keeps the parent is unaffected.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::route::RouteInfo;
use crate::model::{hostname_matches, ParentKey, PlanProblem, ProblemReason};

/// Whether two effective hostname lists (empty = any host) share a host.
fn hostnames_intersect(a: &[String], b: &[String]) -> bool {
    a.is_empty()
        || b.is_empty()
        || a.iter().any(|x| {
            b.iter()
                .any(|y| hostname_matches(x, y) || hostname_matches(y, x))
        })
}

/// Detaches, from every parent, the routes that lose a cross-serving conflict there, and
/// records a problem for each labelled one. Only the routes that lose somewhere are copied.
pub fn resolve_cross_serving(routes: &mut [Cow<'_, RouteInfo>], problems: &mut Vec<PlanProblem>) {
    // Only a parent with routes of both kinds can have a conflict: the common case (one
    // kind everywhere) costs one pass over the routes.
    let kinds = routes.iter().map(|r| r.kind).collect::<BTreeSet<_>>();
    if kinds.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..routes.len()).collect();
    // Oldest first (no timestamp = newest), then the string `namespace/name`.
    order.sort_by_cached_key(|&i| {
        let r = &routes[i];
        (r.created.is_none(), r.created.clone(), r.key.to_string())
    });
    // Each parent's routes, in that order.
    let mut by_parent: BTreeMap<ParentKey, Vec<usize>> = BTreeMap::new();
    for &i in &order {
        for p in routes[i].parents.keys() {
            by_parent.entry(p.clone()).or_default().push(i);
        }
    }
    for (parent, attached) in &by_parent {
        let first = routes[attached[0]].kind;
        if attached.iter().all(|&i| routes[i].kind == first) {
            continue;
        }
        let mut kept: Vec<usize> = Vec::new();
        let mut lost: Vec<(usize, usize)> = Vec::new();
        for &i in attached {
            let r = &routes[i];
            let hosts = &r.parents[parent].hostnames;
            let winner = kept.iter().copied().find(|&k| {
                let o = &routes[k];
                o.kind != r.kind && hostnames_intersect(hosts, &o.parents[parent].hostnames)
            });
            match winner {
                Some(w) => lost.push((i, w)),
                None => kept.push(i),
            }
        }
        for (i, w) in lost {
            let winner = format!("{} {}", routes[w].kind.as_kind(), routes[w].key);
            let r = routes[i].to_mut();
            r.parents.remove(parent);
            if r.labelled {
                problems.push(
                    PlanProblem::new(
                        &r.key,
                        "spec.hostnames",
                        ProblemReason::HostnameConflict,
                        format!(
                            "not attached to {parent}: {winner} is attached there with a shared hostname and is older (or first by namespace/name); a hostname is served by one route kind per listener"
                        ),
                    )
                    .of_kind(r.kind),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections() {
        let v = |s: &[&str]| s.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        assert!(hostnames_intersect(&v(&[]), &v(&["a.example.com"])));
        assert!(hostnames_intersect(
            &v(&["*.example.com"]),
            &v(&["a.example.com"])
        ));
        assert!(hostnames_intersect(
            &v(&["a.example.com"]),
            &v(&["*.example.com"])
        ));
        assert!(hostnames_intersect(
            &v(&["*.example.com"]),
            &v(&["*.a.example.com"])
        ));
        assert!(!hostnames_intersect(
            &v(&["a.example.com"]),
            &v(&["b.example.com"])
        ));
        assert!(!hostnames_intersect(
            &v(&["*.example.com"]),
            &v(&["example.com"])
        ));
    }
}
