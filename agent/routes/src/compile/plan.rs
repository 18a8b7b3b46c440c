//! The plan of a node: a pure function from a [`Store`] to what this node captures and how
//! each captured endpoint's requests are decided.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use super::addresses::capture_addrs;
use super::clients::{client_index, ClientIndex};
use super::config::PlanConfig;
use super::cross_serving::resolve_cross_serving;
use super::route::{analyze_grpc_route, analyze_route, RouteInfo, RuleInfo};
use super::service_ports::{join_port_groups, PortGroups};
use crate::model::{
    CaptureEndpoint, Delivery, EndpointRules, Fraction, MirrorTarget, ObjectKey, ParentKey,
    ParentKind, ParentRules, Plan, PlanProblem, ProblemReason, RuleEntry, ServicePortRef, Store,
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

/// Whether `rule` sends requests to an endpoint serving `backends`.
fn delivery(rule: &RuleInfo, backends: &BTreeSet<ServicePortRef>) -> Delivery {
    let here = |b: &&super::route::BackendInfo| backends.contains(&b.service);
    if rule.redirect {
        Delivery::Redirect
    } else if rule.backends.iter().filter(here).any(|b| b.weight > 0) {
        Delivery::Here
    } else if rule.backends.iter().any(|b| here(&b)) {
        Delivery::WeightZero
    } else if rule.backends.iter().any(|b| b.weight > 0) {
        Delivery::OtherBackends
    } else {
        Delivery::NoBackend
    }
}

/// The mirrors of `rule` (of a route labelled or not) at an endpoint serving `backends`,
/// where it delivers as `delivery`: the rule's and those of its backendRefs to `backends`.
pub(super) fn entry_mirrors(
    labelled: bool,
    rule: &RuleInfo,
    delivery: Delivery,
    backends: &BTreeSet<ServicePortRef>,
) -> Vec<MirrorTarget> {
    let mut mirrors = Vec::new();
    if labelled && delivery == Delivery::Here {
        mirrors.extend(rule.mirrors.iter().cloned());
        for b in rule
            .backends
            .iter()
            .filter(|b| b.weight > 0 && backends.contains(&b.service))
        {
            mirrors.extend(b.mirrors.iter().cloned());
        }
    }
    mirrors
}

/// The hostnames of the other HTTP/HTTPS listeners of `parent`'s Gateway on `port`.
fn port_siblings(store: &Store, parent: &ParentKey, port: Option<u16>) -> Vec<Option<String>> {
    let Some(gw) = store.gateways.get(&parent.object()) else {
        return Vec::new();
    };
    gw.spec
        .listeners
        .iter()
        .filter(|l| {
            Some(l.name.as_str()) != parent.listener.as_deref()
                && u16::try_from(l.port).ok() == port
                && matches!(l.protocol.as_str(), "HTTP" | "HTTPS")
        })
        .map(|l| l.hostname.as_ref().map(|h| h.to_ascii_lowercase()))
        .collect()
}

/// The rules of `parent` at an endpoint serving `backends`; `attached`: the routes attached
/// to `parent`.
fn rules_of_parent(
    store: &Store,
    attached: &[&RouteInfo],
    parent: &ParentKey,
    backends: &BTreeSet<ServicePortRef>,
) -> ParentRules {
    let mut attached: Vec<&RouteInfo> = attached.to_vec();
    // Tie-break order: oldest first (no timestamp = newest), then the string
    // `namespace/name` (`team-a/x` before `team/x`, as '-' < '/').
    // An HTTPRoute and a GRPCRoute of one name tie-break HTTPRoute first (they never compete
    // for one request: cross serving keeps their hostnames apart).
    attached.sort_by_cached_key(|r| {
        (
            r.created.is_none(),
            r.created.clone(),
            r.key.to_string(),
            r.kind,
        )
    });
    let (port, listener_hostname) = attached
        .first()
        .and_then(|r| r.parents.get(parent))
        .map(|a| (a.port, a.listener_hostname.clone()))
        .unwrap_or_default();
    let mut rules = Vec::new();
    for r in attached {
        let hostnames = r
            .parents
            .get(parent)
            .map(|a| a.hostnames.clone())
            .unwrap_or_default();
        for rule in &r.rules {
            let delivery = delivery(rule, backends);
            let mirrors = entry_mirrors(r.labelled, rule, delivery, backends);
            rules.push(RuleEntry {
                id: rule.id.clone(),
                labelled: r.labelled,
                created: r.created.clone(),
                hostnames: hostnames.clone(),
                matches: rule.matches.clone(),
                delivery,
                mirrors,
            });
        }
    }
    let port_siblings = match parent.kind {
        ParentKind::Gateway => port_siblings(store, parent, port),
        ParentKind::Service => Vec::new(),
    };
    ParentRules {
        parent: parent.clone(),
        port,
        listener_hostname,
        port_siblings,
        rules,
    }
}

/// Whether two parents are groups of the same Service's routes (GAMMA): its producer
/// routes and consumer routes of some namespace, or consumer routes of two namespaces. Each
/// request is decided by exactly one of them, chosen by its client's namespace, so they can
/// be told apart.
fn audiences_apart(a: &ParentKey, b: &ParentKey) -> bool {
    a.kind == ParentKind::Service
        && b.kind == ParentKind::Service
        && a.object() == b.object()
        && a.consumer_namespace != b.consumer_namespace
}

/// Warns on the labelled mirroring rules of a route set whose endpoint also receives requests
/// through another parent where a rule delivers here without the same mirrors: such requests
/// are mirrored too (the pod cannot tell the parents apart).
fn ambiguous_parents(set: &EndpointRules, problems: &mut Vec<PlanProblem>) {
    for p in &set.parents {
        for rule in p
            .rules
            .iter()
            .filter(|r| r.routes_here() && !r.mirrors.is_empty())
        {
            let other = set
                .parents
                .iter()
                .filter(|q| q.parent != p.parent && !audiences_apart(&p.parent, &q.parent))
                .find_map(|q| {
                    q.rules
                        .iter()
                        .find(|r| r.routes_here() && r.mirrors != rule.mirrors)
                        .map(|r| (q, r))
                });
            if let Some((q, r)) = other {
                problems.push(PlanProblem::new(
                    &rule.id.route,
                    format!("spec.rules[{}]", rule.id.rule_index),
                    ProblemReason::AmbiguousParent,
                    format!(
                        "requests reaching these pods through {} ({}) are mirrored by this rule too: the pods cannot tell {} from {}",
                        q.parent, r.id, q.parent, p.parent
                    ),
                ));
            }
        }
    }
}

/// Computes the plan of `node` from `store`. Pure: the same inputs give the same plan
/// (including route-set ids, which derive from the set's parents and backends).
pub fn plan(store: &Store, node: &str, cfg: &PlanConfig) -> Plan {
    let mut problems = Vec::new();
    let mut routes: Vec<RouteInfo> = store
        .routes
        .iter()
        .map(|(k, r)| analyze_route(store, k, r, cfg, &mut problems))
        .collect();
    routes.extend(
        store
            .grpc_routes
            .iter()
            .map(|(k, r)| analyze_grpc_route(store, k, r, cfg, &mut problems)),
    );
    let routes: Vec<&RouteInfo> = routes.iter().collect();
    assemble(store, node, cfg, &routes, problems, &mut |b| {
        Arc::new(capture_addrs(store, b, node))
    })
}

/// The local endpoints of a backend Service port (`addresses::capture_addrs`, or a cache of
/// it).
pub(super) type CaptureAddrs<'a> =
    dyn FnMut(&ServicePortRef) -> Arc<BTreeMap<SocketAddr, ObjectKey>> + 'a;

/// The plan of `node` from the analysed routes (`routes`: the HTTPRoutes in key order, then
/// the GRPCRoutes in key order, with the problems their analysis found): cross serving
/// between them resolved, the endpoints to capture and their rule sets.
///
/// Cross serving is resolved here, over every route, on every plan: whether a route keeps a
/// parent depends on the other routes on that parent, so no single route's cached analysis
/// can hold it. `capture` gives the local endpoints of a backend Service port.
///
/// Routes are indexed by parent and by the backends they deliver to, so the work is linear
/// in the routes plus what the local endpoints' parents hold, whatever the cluster's size.
pub(super) fn assemble(
    store: &Store,
    node: &str,
    cfg: &PlanConfig,
    routes: &[&RouteInfo],
    mut problems: Vec<PlanProblem>,
    capture: &mut CaptureAddrs<'_>,
) -> Plan {
    let mut resolved: Vec<Cow<'_, RouteInfo>> = routes.iter().map(|r| Cow::Borrowed(*r)).collect();
    // A Service's routes without a port compete on every port some route names, cross
    // serving included.
    join_port_groups(&mut resolved);
    resolve_cross_serving(&mut resolved, &mut problems);
    let routes: Vec<&RouteInfo> = resolved.iter().map(AsRef::as_ref).collect();
    let routes = routes.as_slice();
    let mut port_groups = PortGroups::of(routes);
    // The routes attached to each parent (in `routes` order), and the routes that deliver
    // to each backend Service port.
    let mut attached: BTreeMap<&ParentKey, Vec<&RouteInfo>> = BTreeMap::new();
    let mut delivering: BTreeMap<&ServicePortRef, Vec<&RouteInfo>> = BTreeMap::new();
    for r in routes {
        for p in r.parents.keys() {
            attached.entry(p).or_default().push(r);
        }
        let delivered: BTreeSet<&ServicePortRef> = r
            .rules
            .iter()
            .filter(|rule| !rule.redirect)
            .flat_map(|rule| rule.backends.iter().filter(|b| b.weight > 0))
            .map(|b| &b.service)
            .collect();
        for b in delivered {
            delivering.entry(b).or_default().push(r);
        }
    }
    // Local endpoints of labelled rules that mirror, through a parent that governs requests
    // reaching the endpoint's port (a Service parent with a port governs only the
    // targetPort that Service port maps to).
    let mut local: BTreeMap<SocketAddr, LocalEndpoint> = BTreeMap::new();
    for r in routes
        .iter()
        .filter(|r| r.labelled && !r.parents.is_empty())
    {
        for rule in r.rules.iter().filter(|rule| !rule.redirect) {
            // A backend of weight 0 receives nothing: nothing of it to capture.
            for b in rule.backends.iter().filter(|b| b.weight > 0) {
                if rule.mirrors.is_empty() && b.mirrors.is_empty() {
                    continue;
                }
                let endpoints = capture(&b.service);
                for (addr, pod) in endpoints.iter() {
                    let here: Vec<&ParentKey> = r
                        .parents
                        .keys()
                        .filter(|p| port_groups.applies(store, capture, p, pod, addr))
                        .collect();
                    if here.is_empty() {
                        continue;
                    }
                    let e = local.entry(*addr).or_default();
                    e.pod = pod.clone();
                    e.parents.extend(here.into_iter().cloned());
                    e.backends.insert(b.service.clone());
                }
            }
        }
    }

    // Every parent through which a route delivers to an endpoint's backends could have
    // delivered its requests: all of them are decided (and checked for ambiguity).
    for e in local.values_mut() {
        for r in e
            .backends
            .iter()
            .filter_map(|b| delivering.get(b))
            .flatten()
        {
            e.parents.extend(r.parents.keys().cloned());
        }
    }

    // GAMMA: a Service's routes form groups (producer routes, consumer routes per client
    // namespace) of which each request follows exactly one. Where one group is decided,
    // all are: a client with consumer routes follows them even where they send elsewhere.
    // The groups of each Service.
    let mut service_groups: BTreeMap<ObjectKey, Vec<&ParentKey>> = BTreeMap::new();
    for p in attached.keys().filter(|p| p.kind == ParentKind::Service) {
        service_groups.entry(p.object()).or_default().push(p);
    }
    for e in local.values_mut() {
        let services: BTreeSet<ObjectKey> = e
            .parents
            .iter()
            .filter(|p| p.kind == ParentKind::Service)
            .map(ParentKey::object)
            .collect();
        for s in &services {
            e.parents.extend(
                service_groups
                    .get(s)
                    .into_iter()
                    .flatten()
                    .map(|p| (*p).clone()),
            );
        }
    }

    // Only the parents that govern requests reaching the endpoint's port decide them: of a
    // Service, the group of the port that maps there.
    for (addr, e) in local.iter_mut() {
        e.parents
            .retain(|p| port_groups.applies(store, capture, p, &e.pod, addr));
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
                    .map(|p| {
                        let here = attached.get(p).map_or(&[][..], Vec::as_slice);
                        rules_of_parent(store, here, p, &e.backends)
                    })
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
            .filter(|r| r.labelled && r.routes_here())
            .flat_map(|r| r.mirrors.iter())
            .collect();
        let max_fraction = mirrors
            .iter()
            .map(|m| m.fraction)
            .max()
            .unwrap_or(Fraction::ZERO);
        let flow_sampling = cfg.flow_sampling
            || (!mirrors.is_empty() && mirrors.iter().all(|m| m.options.flow_sampling));
        // Node-wide default off: only the endpoints of comparing routes capture responses.
        let compare = mirrors
            .iter()
            .filter_map(|m| m.options.compare.as_ref().map(|c| c.mode))
            .max();
        endpoints.push(CaptureEndpoint {
            compare,
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
    for set in route_sets.values() {
        ambiguous_parents(set, &mut problems);
    }
    problems.sort();
    problems.dedup();
    let consumer_namespaces: BTreeSet<&str> = route_sets
        .values()
        .flat_map(|s| s.parents.iter())
        .filter_map(|p| p.parent.consumer_namespace.as_deref())
        .collect();
    let ClientIndex {
        namespaces: client_namespaces,
        unknown: unknown_clients,
    } = client_index(store, &consumer_namespaces);
    Plan {
        node: node.to_owned(),
        endpoints,
        route_sets,
        problems,
        client_namespaces,
        unknown_clients,
    }
}
