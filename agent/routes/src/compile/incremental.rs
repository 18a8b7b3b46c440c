//! Planning incrementally: the same plan as [`plan`](super::plan), with each route's
//! analysis and each backend's local endpoints kept between plans and redone only when an
//! object they read changed.
//!
//! A route's analysis (`route.rs`) reads the route (an HTTPRoute, or a GRPCRoute through its
//! HTTPRoute-shaped shared fields, `grpc_shared.rs`), the Namespace of the route (listener
//! selectors), and for each object its spec names (parentRefs, backendRefs, the backendRefs
//! of RequestMirror filters, defaulted to the route's namespace): the Gateway and the Service
//! of that name, for a mirror backend the Service's EndpointSlices (mirror endpoints), and
//! the ReferenceGrants of that namespace. Those are its dependencies; the cache holds the objects it saw, and a
//! dependency is unchanged when the store still holds the same allocation (or an equal
//! object). HTTPRoutes and GRPCRoutes are cached apart (one key may name one of each).
//!
//! The routes are indexed by what they read (`Readers`, in the store journal's terms:
//! [`Touched`]). When the store is a later version of the last plan's (its journal knows
//! what changed since), only the routes the journal names and those that read a named object
//! are looked at; otherwise (a first plan, another store, a journal that forgot) every route
//! is. The local endpoints of each backend Service port (`capture_addrs`: the Service, its
//! EndpointSlices, the Pods they name) are kept the same way. Everything else (cross serving
//! between HTTPRoutes and GRPCRoutes, which depends on every route of a parent; rule sets,
//! the client index) is assembled on every plan, over indexes (`plan::assemble`). The
//! property tests check this planner against [`plan`](super::plan) on random sequences of
//! changes, planned after each change and after batches of them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};

use super::addresses::capture_addrs;
use super::config::PlanConfig;
use super::grpc_shared::shared_fields;
use super::mirror_patch::PlanBuffers;
use super::plan::assemble;
use super::route::{analyze_grpc_route, analyze_route, RouteInfo};
use crate::model::{
    CompactSlice, JournalMark, ObjectKey, Plan, PlanProblem, RouteKind, ServicePortRef, Shared,
    Store, Touched,
};

/// What one route's analysis read.
struct Deps {
    namespace: Option<Shared<Namespace>>,
    /// Per object the route names.
    named: Vec<Named>,
    /// The ReferenceGrants of each namespace the route names.
    grants: Vec<(String, Vec<Shared<ReferenceGrant>>)>,
}

/// The objects under one name a route's spec gives (the EndpointSlices only for the names
/// of mirror backends: the analysis reads no other endpoints).
struct Named {
    key: ObjectKey,
    gateway: Option<Shared<Gateway>>,
    service: Option<Shared<Service>>,
    mirror: bool,
    slices: Vec<Shared<CompactSlice>>,
}

/// Every `namespace/name` the route's spec names (parents, backends, mirror backends),
/// whatever the kind — a superset of what its analysis looks up —, and whether it is the
/// name of a mirror backend.
fn named_keys(key: &ObjectKey, route: &HttpRoute) -> BTreeMap<ObjectKey, bool> {
    let ns = |n: &Option<String>| n.clone().unwrap_or_else(|| key.namespace.clone());
    let mut out: BTreeMap<ObjectKey, bool> = BTreeMap::new();
    for p in route.spec.parent_refs.iter().flatten() {
        out.entry(ObjectKey::new(ns(&p.namespace), &p.name))
            .or_default();
    }
    for rule in route.spec.rules.iter().flatten() {
        for b in rule.backend_refs.iter().flatten() {
            out.entry(ObjectKey::new(ns(&b.namespace), &b.name))
                .or_default();
            for f in b.filters.iter().flatten() {
                if let Some(m) = &f.request_mirror {
                    let r = &m.backend_ref;
                    out.insert(ObjectKey::new(ns(&r.namespace), &r.name), true);
                }
            }
        }
        for f in rule.filters.iter().flatten() {
            if let Some(m) = &f.request_mirror {
                let r = &m.backend_ref;
                out.insert(ObjectKey::new(ns(&r.namespace), &r.name), true);
            }
        }
    }
    out
}

