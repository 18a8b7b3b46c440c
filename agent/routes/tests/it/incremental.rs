//! The incremental planner against planning from scratch: for random sequences of changes
//! (HTTPRoutes and GRPCRoutes, sharing names, parents and hostnames so that cross serving
//! between them is exercised, Services, EndpointSlices, Pods, Gateways, Namespaces, ReferenceGrants added,
//! changed and deleted, in a store changed in place as the Kubernetes source changes it),
//! every plan equals `plan(store)`. A change that no route reads analyses no route again.

use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proptest::prelude::*;
use serde_json::{json, Value};
use shadowtap_routes::compile::IncrementalPlanner;
use shadowtap_routes::model::CompactSlice;
use shadowtap_routes::model::Shared;
use shadowtap_routes::{plan, ObjectKey, Plan, PlanConfig, Store};

const NODE: &str = "node-a";

/// One change to the cluster, in a universe small enough for changes to collide.
#[derive(Clone, Debug)]
enum Change {
    Route {
        /// A GRPCRoute (else an HTTPRoute).
        grpc: bool,
        ns: u8,
        i: u8,
        /// creationTimestamp day (cross serving keeps the oldest).
        age: u8,
        /// Index into [`HOSTNAMES`].
        hosts: u8,
        /// `None`: the Gateway `ns0/gw`; else the Service `(ns, svc)`.
        parent: Option<(u8, u8)>,
        backend: (u8, u8),
        weight: u8,
        mirror: Option<(u8, u8, u8)>,
        labelled: bool,
    },
    /// Kind (GRPCRoute when `true`), namespace, index.
    DeleteRoute(bool, u8, u8),
    Service {
        ns: u8,
        i: u8,
        port: u16,
    },
    DeleteService(u8, u8),
    Slice {
        ns: u8,
        svc: u8,
        j: u8,
        named_port: bool,
        endpoints: Vec<(u8, bool, bool)>,
    },
    DeleteSlice(u8, u8, u8),
    Pod {
        ip: u8,
        here: bool,
    },
    DeletePod(u8),
    Gateway {
        from: u8,
        /// Index into [`LISTENER_KINDS`].
        kinds: u8,
    },
    DeleteGateway,
    Namespace {
        ns: u8,
        team: bool,
    },
    Grant {
        ns: u8,
        from: u8,
        /// Grants GRPCRoutes (else HTTPRoutes).
        grpc: bool,
    },
    DeleteGrant(u8),
}

/// Route hostnames: none (any host), one, a wildcard over it, another.
const HOSTNAMES: [&[&str]; 4] = [
    &[],
    &["a.example.com"],
    &["*.example.com"],
    &["b.example.com"],
];

/// The listener's `allowedRoutes.kinds`: the protocol's default, HTTPRoute only, GRPCRoute only.
const LISTENER_KINDS: [&[&str]; 3] = [&[], &["HTTPRoute"], &["GRPCRoute"]];

fn ns(n: u8) -> String {
    format!("ns{}", n % 2)
}

fn svc(n: u8) -> String {
    format!("svc{}", n % 2)
}

fn backend_ref(at: (u8, u8), port: u16) -> Value {
    json!({"name": svc(at.1), "namespace": ns(at.0), "port": port})
}

