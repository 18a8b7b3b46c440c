//! The plan of a node: a pure function from a [`Store`] to what this node captures and how
//! each captured endpoint's requests are decided.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use super::addresses::capture_addrs;
use super::config::PlanConfig;
use super::route::{analyze_route, RouteInfo};
use crate::model::{
    CaptureEndpoint, EndpointRules, Fraction, MirrorTarget, ObjectKey, ParentKey, ParentRules,
    Plan, RuleEntry, ServicePortRef, Store,
};

#[derive(Default)]
struct LocalEndpoint {
    pod: ObjectKey,
    parents: BTreeSet<ParentKey>,
    backends: BTreeSet<ServicePortRef>,
}

/// FNV-1a, 32 bits: the stable route-set id of a (parents, backends) key.
fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

fn set_key(parents: &BTreeSet<ParentKey>, backends: &BTreeSet<ServicePortRef>) -> String {
    let mut s = String::new();
    for p in parents {
        s.push_str(&format!("{p};"));
    }
    s.push('|');
    for b in backends {
        s.push_str(&format!("{b};"));
    }
    s
}

fn rules_of_parent(
    routes: &[RouteInfo],
    parent: &ParentKey,
    backends: &BTreeSet<ServicePortRef>,
) -> ParentRules {
    let mut attached: Vec<&RouteInfo> = routes
        .iter()
        .filter(|r| r.parents.contains_key(parent))
        .collect();
    // Tie-break order: oldest first (no timestamp = newest), then namespace/name.
    attached.sort_by(|a, b| {
        (a.created.is_none(), &a.created, &a.key).cmp(&(b.created.is_none(), &b.created, &b.key))
    });
    let mut rules = Vec::new();
    for r in attached {
        let hostnames = r.parents.get(parent).cloned().unwrap_or_default();
        for rule in &r.rules {
            let routes_here = rule.backends.iter().any(|b| backends.contains(&b.service));
            let mut mirrors = Vec::new();
            if r.labelled {
                mirrors.extend(rule.mirrors.iter().cloned());
                for b in rule
                    .backends
                    .iter()
                    .filter(|b| backends.contains(&b.service))
                {
                    mirrors.extend(b.mirrors.iter().cloned());
                }
            }
            rules.push(RuleEntry {
                id: rule.id.clone(),
                labelled: r.labelled,
                created: r.created.clone(),
                hostnames: hostnames.clone(),
                matches: rule.matches.clone(),
                routes_here,
                mirrors,
            });
        }
    }
    ParentRules {
        parent: parent.clone(),
        rules,
    }
}

/// Computes the plan of `node` from `store`. Pure: the same inputs give the same plan
/// (including route-set ids, which derive from the set's parents and backends).
pub fn plan(store: &Store, node: &str, cfg: &PlanConfig) -> Plan {
    let mut problems = Vec::new();
    let routes: Vec<RouteInfo> = store
        .routes
        .iter()
        .map(|(k, r)| analyze_route(store, k, r, cfg, &mut problems))
        .collect();

    // Local endpoints of labelled rules that mirror.
    let mut local: BTreeMap<SocketAddr, LocalEndpoint> = BTreeMap::new();
    for r in routes
        .iter()
        .filter(|r| r.labelled && !r.parents.is_empty())
    {
        for rule in &r.rules {
            for b in &rule.backends {
                if rule.mirrors.is_empty() && b.mirrors.is_empty() {
                    continue;
                }
                for (addr, pod) in capture_addrs(store, &b.service, node) {
                    let e = local.entry(addr).or_default();
                    e.pod = pod;
                    e.parents.extend(r.parents.keys().cloned());
                    e.backends.insert(b.service.clone());
                }
            }
        }
    }

    let mut ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut route_sets: BTreeMap<u32, EndpointRules> = BTreeMap::new();
    let mut endpoints = Vec::new();
    for (addr, e) in local {
        let key = set_key(&e.parents, &e.backends);
        let id = match ids.get(&key) {
            Some(id) => *id,
            None => {
                let mut id = fnv1a(key.as_bytes()).max(1);
                while route_sets.contains_key(&id) {
                    id = id.wrapping_add(1).max(1);
                }
                let parents = e
                    .parents
                    .iter()
                    .map(|p| rules_of_parent(&routes, p, &e.backends))
                    .collect();
                route_sets.insert(
                    id,
                    EndpointRules {
                        id,
                        backends: e.backends.iter().cloned().collect(),
                        parents,
                    },
                );
                ids.insert(key, id);
                id
            }
        };
        let mirrors: Vec<&MirrorTarget> = route_sets
            .get(&id)
            .into_iter()
            .flat_map(|s| s.parents.iter())
            .flat_map(|p| p.rules.iter())
            .filter(|r| r.labelled && r.routes_here)
            .flat_map(|r| r.mirrors.iter())
            .collect();
        let max_fraction = mirrors
            .iter()
            .map(|m| m.fraction)
            .max()
            .unwrap_or(Fraction::ZERO);
        let flow_sampling = cfg.flow_sampling
            || (!mirrors.is_empty() && mirrors.iter().all(|m| m.options.flow_sampling));
        endpoints.push(CaptureEndpoint {
            addr,
            pod: e.pod,
            route_set: id,
            max_fraction,
            flow_sampling,
            capture_threshold: if flow_sampling {
                max_fraction.threshold()
            } else {
                shadowtap_common::SAMPLE_ALL
            },
        });
    }
    problems.sort();
    problems.dedup();
    Plan {
        node: node.to_owned(),
        endpoints,
        route_sets,
        problems,
    }
}
