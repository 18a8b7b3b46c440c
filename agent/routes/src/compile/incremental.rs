//! Planning incrementally: the same plan as [`plan`](super::plan), with each route's
//! analysis kept between plans and redone only when the route or an object it reads changed.
//!
//! A route's analysis (`route.rs`) reads the route (an HTTPRoute, or a GRPCRoute through its
//! HTTPRoute-shaped shared fields, `grpc_shared.rs`), the Namespace of the route (listener
//! selectors), and for each object its spec names (parentRefs, backendRefs, the backendRefs
//! of RequestMirror filters, defaulted to the route's namespace): the Gateway and the Service
//! of that name, the Service's EndpointSlices (mirror endpoints), and the ReferenceGrants of
//! that namespace. Those are its dependencies; the cache holds the objects it saw, and a
//! dependency is unchanged when the store still holds the same allocation (or an equal
//! object). HTTPRoutes and GRPCRoutes are cached apart (one key may name one of each).
//! Everything after the routes' analysis (cross serving between HTTPRoutes and GRPCRoutes,
//! which depends on every route of a parent; capture endpoints, rule sets, the client index)
//! is cheap and assembled on every plan. The property tests check this planner against
//! [`plan`](super::plan) on random sequences of changes.

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use super::config::PlanConfig;
use super::grpc_shared::shared_fields;
use super::plan::assemble;
use super::route::{analyze_grpc_route, analyze_route, RouteInfo};
use crate::model::{ObjectKey, Plan, PlanProblem, Shared, Store};

/// What one route's analysis read.
struct Deps {
    namespace: Option<Shared<Namespace>>,
    /// Per object the route names.
    named: Vec<Named>,
    /// The ReferenceGrants of each namespace the route names.
    grants: Vec<(String, Vec<Shared<ReferenceGrant>>)>,
}

/// The objects under one name a route's spec gives.
struct Named {
    key: ObjectKey,
    gateway: Option<Shared<Gateway>>,
    service: Option<Shared<Service>>,
    slices: Vec<Shared<EndpointSlice>>,
}

/// Every `namespace/name` the route's spec names (parents, backends, mirror backends),
/// whatever the kind: a superset of what its analysis looks up.
fn named_keys(key: &ObjectKey, route: &HttpRoute) -> BTreeSet<ObjectKey> {
    let ns = |n: &Option<String>| n.clone().unwrap_or_else(|| key.namespace.clone());
    let mut out = BTreeSet::new();
    for p in route.spec.parent_refs.iter().flatten() {
        out.insert(ObjectKey::new(ns(&p.namespace), &p.name));
    }
    for rule in route.spec.rules.iter().flatten() {
        for b in rule.backend_refs.iter().flatten() {
            out.insert(ObjectKey::new(ns(&b.namespace), &b.name));
            for f in b.filters.iter().flatten() {
                if let Some(m) = &f.request_mirror {
                    let r = &m.backend_ref;
                    out.insert(ObjectKey::new(ns(&r.namespace), &r.name));
                }
            }
        }
        for f in rule.filters.iter().flatten() {
            if let Some(m) = &f.request_mirror {
                let r = &m.backend_ref;
                out.insert(ObjectKey::new(ns(&r.namespace), &r.name));
            }
        }
    }
    out
}

fn slices(store: &Store, svc: &ObjectKey) -> Vec<Shared<EndpointSlice>> {
    store
        .slice_keys_of(svc)
        .filter_map(|k| store.endpoint_slices.get(k).cloned())
        .collect()
}

/// The ReferenceGrants of namespace `ns`, in key order.
fn grants_in<'a>(
    store: &'a Store,
    ns: &'a str,
) -> impl Iterator<Item = &'a Shared<ReferenceGrant>> {
    let from = ObjectKey::new(ns, "");
    store
        .reference_grants
        .range(from..)
        .take_while(move |(k, _)| k.namespace == ns)
        .map(|(_, g)| g)
}

impl Deps {
    /// What the analysis of route `key` read, `keys` being what its spec names.
    fn of(store: &Store, key: &ObjectKey, keys: BTreeSet<ObjectKey>) -> Self {
        let namespaces: BTreeSet<&str> = keys.iter().map(|k| k.namespace.as_str()).collect();
        Self {
            namespace: store.namespaces.get(&key.namespace).cloned(),
            grants: namespaces
                .into_iter()
                .map(|ns| (ns.to_owned(), grants_in(store, ns).cloned().collect()))
                .collect(),
            named: keys
                .into_iter()
                .map(|k| Named {
                    gateway: store.gateways.get(&k).cloned(),
                    service: store.services.get(&k).cloned(),
                    slices: slices(store, &k),
                    key: k,
                })
                .collect(),
        }
    }