fn change() -> impl Strategy<Value = Change> {
    let at = || (0u8..2, 0u8..2);
    prop_oneof![
        6 => (any::<bool>(), 0u8..2, 0u8..3, 1u8..4, 0u8..4, proptest::option::of(at()), at(),
            0u8..3, proptest::option::of((0u8..2, 0u8..2, 1u8..101)), any::<bool>())
            .prop_map(|(grpc, ns, i, age, hosts, parent, backend, weight, mirror, labelled)| {
                Change::Route { grpc, ns, i, age, hosts, parent, backend, weight, mirror, labelled }
            }),
        2 => (any::<bool>(), 0u8..2, 0u8..3).prop_map(|(g, n, i)| Change::DeleteRoute(g, n, i)),
        2 => (0u8..2, 0u8..2, prop_oneof![Just(8080u16), Just(9090u16)])
            .prop_map(|(ns, i, port)| Change::Service { ns, i, port }),
        1 => at().prop_map(|(n, i)| Change::DeleteService(n, i)),
        6 => (0u8..2, 0u8..2, 0u8..2, any::<bool>(),
            proptest::collection::vec((0u8..6, any::<bool>(), any::<bool>()), 0..3))
            .prop_map(|(ns, svc, j, named_port, endpoints)| Change::Slice {
                ns, svc, j, named_port, endpoints }),
        1 => (0u8..2, 0u8..2, 0u8..2).prop_map(|(n, s, j)| Change::DeleteSlice(n, s, j)),
        2 => (0u8..6, any::<bool>()).prop_map(|(ip, here)| Change::Pod { ip, here }),
        1 => (0u8..6).prop_map(Change::DeletePod),
        1 => (0u8..3, 0u8..3).prop_map(|(from, kinds)| Change::Gateway { from, kinds }),
        1 => Just(Change::DeleteGateway),
        1 => (0u8..2, any::<bool>()).prop_map(|(ns, team)| Change::Namespace { ns, team }),
        1 => (0u8..2, 0u8..2, any::<bool>())
            .prop_map(|(ns, from, grpc)| Change::Grant { ns, from, grpc }),
        1 => (0u8..2).prop_map(Change::DeleteGrant),
    ]
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Shared<T> {
    Shared::new(serde_json::from_value(v).unwrap())
}

/// Applies `c` to `store` in place, as the Kubernetes source does.
/// The store's form of an EndpointSlice.
fn compact(s: Shared<EndpointSlice>) -> Shared<CompactSlice> {
    Shared::new(CompactSlice::new((*s).clone()))
}

fn apply(store: &mut Store, c: &Change) {
    match c {
        Change::Route {
            grpc,
            ns: n,
            i,
            age,
            hosts,
            parent,
            backend,
            weight,
            mirror,
            labelled,
        } => {
            let parent = match parent {
                None => json!({"name": "gw", "namespace": "ns0"}),
                Some((pn, ps)) => json!({"group": "", "kind": "Service", "name": svc(*ps),
                    "namespace": ns(*pn), "port": 8080}),
            };
            let mut b = backend_ref(*backend, 8080);
            b["weight"] = json!(weight);
            let filters: Vec<Value> = mirror
                .iter()
                .map(|(mn, ms, pct)| {
                    json!({"type": "RequestMirror", "requestMirror": {
                    "backendRef": backend_ref((*mn, *ms), 8080), "percent": pct}})
                })
                .collect();
            let labels = if *labelled {
                json!({"shadowtap.dev/mirror": "enabled"})
            } else {
                json!({})
            };
            let mut route = json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": format!("r{i}"), "namespace": ns(*n), "labels": labels,
                    "creationTimestamp": format!("2026-01-0{age}T00:00:00Z")},
                "spec": {"parentRefs": [parent], "hostnames": HOSTNAMES[usize::from(*hosts)],
                    "rules": [{"backendRefs": [b], "filters": filters}]}
            });
            if *i == 2 {
                // A route with two rules (two rule entries per parent in a plan), both
                // mirroring: patching a mirror that moved must reach every entry.
                let second = if *grpc {
                    json!({"matches": [{"method": {"service": "pkg.Two"}}],
                        "backendRefs": [b], "filters": filters})
                } else {
                    json!({"matches": [{"path": {"type": "PathPrefix", "value": "/two"}}],
                        "backendRefs": [b], "filters": filters})
                };
                route["spec"]["rules"]
                    .as_array_mut()
                    .expect("rules")
                    .push(second);
            }
            if *grpc {
                route["kind"] = json!("GRPCRoute");
                route["spec"]["rules"][0]["matches"] = json!([{"method": {"service": "pkg.Svc"}}]);
                store.put::<GrpcRoute>(parse(route));
            } else {
                store.put::<HttpRoute>(parse(route));
            }
        }
        Change::DeleteRoute(grpc, n, i) => {
            let key = ObjectKey::new(ns(*n), format!("r{i}"));
            if *grpc {
                store.remove::<GrpcRoute>(&key);
            } else {
                store.remove::<HttpRoute>(&key);
            }
        }
        Change::Service { ns: n, i, port } => {
            store.put::<Service>(parse(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": svc(*i), "namespace": ns(*n)},
                "spec": {"clusterIP": format!("10.96.{n}.{i}"),
                    "ports": [{"name": "http", "port": port, "targetPort": 8080}]}})));
        }
        Change::DeleteService(n, i) => {
            store.remove::<Service>(&ObjectKey::new(ns(*n), svc(*i)));
        }
        Change::Slice {
            ns: n,
            svc: s,
            j,
            named_port,
            endpoints,
        } => {
            let eps: Vec<Value> = endpoints
                .iter()
                .map(|(ip, here, ready)| {
                    json!({"addresses": [format!("10.244.0.{ip}")],
                    "conditions": {"ready": ready},
                    "nodeName": if *here { NODE } else { "node-b" },
                    "targetRef": {"kind": "Pod", "namespace": ns(*n), "name": format!("p{ip}")}})
                })
                .collect();
            let port_name = if *named_port { "http" } else { "other" };
            store.put(compact(parse(json!({"apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": format!("{}-{j}", svc(*s)), "namespace": ns(*n),
                    "labels": {"kubernetes.io/service-name": svc(*s)}},
                "addressType": "IPv4",
                "ports": [{"name": port_name, "port": 8080}],
                "endpoints": eps}))));
        }
        Change::DeleteSlice(n, s, j) => {
            store.remove::<CompactSlice>(&ObjectKey::new(ns(*n), format!("{}-{j}", svc(*s))));
        }
        Change::Pod { ip, here } => {
            // The same name in both namespaces: a Pod's IP or node moves under a slice.
            for n in 0..2 {
                store.put::<Pod>(parse(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("p{ip}"), "namespace": ns(n)},
                    "spec": {"nodeName": if *here { NODE } else { "node-b" }, "containers": []},
                    "status": {"phase": "Running", "podIP": format!("10.244.0.{ip}"),
                        "podIPs": [{"ip": format!("10.244.0.{ip}")}]}})));
            }
        }
        Change::DeletePod(ip) => {
            for n in 0..2 {
                store.remove::<Pod>(&ObjectKey::new(ns(n), format!("p{ip}")));
            }
        }
        Change::Gateway { from, kinds } => {
            let from = match from {
                0 => json!({"from": "All"}),
                1 => json!({"from": "Same"}),
                _ => json!({"from": "Selector", "selector": {"matchLabels": {"team": "x"}}}),
            };
            let mut allowed = json!({"namespaces": from});
            let kinds = LISTENER_KINDS[usize::from(*kinds)];
            if !kinds.is_empty() {
                allowed["kinds"] = kinds.iter().map(|k| json!({"kind": k})).collect();
            }
            store.put::<Gateway>(parse(json!({"apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway", "metadata": {"name": "gw", "namespace": "ns0"},
                "spec": {"gatewayClassName": "c", "listeners": [{"name": "http", "port": 80,
                    "protocol": "HTTP", "allowedRoutes": allowed}]}})));
        }
        Change::DeleteGateway => {
            store.remove::<Gateway>(&ObjectKey::new("ns0", "gw"));
        }
        Change::Namespace { ns: n, team } => {
            let mut labels = json!({"kubernetes.io/metadata.name": ns(*n)});
            if *team {
                labels["team"] = json!("x");
            }
            store.put::<Namespace>(parse(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns(*n), "labels": labels}})));
        }
        Change::Grant { ns: n, from, grpc } => {
            let kind = if *grpc { "GRPCRoute" } else { "HTTPRoute" };
            store.put::<ReferenceGrant>(parse(json!({
                "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                "metadata": {"name": "grant", "namespace": ns(*n)},
                "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": kind,
                    "namespace": ns(*from)}], "to": [{"group": "", "kind": "Service"}]}})));
        }
        Change::DeleteGrant(n) => {
            store.remove::<ReferenceGrant>(&ObjectKey::new(ns(*n), "grant"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After every change, the incremental plan is the plan from scratch.
    #[test]
    fn incremental_plans_equal_plans_from_scratch(
        changes in proptest::collection::vec(change(), 1..40),
    ) {
        let cfg = PlanConfig::default();
        let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
        // From a store where a labelled route captures here and mirrors, so that most
        // changes touch something a plan shows.
        // A GRPCRoute shares its Service parent: cross serving detaches it.
        let mut store = populated();
        apply(&mut store, &grpc_sharing_the_parent());
        prop_assert_eq!(planner.plan(&store), plan(&store, NODE, &cfg));
        for (i, c) in changes.iter().enumerate() {
            apply(&mut store, c);
            let incremental = planner.plan(&store);
            let scratch = plan(&store, NODE, &cfg);
            prop_assert_eq!(incremental, scratch, "after change {} ({:?})", i, c);
        }
    }

    /// Changes applied in batches between plans (as the source's debounce coalesces them):
    /// the incremental plan is the plan from scratch after each batch, and a planner that
    /// is shown a copy of the store (another lineage: its journal cannot tell what changed)
    /// plans it from scratch too.
    #[test]
    fn incremental_plans_after_batches_equal_plans_from_scratch(
        batches in proptest::collection::vec(proptest::collection::vec(change(), 1..6), 1..12),
        copy_every in 2usize..6,
    ) {
        let cfg = PlanConfig::default();
        let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
        let mut store = populated();
        apply(&mut store, &grpc_sharing_the_parent());
        prop_assert_eq!(planner.plan(&store), plan(&store, NODE, &cfg));
        for (i, batch) in batches.iter().enumerate() {
            for c in batch {
                apply(&mut store, c);
            }
            if i % copy_every == copy_every - 1 {
                store = store.clone();
            }
            let incremental = planner.plan(&store);
            let scratch = plan(&store, NODE, &cfg);
            prop_assert_eq!(incremental, scratch, "after batch {} ({:?})", i, batch);
        }
    }

    /// Plans shared with readers (as the planner task publishes them): whether a reader
    /// still holds the plan before the published one (then a patched plan is a copy) or
    /// not (then that plan is brought in step and patched in place), every plan published
    /// equals the plan from scratch, and a plan a reader holds never changes under it.
    #[test]
    fn shared_plans_equal_plans_from_scratch_whether_or_not_readers_hold_them(
        batches in proptest::collection::vec(
            (proptest::collection::vec(change(), 1..4), any::<bool>()),
            1..16,
        ),
    ) {
        let cfg = PlanConfig::default();
        let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
        let mut store = populated();
        apply(&mut store, &grpc_sharing_the_parent());
        // (plan a reader holds, the plan from scratch of its store)
        let mut held: Vec<(std::sync::Arc<Plan>, Plan)> = Vec::new();
        let first = planner.plan_shared(&store);
        prop_assert_eq!(&*first, &plan(&store, NODE, &cfg));
        for (i, (batch, hold)) in batches.iter().enumerate() {
            for c in batch {
                apply(&mut store, c);
            }
            let published = planner.plan_shared(&store);
            let scratch = plan(&store, NODE, &cfg);
            prop_assert_eq!(&*published, &scratch, "after batch {} ({:?})", i, batch);
            for (p, expected) in &held {
                prop_assert_eq!(&**p, expected, "a held plan changed (batch {})", i);
            }
            if *hold {
                held.push((published, scratch));
            }
        }
    }
}

/// Two routes' mirror backends move in turn, again and again (what churn does): each plan
/// is patched, not assembled; the plan before the published one is brought in step and
/// patched in place when no reader holds it, copied when one does, and a held plan keeps
/// what it held. Moving the two in turn makes a reused plan wrong unless it first takes
/// the patches it missed.
#[test]
fn patched_plans_reuse_the_plan_no_reader_holds() {
    let cfg = PlanConfig::default();
    let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
    let mut store = populated();
    // A second labelled route on the same parent, mirroring another Service (the backend
    // itself, whose second EndpointSlice has no endpoint here).
    let second = labelled_route(false, 1, 2, 1, (0, 0, 7));
    apply(&mut store, &second);
    // Step `n` moves the first route's mirror (even) or the second's (odd).
    let mirror_moves = |n: u8| Change::Slice {
        ns: 0,
        svc: 1 - n % 2,
        j: n % 2,
        named_port: true,
        endpoints: vec![(100 + n, false, true)],
    };
    let mut published = planner.plan_shared(&store);
    let mirrored = |p: &Plan| {
        p.route_sets
            .values()
            .flat_map(|s| &s.parents)
            .flat_map(|p| &p.rules)
            .filter(|r| !r.mirrors.is_empty())
            .count()
    };
    assert_eq!(
        mirrored(&published),
        2,
        "both routes mirror: {published:#?}"
    );
    for n in 0..10 {
        apply(&mut store, &mirror_moves(n));
        let next = planner.plan_shared(&store);
        assert!(planner.patched(), "only mirrors' addresses moved");
        assert_eq!(*next, plan(&store, NODE, &cfg), "step {n}");
        published = next;
    }
    // The first patch copies (the assembled plan has no spare); then the spare is reused.
    assert_eq!(planner.plan_copies(), 1);

    // A reader holds each plan for a while.
    let mut held = vec![(published.clone(), (*published).clone())];
    for n in 10..15 {
        apply(&mut store, &mirror_moves(n));
        let next = planner.plan_shared(&store);
        assert_eq!(*next, plan(&store, NODE, &cfg), "step {n}");
        held.push((next.clone(), (*next).clone()));
    }
    // The first of these reuses the plan before the held one; each later one finds its
    // spare held.
    assert_eq!(planner.plan_copies(), 1 + 4, "every spare held was copied");
    for (p, copy) in &held {
        assert_eq!(**p, *copy, "a held plan changed");
    }
    drop(held);
    for n in 15..18 {
        apply(&mut store, &mirror_moves(n));
        assert_eq!(*planner.plan_shared(&store), plan(&store, NODE, &cfg));
    }
    assert_eq!(planner.plan_copies(), 1 + 4, "released: reused again");
    drop(published);
}

/// A route with two rules on one parent, both mirroring the same Service: when that
/// Service's endpoints move, the patched plan changes both rule entries, as a plan from
/// scratch does.
#[test]
fn a_patch_reaches_every_rule_entry_of_a_route() {
    let cfg = PlanConfig::default();
    let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
    let mut store = populated();
    // Route r2 has two rules (see `apply`); it replaces nothing in the populated store.
    apply(&mut store, &labelled_route(false, 2, 2, 1, (0, 1, 50)));
    let first = planner.plan_shared(&store);
    assert_eq!(*first, plan(&store, NODE, &cfg));
    let entries_of_r2 = |p: &Plan| {
        p.route_sets
            .values()
            .flat_map(|s| &s.parents)
            .flat_map(|p| &p.rules)
            .filter(|r| r.id.route.name == "r2" && !r.mirrors.is_empty())
            .count()
    };
    assert_eq!(entries_of_r2(&first), 2, "{first:#?}");
    for n in 0..4u8 {
        // The mirror Service's endpoints move.
        apply(&mut store, &svc1_endpoint_at(10 + n));
        let next = planner.plan_shared(&store);
        assert!(planner.patched(), "only a mirror's addresses moved");
        assert_eq!(*next, plan(&store, NODE, &cfg), "step {n}");
    }
}

/// svc1 in ns0 (the populated store's mirror backend): its one EndpointSlice holds the
/// one ready endpoint `ip`, on no Pod of this node.
fn svc1_endpoint_at(ip: u8) -> Change {
    Change::Slice {
        ns: 0,
        svc: 1,
        j: 0,
        named_port: true,
        endpoints: vec![(ip, false, true)],
    }
}

/// A labelled route `r{i}` in ns0 on the Service parent svc0 (backend svc0, weight 1),
/// mirroring `mirror` = (namespace, Service, percent).
fn labelled_route(grpc: bool, i: u8, age: u8, hosts: u8, mirror: (u8, u8, u8)) -> Change {
    Change::Route {
        grpc,
        ns: 0,
        i,
        age,
        hosts,
        parent: Some((0, 0)),
        backend: (0, 0),
        weight: 1,
        mirror: Some(mirror),
        labelled: true,
    }
}

/// A store holding every kind, and a route whose backend has an endpoint here.
fn populated() -> Store {
    let mut store = Store::new();
    for c in [
        Change::Service {
            ns: 0,
            i: 0,
            port: 8080,
        },
        Change::Service {
            ns: 0,
            i: 1,
            port: 8080,
        },
        Change::Service {
            ns: 1,
            i: 2,
            port: 8080,
        },
        Change::Slice {
            ns: 0,
            svc: 0,
            j: 0,
            named_port: true,
            endpoints: vec![(1, true, true)],
        },
        svc1_endpoint_at(2),
        Change::Slice {
            ns: 1,
            svc: 2,
            j: 0,
            named_port: true,
            endpoints: vec![(3, false, true)],
        },
        labelled_route(false, 0, 1, 0, (0, 1, 42)),
    ] {
        apply(&mut store, &c);
    }
    store
}

/// A labelled GRPCRoute, newer than the populated store's HTTPRoute, on the same Service
/// parent (where any HTTPRoute and GRPCRoute conflict) and mirroring.
fn grpc_sharing_the_parent() -> Change {
    labelled_route(true, 1, 2, 1, (0, 1, 7))
}

/// Cross serving follows a change of either route on a parent although neither route's own
/// analysis is redone for the other: the GRPCRoute attaches once the HTTPRoute is gone and is
/// detached again when an older HTTPRoute arrives.
#[test]
fn cross_serving_is_resolved_again_when_the_other_kind_changes() {
    let cfg = PlanConfig::default();
    let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
    let mut store = populated();
    apply(&mut store, &grpc_sharing_the_parent());
    let conflicts = |p: &shadowtap_routes::Plan| {
        p.problems
            .iter()
            .filter(|q| q.reason == shadowtap_routes::model::ProblemReason::HostnameConflict)
            .count()
    };
    let first = planner.plan(&store);
    assert_eq!(planner.analysed(), 2);
    assert_eq!(first, plan(&store, NODE, &cfg));
    assert_eq!(conflicts(&first), 1, "{first:#?}");

    apply(&mut store, &Change::DeleteRoute(false, 0, 0));
    let alone = planner.plan(&store);
    assert_eq!(
        planner.analysed(),
        0,
        "the GRPCRoute reads nothing that changed"
    );
    assert_eq!(alone, plan(&store, NODE, &cfg));
    assert_eq!(conflicts(&alone), 0, "{alone:#?}");
    assert_ne!(alone, first);

    apply(&mut store, &labelled_route(false, 0, 1, 0, (0, 1, 42)));
    let back = planner.plan(&store);
    assert_eq!(planner.analysed(), 1);
    assert_eq!(back, first);
}

/// Only the routes that read a changed object are analysed again; the plan follows.
#[test]
fn only_routes_reading_a_change_are_analysed_again() {
    let cfg = PlanConfig::default();
    let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
    let mut store = populated();
    let first = planner.plan(&store);
    assert_eq!(planner.analysed(), 1);
    assert_eq!(first.endpoints.len(), 1, "{first:#?}");

    // An EndpointSlice of a Service no route names.
    apply(
        &mut store,
        &Change::Slice {
            ns: 1,
            svc: 2,
            j: 0,
            named_port: true,
            endpoints: vec![(4, false, true)],
        },
    );
    assert_eq!(planner.plan(&store), first);
    assert_eq!(planner.analysed(), 0);

    // The same object again, in a new allocation: nothing to analyse.
    apply(
        &mut store,
        &Change::Service {
            ns: 0,
            i: 1,
            port: 8080,
        },
    );
    assert_eq!(planner.plan(&store), first);
    assert_eq!(planner.analysed(), 0);

    // The mirror backend's endpoints move: the route is analysed again.
    apply(&mut store, &svc1_endpoint_at(5));
    let moved = planner.plan(&store);
    assert_eq!(planner.analysed(), 1);
    assert_eq!(moved, plan(&store, NODE, &cfg));
    let mirror = &moved.route_sets.values().next().unwrap().parents[0].rules[0].mirrors[0];
    assert_eq!(mirror.endpoints, ["10.244.0.5:8080".parse().unwrap()]);
}

/// A backend's local endpoints are read again only when its Service, its EndpointSlices or
/// the Pods they name change; the plan follows every such change.
#[test]
fn local_endpoints_are_read_again_only_when_what_they_read_changed() {
    let cfg = PlanConfig::default();
    let mut planner = IncrementalPlanner::new(NODE, cfg.clone());
    let mut store = populated();
    let first = planner.plan(&store);
    assert_eq!(planner.captures_read(), 1, "the one captured backend");
    let addr = |p: &Plan| {
        p.endpoints
            .iter()
            .map(|e| e.addr.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(addr(&first), ["10.244.0.1:8080"]);

    // Objects the captured backend does not read: nothing is read again.
    for c in [
        Change::Slice {
            ns: 1,
            svc: 2,
            j: 0,
            named_port: true,
            endpoints: vec![(4, true, true)],
        },
        Change::Pod { ip: 4, here: true },
    ] {
        apply(&mut store, &c);
        assert_eq!(planner.plan(&store), first);
        assert_eq!(planner.captures_read(), 0, "{c:?}");
    }

    // The Pod its endpoint names moves to another node: read again, nothing captured.
    apply(&mut store, &Change::Pod { ip: 1, here: false });
    let moved = planner.plan(&store);
    assert_eq!(planner.captures_read(), 1);
    assert_eq!(moved, plan(&store, NODE, &cfg));
    assert!(moved.endpoints.is_empty(), "{moved:#?}");

    // It comes back: read again, captured again.
    apply(&mut store, &Change::Pod { ip: 1, here: true });
    assert_eq!(planner.plan(&store), first);
    assert_eq!(planner.captures_read(), 1);

    // Its Service changes port: read again.
    apply(
        &mut store,
        &Change::Service {
            ns: 0,
            i: 0,
            port: 9090,
        },
    );
    let other_port = planner.plan(&store);
    assert_eq!(other_port, plan(&store, NODE, &cfg));
    assert!(planner.captures_read() <= 1);
}