fn slices(store: &Store, svc: &ObjectKey) -> Vec<Shared<CompactSlice>> {
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
    fn of(store: &Store, key: &ObjectKey, keys: BTreeMap<ObjectKey, bool>) -> Self {
        let namespaces: BTreeSet<&str> = keys.keys().map(|k| k.namespace.as_str()).collect();
        Self {
            namespace: store.namespaces.get(&key.namespace).cloned(),
            grants: namespaces
                .into_iter()
                .map(|ns| (ns.to_owned(), grants_in(store, ns).cloned().collect()))
                .collect(),
            named: keys
                .into_iter()
                .map(|(k, mirror)| Named {
                    gateway: store.gateways.get(&k).cloned(),
                    service: store.services.get(&k).cloned(),
                    slices: if mirror {
                        slices(store, &k)
                    } else {
                        Vec::new()
                    },
                    mirror,
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
                    && (!n.mirror
                        || store
                            .slice_keys_of(&n.key)
                            .map(|k| store.endpoint_slices.get(k))
                            .eq(n.slices.iter().map(Some)))
            })
            && self
                .grants
                .iter()
                .all(|(ns, gs)| grants_in(store, ns).eq(gs.iter()))
    }
}

impl Deps {
    /// What the analysis of route `key` read, as the store's journal names changes.
    fn reads(&self, key: &ObjectKey) -> Vec<Touched> {
        let mut out = vec![Touched::Namespace(key.namespace.clone())];
        for n in &self.named {
            out.push(Touched::Gateway(n.key.clone()));
            out.push(Touched::Service(n.key.clone()));
            if n.mirror {
                out.push(Touched::SlicesOf(n.key.clone()));
            }
        }
        out.extend(
            self.grants
                .iter()
                .map(|(ns, _)| Touched::GrantsIn(ns.clone())),
        );
        out
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
    /// HTTPRoute or GRPCRoute.
    const KIND: RouteKind;
    /// The route a journal entry names, if it names one of this kind.
    fn route_key(t: &Touched) -> Option<&ObjectKey>;
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
    const KIND: RouteKind = RouteKind::Http;
    fn route_key(t: &Touched) -> Option<&ObjectKey> {
        match t {
            Touched::HttpRoute(k) => Some(k),
            _ => None,
        }
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
    const KIND: RouteKind = RouteKind::Grpc;
    fn route_key(t: &Touched) -> Option<&ObjectKey> {
        match t {
            Touched::GrpcRoute(k) => Some(k),
            _ => None,
        }
    }
}

/// The routes that read each object, by the journal's name for its changes.
type Readers = BTreeMap<Touched, BTreeSet<(RouteKind, ObjectKey)>>;

/// Notes in `readers` that route `key` of kind `R` reads `reads` (`add`), or forgets it.
fn index<R: Analysed>(readers: &mut Readers, key: &ObjectKey, reads: Vec<Touched>, add: bool) {
    for t in reads {
        if add {
            readers.entry(t).or_default().insert((R::KIND, key.clone()));
        } else if let Some(set) = readers.get_mut(&t) {
            set.remove(&(R::KIND, key.clone()));
            if set.is_empty() {
                readers.remove(&t);
            }
        }
    }
}

/// What refreshing one route did to the plan's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refreshed {
    /// Its analysis is the one the last plan used.
    Same,
    /// Analysed again, with the same result.
    Unchanged,
    /// Analysed again: only its mirrors' addresses changed.
    MirrorAddresses,
    /// Added, or analysed again with a result that changed otherwise.
    Changed,
    /// Gone from the store.
    Removed,
}

/// Brings the cached route `k` in step with `store`: dropped when gone, analysed again
/// when it or what it read changed.
fn refresh_one<R: Analysed>(
    cache: &mut BTreeMap<ObjectKey, Cached<R>>,
    readers: &mut Readers,
    routes: &BTreeMap<ObjectKey, Shared<R>>,
    k: &ObjectKey,
    store: &Store,
    cfg: &PlanConfig,
) -> Refreshed {
    let Some(r) = routes.get(k) else {
        return match cache.remove(k) {
            Some(old) => {
                index::<R>(readers, k, old.deps.reads(k), false);
                Refreshed::Removed
            }
            None => Refreshed::Same,
        };
    };
    let fresh = cache
        .get(k)
        .is_some_and(|c| c.route == *r && c.deps.hold(store, k));
    if fresh {
        return Refreshed::Same;
    }
    let mut problems = Vec::new();
    let info = R::analyse(store, k, r, cfg, &mut problems);
    let deps = R::deps(store, k, r);
    // What the route reads is indexed again only when it changed (usually only the
    // objects under the same names changed).
    let reads = deps.reads(k);
    let old_reads = cache.get(k).map(|old| old.deps.reads(k));
    if old_reads.as_ref() != Some(&reads) {
        if let Some(old) = old_reads {
            index::<R>(readers, k, old, false);
        }
        index::<R>(readers, k, reads, true);
    }
    let outcome = match cache.get(k) {
        Some(old) => {
            if old.problems != problems {
                Refreshed::Changed
            } else if old.info == info {
                Refreshed::Unchanged
            } else if old.info.same_but_mirror_addresses(&info) {
                Refreshed::MirrorAddresses
            } else {
                Refreshed::Changed
            }
        }
        None => Refreshed::Changed,
    };
    cache.insert(
        k.clone(),
        Cached {
            route: r.clone(),
            deps,
            info,
            problems,
        },
    );
    outcome
}

/// What refreshing one kind of routes did.
#[derive(Default)]
struct Refresh {
    /// Routes analysed again.
    analysed: usize,
    /// A route was added or removed, or its analysis changed beyond its mirrors' addresses.
    changed: bool,
    /// Routes whose mirrors' addresses changed (and nothing else).
    mirror_addresses: Vec<ObjectKey>,
}

/// Brings `cache` in step with `routes` (one kind's routes of `store`): drops the routes
/// gone, analyses again the routes changed or whose dependencies changed — of every route
/// when `touched` is `None`, else of the routes `touched` names and those that read what
/// it names.
fn refresh<R: Analysed>(
    cache: &mut BTreeMap<ObjectKey, Cached<R>>,
    readers: &mut Readers,
    routes: &BTreeMap<ObjectKey, Shared<R>>,
    store: &Store,
    cfg: &PlanConfig,
    touched: Option<&BTreeSet<Touched>>,
) -> Refresh {
    let candidates: BTreeSet<ObjectKey> = match touched {
        None => cache.keys().chain(routes.keys()).cloned().collect(),
        Some(touched) => touched
            .iter()
            .filter_map(R::route_key)
            .cloned()
            .chain(
                touched
                    .iter()
                    .filter_map(|t| readers.get(t))
                    .flatten()
                    .filter(|(kind, _)| *kind == R::KIND)
                    .map(|(_, k)| k.clone()),
            )
            .collect(),
    };
    let mut out = Refresh::default();
    for k in candidates {
        match refresh_one(cache, readers, routes, &k, store, cfg) {
            Refreshed::Same => {}
            Refreshed::Unchanged => out.analysed += 1,
            Refreshed::MirrorAddresses => {
                out.analysed += 1;
                out.mirror_addresses.push(k);
            }
            Refreshed::Changed => {
                out.analysed += 1;
                out.changed = true;
            }
            Refreshed::Removed => out.changed = true,
        }
    }
    out
}

/// The local endpoints of one backend Service port and what they were read from: the
/// Service, its EndpointSlices and the Pods their endpoints name — or, for a Service
/// without EndpointSlices (resolved through its selector), every Pod of its namespace.
struct Captured {
    service: Option<Shared<Service>>,
    slices: Vec<Shared<CompactSlice>>,
    pods: Vec<(ObjectKey, Option<Shared<Pod>>)>,
    by_selector: bool,
    addrs: Arc<BTreeMap<SocketAddr, ObjectKey>>,
}

impl Captured {
    /// The local endpoints of `backend` on `node`, with what they read.
    fn of(store: &Store, backend: &ServicePortRef, node: &str) -> Self {
        let key = backend.service();
        let slices = slices(store, &key);
        let pods = slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .filter_map(|e| e.pod.as_ref())
            .map(|p| {
                let k = ObjectKey::new(p.namespace.as_deref().unwrap_or(&key.namespace), &*p.name);
                let pod = store.pods.get(&k).cloned();
                (k, pod)
            })
            .collect();
        Self {
            service: store.services.get(&key).cloned(),
            addrs: Arc::new(capture_addrs(store, backend, node)),
            by_selector: slices.is_empty(),
            slices,
            pods,
        }
    }

    /// Whether a change in `touched` may concern them.
    fn reads_any(&self, touched: &BTreeSet<Touched>, backend: &ServicePortRef) -> bool {
        let key = backend.service();
        touched.contains(&Touched::Service(key.clone()))
            || touched.contains(&Touched::SlicesOf(key.clone()))
            || self
                .pods
                .iter()
                .any(|(k, _)| touched.contains(&Touched::Pod(k.clone())))
            || (self.by_selector
                && touched
                    .iter()
                    .any(|t| matches!(t, Touched::Pod(p) if p.namespace == key.namespace)))
    }

    /// Whether `store` still holds what they were read from (never known for a Service
    /// resolved through its selector).
    fn hold(&self, store: &Store, backend: &ServicePortRef) -> bool {
        let key = backend.service();
        !self.by_selector
            && store.services.get(&key) == self.service.as_ref()
            && store
                .slice_keys_of(&key)
                .map(|k| store.endpoint_slices.get(k))
                .eq(self.slices.iter().map(Some))
            && self
                .pods
                .iter()
                .all(|(k, p)| store.pods.get(k) == p.as_ref())
    }
}

/// Plans a node from successive stores, redoing only the routes whose inputs changed.
pub struct IncrementalPlanner {
    node: String,
    cfg: PlanConfig,
    http: BTreeMap<ObjectKey, Cached<HttpRoute>>,
    grpc: BTreeMap<ObjectKey, Cached<GrpcRoute>>,
    /// The routes that read each object (for the journal's changes).
    readers: Readers,
    /// Local endpoints per backend Service port of the last plan.
    captured: BTreeMap<ServicePortRef, Captured>,
    /// The store version of the last plan.
    seen: Option<JournalMark>,
    /// The last plan (and the one before it, to be patched in place next time).
    plans: PlanBuffers,
    /// Whether the last plan was patched (not assembled).
    patched: bool,
    analysed: usize,
    captures_read: usize,
}

impl IncrementalPlanner {
    /// A planner for `node` with `cfg`, nothing cached.
    pub fn new(node: impl Into<String>, cfg: PlanConfig) -> Self {
        Self {
            node: node.into(),
            cfg,
            http: BTreeMap::new(),
            grpc: BTreeMap::new(),
            readers: Readers::new(),
            captured: BTreeMap::new(),
            seen: None,
            plans: PlanBuffers::default(),
            patched: false,
            analysed: 0,
            captures_read: 0,
        }
    }

    /// The plan of `store`: equal to `plan(store, node, cfg)`.
    pub fn plan(&mut self, store: &Store) -> Plan {
        (*self.plan_shared(store)).clone()
    }

    /// The plan of `store` (equal to `plan(store, node, cfg)`), shared with the planner:
    /// when nothing it holds changed, the last plan itself.
    ///
    /// When `store` is a later version of the store of the last plan (its journal still
    /// knows what changed since), only the routes and local endpoints that read a changed
    /// object are looked at; otherwise every one is.
    pub fn plan_shared(&mut self, store: &Store) -> Arc<Plan> {
        let touched: Option<BTreeSet<Touched>> = self
            .seen
            .and_then(|m| store.changes_since(m))
            .map(|changes| changes.cloned().collect());
        self.seen = Some(store.mark());
        let touched = touched.as_ref();
        let http = refresh(
            &mut self.http,
            &mut self.readers,
            &store.routes,
            store,
            &self.cfg,
            touched,
        );
        let grpc = refresh(
            &mut self.grpc,
            &mut self.readers,
            &store.grpc_routes,
            store,
            &self.cfg,
            touched,
        );
        self.analysed = http.analysed + grpc.analysed;
        self.captures_read = 0;
        // When only mirrors' addresses changed (and no local endpoint moved), the last plan
        // is brought in step rule by rule; anything else is assembled again. A Pod or a
        // Gateway changed: assembled (the client index and listener siblings read them).
        let assemble_again = http.changed
            || grpc.changed
            || touched.is_none_or(|t| {
                t.iter()
                    .any(|t| matches!(t, Touched::Pod(_) | Touched::Gateway(_)))
            })
            || self.captures_moved(store, touched);
        if let Some(last) = self.plans.last().filter(|_| !assemble_again).cloned() {
            let routes = (http.mirror_addresses.iter().map(|k| &self.http[k].info))
                .chain(grpc.mirror_addresses.iter().map(|k| &self.grpc[k].info));
            let patches = self.plans.patches(routes);
            self.patched = !patches.is_empty();
            if !self.patched {
                return last;
            }
            // The published plan itself stays shared with its readers only.
            drop(last);
            if let Some(next) = self.plans.publish_patched(patches) {
                return next;
            }
        }
        let plan = Arc::new(self.assemble(store, touched));
        self.plans.assembled(plan.clone());
        self.patched = false;
        plan
    }

    /// Whether a backend's local endpoints changed since the last plan (its cache entry
    /// brought in step). Called when no Pod changed: only the backends of a changed Service
    /// or of a Service whose EndpointSlices changed are looked at.
    fn captures_moved(&mut self, store: &Store, touched: Option<&BTreeSet<Touched>>) -> bool {
        let Some(touched) = touched else {
            return true;
        };
        let node = self.node.as_str();
        let mut moved = false;
        for t in touched {
            let (Touched::Service(svc) | Touched::SlicesOf(svc)) = t else {
                continue;
            };
            let port = |port| ServicePortRef {
                namespace: svc.namespace.clone(),
                name: svc.name.clone(),
                port,
            };
            for (b, c) in self.captured.range_mut(port(0)..=port(u16::MAX)) {
                if c.hold(store, b) {
                    continue;
                }
                self.captures_read += 1;
                let fresh = Captured::of(store, b, node);
                moved |= fresh.addrs != c.addrs;
                *c = fresh;
            }
        }
        moved
    }

    /// The plan assembled from the cached analyses.
    fn assemble(&mut self, store: &Store, touched: Option<&BTreeSet<Touched>>) -> Plan {
        // HTTPRoutes then GRPCRoutes, each in key order, as `plan` analyses them.
        let http = self.http.values().map(|c| (&c.info, &c.problems));
        let grpc = self.grpc.values().map(|c| (&c.info, &c.problems));
        let (routes, problems): (Vec<&RouteInfo>, Vec<&Vec<PlanProblem>>) =
            http.chain(grpc).unzip();
        let problems = problems.into_iter().flatten().cloned().collect();
        // Local endpoints: read again only for the backends whose Service, slices or Pods
        // changed; the backends no plan asks for any more are forgotten.
        let node = self.node.as_str();
        let mut previous = std::mem::take(&mut self.captured);
        let mut next = BTreeMap::new();
        let mut read = 0;
        let plan = assemble(store, node, &self.cfg, &routes, problems, &mut |b| {
            if let Some(c) = next.get(b).map(|c: &Captured| c.addrs.clone()) {
                return c;
            }
            let cached = previous
                .remove(b)
                .filter(|c| touched.is_some_and(|t| !c.reads_any(t, b)) || c.hold(store, b));
            let fresh = cached.unwrap_or_else(|| {
                read += 1;
                Captured::of(store, b, node)
            });
            let addrs = fresh.addrs.clone();
            next.insert(b.clone(), fresh);
            addrs
        });
        self.captured = next;
        self.captures_read += read;
        plan
    }

    /// Whether the last [`IncrementalPlanner::plan_shared`] changed the plan before it
    /// in place (only mirrors' addresses changed) instead of assembling it: the plan
    /// differs from the one before then.
    pub fn patched(&self) -> bool {
        self.patched
    }

    /// Patched plans that were copied because a reader still held the plan before the
    /// published one (otherwise that one is brought in step in place).
    pub fn plan_copies(&self) -> usize {
        self.plans.copies()
    }

    /// Routes analysed by the last [`IncrementalPlanner::plan`] (the others were cached).
    pub fn analysed(&self) -> usize {
        self.analysed
    }

    /// Backends whose local endpoints the last [`IncrementalPlanner::plan`] read from the
    /// store (the others were cached).
    pub fn captures_read(&self) -> usize {
        self.captures_read
    }
}