    /// Whether `store` still holds what the analysis read (route key `key`).
    fn hold(&self, store: &Store, key: &ObjectKey) -> bool {
        store.namespaces.get(&key.namespace) == self.namespace.as_ref()
            && self.named.iter().all(|n| {
                store.gateways.get(&n.key) == n.gateway.as_ref()
                    && store.services.get(&n.key) == n.service.as_ref()
                    && store
                        .slice_keys_of(&n.key)
                        .map(|k| store.endpoint_slices.get(k))
                        .eq(n.slices.iter().map(Some))
            })
            && self
                .grants
                .iter()
                .all(|(ns, gs)| grants_in(store, ns).eq(gs.iter()))
    }
}

/// One route's analysis and what it read.
struct Cached<R> {
    route: Shared<R>,
    deps: Deps,
    info: RouteInfo,
    problems: Vec<PlanProblem>,
}

/// A kind of route the planner caches: how it is analysed and what its spec names.
trait Analysed: PartialEq + Sized {
    /// The analysis of route `key` (`plan`'s).
    fn analyse(
        store: &Store,
        key: &ObjectKey,
        route: &Self,
        cfg: &PlanConfig,
        problems: &mut Vec<PlanProblem>,
    ) -> RouteInfo;
    /// What the analysis of route `key` reads.
    fn deps(store: &Store, key: &ObjectKey, route: &Self) -> Deps;
}

impl Analysed for HttpRoute {
    fn analyse(
        store: &Store,
        key: &ObjectKey,
        route: &Self,
        cfg: &PlanConfig,
        problems: &mut Vec<PlanProblem>,
    ) -> RouteInfo {
        analyze_route(store, key, route, cfg, problems)
    }
    fn deps(store: &Store, key: &ObjectKey, route: &Self) -> Deps {
        Deps::of(store, key, named_keys(key, route))
    }
}

impl Analysed for GrpcRoute {
    fn analyse(
        store: &Store,
        key: &ObjectKey,
        route: &Self,
        cfg: &PlanConfig,
        problems: &mut Vec<PlanProblem>,
    ) -> RouteInfo {
        analyze_grpc_route(store, key, route, cfg, problems)
    }
    /// The analysis reads the shared fields (the same conversion); a GRPCRoute whose shared
    /// fields cannot be read is analysed from the route alone.
    fn deps(store: &Store, key: &ObjectKey, route: &Self) -> Deps {
        let keys = shared_fields(route)
            .map(|shared| named_keys(key, &shared))
            .unwrap_or_default();
        Deps::of(store, key, keys)
    }
}

/// Brings `cache` in step with `routes` (one kind's routes of `store`): drops the routes
/// gone, analyses again the routes changed or whose dependencies changed. Returns how many
/// were analysed.
fn refresh<R: Analysed>(
    cache: &mut BTreeMap<ObjectKey, Cached<R>>,
    routes: &BTreeMap<ObjectKey, Shared<R>>,
    store: &Store,
    cfg: &PlanConfig,
) -> usize {
    cache.retain(|k, _| routes.contains_key(k));
    let mut analysed = 0;
    for (k, r) in routes {
        let fresh = cache
            .get(k)
            .is_some_and(|c| c.route == *r && c.deps.hold(store, k));
        if fresh {
            continue;
        }
        let mut problems = Vec::new();
        let info = R::analyse(store, k, r, cfg, &mut problems);
        cache.insert(
            k.clone(),
            Cached {
                route: r.clone(),
                deps: R::deps(store, k, r),
                info,
                problems,
            },
        );
        analysed += 1;
    }
    analysed
}

/// Plans a node from successive stores, redoing only the routes whose inputs changed.
pub struct IncrementalPlanner {
    node: String,
    cfg: PlanConfig,
    http: BTreeMap<ObjectKey, Cached<HttpRoute>>,
    grpc: BTreeMap<ObjectKey, Cached<GrpcRoute>>,
    analysed: usize,
}

impl IncrementalPlanner {
    /// A planner for `node` with `cfg`, nothing cached.
    pub fn new(node: impl Into<String>, cfg: PlanConfig) -> Self {
        Self {
            node: node.into(),
            cfg,
            http: BTreeMap::new(),
            grpc: BTreeMap::new(),
            analysed: 0,
        }
    }

    /// The plan of `store`: equal to `plan(store, node, cfg)`.
    pub fn plan(&mut self, store: &Store) -> Plan {
        self.analysed = refresh(&mut self.http, &store.routes, store, &self.cfg)
            + refresh(&mut self.grpc, &store.grpc_routes, store, &self.cfg);
        // HTTPRoutes then GRPCRoutes, each in key order, as `plan` analyses them.
        let http = self.http.values().map(|c| (&c.info, &c.problems));
        let grpc = self.grpc.values().map(|c| (&c.info, &c.problems));
        let (routes, problems): (Vec<&RouteInfo>, Vec<&Vec<PlanProblem>>) =
            http.chain(grpc).unzip();
        let problems = problems.into_iter().flatten().cloned().collect();
        assemble(store, &self.node, &self.cfg, &routes, problems)
    }

    /// Routes analysed by the last [`IncrementalPlanner::plan`] (the others were cached).
    pub fn analysed(&self) -> usize {
        self.analysed
    }
}
