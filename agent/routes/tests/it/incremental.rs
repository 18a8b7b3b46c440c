//! The incremental planner against planning from scratch: for random sequences of changes
//! (routes, Services, EndpointSlices, Pods, Gateways, Namespaces, ReferenceGrants added,
//! changed and deleted, in a store changed in place as the Kubernetes source changes it),
//! every plan equals `plan(store)`. A change that no route reads analyses no route again.

use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use proptest::prelude::*;
use serde_json::{json, Value};
use shadowtap_routes::compile::IncrementalPlanner;
use shadowtap_routes::model::Shared;
use shadowtap_routes::{plan, ObjectKey, PlanConfig, Store};

const NODE: &str = "node-a";

/// One change to the cluster, in a universe small enough for changes to collide.
#[derive(Clone, Debug)]
enum Change {
    Route {
        ns: u8,
        i: u8,
        /// `None`: the Gateway `ns0/gw`; else the Service `(ns, svc)`.
        parent: Option<(u8, u8)>,
        backend: (u8, u8),
        weight: u8,
        mirror: Option<(u8, u8, u8)>,
        labelled: bool,
    },
    DeleteRoute(u8, u8),
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
    },
    DeleteGateway,
    Namespace {
        ns: u8,
        team: bool,
    },
    Grant {
        ns: u8,
        from: u8,
    },
    DeleteGrant(u8),
}

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
        4 => (0u8..2, 0u8..3, proptest::option::of(at()), at(), 0u8..3,
            proptest::option::of((0u8..2, 0u8..2, 1u8..101)), any::<bool>())
            .prop_map(|(ns, i, parent, backend, weight, mirror, labelled)| Change::Route {
                ns, i, parent, backend, weight, mirror, labelled }),
        1 => (0u8..2, 0u8..3).prop_map(|(n, i)| Change::DeleteRoute(n, i)),
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
        1 => (0u8..3).prop_map(|from| Change::Gateway { from }),
        1 => Just(Change::DeleteGateway),
        1 => (0u8..2, any::<bool>()).prop_map(|(ns, team)| Change::Namespace { ns, team }),
        1 => (0u8..2, 0u8..2).prop_map(|(ns, from)| Change::Grant { ns, from }),
        1 => (0u8..2).prop_map(Change::DeleteGrant),
    ]
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Shared<T> {
    Shared::new(serde_json::from_value(v).unwrap())
}

/// Applies `c` to `store` in place, as the Kubernetes source does.
fn apply(store: &mut Store, c: &Change) {
    match c {
        Change::Route {
            ns: n,
            i,
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
            store.put::<HttpRoute>(parse(json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": format!("r{i}"), "namespace": ns(*n), "labels": labels,
                    "creationTimestamp": format!("2026-01-0{}T00:00:00Z", i + 1)},
                "spec": {"parentRefs": [parent], "rules": [{"backendRefs": [b], "filters": filters}]}
            })));
        }
        Change::DeleteRoute(n, i) => {
            store.remove::<HttpRoute>(&ObjectKey::new(ns(*n), format!("r{i}")));
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
            store.put::<EndpointSlice>(parse(json!({"apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": format!("{}-{j}", svc(*s)), "namespace": ns(*n),
                    "labels": {"kubernetes.io/service-name": svc(*s)}},
                "addressType": "IPv4",
                "ports": [{"name": port_name, "port": 8080}],
                "endpoints": eps})));
        }
        Change::DeleteSlice(n, s, j) => {
            store.remove::<EndpointSlice>(&ObjectKey::new(ns(*n), format!("{}-{j}", svc(*s))));
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
        Change::Gateway { from } => {
            let from = match from {
                0 => json!({"from": "All"}),
                1 => json!({"from": "Same"}),
                _ => json!({"from": "Selector", "selector": {"matchLabels": {"team": "x"}}}),
            };
            store.put::<Gateway>(parse(json!({"apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway", "metadata": {"name": "gw", "namespace": "ns0"},
                "spec": {"gatewayClassName": "c", "listeners": [{"name": "http", "port": 80,
                    "protocol": "HTTP", "allowedRoutes": {"namespaces": from}}]}})));
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
        Change::Grant { ns: n, from } => {
            store.put::<ReferenceGrant>(parse(json!({
                "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                "metadata": {"name": "grant", "namespace": ns(*n)},
                "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
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
        let mut store = populated();
        prop_assert_eq!(planner.plan(&store), plan(&store, NODE, &cfg));
        for (i, c) in changes.iter().enumerate() {
            apply(&mut store, c);
            let incremental = planner.plan(&store);
            let scratch = plan(&store, NODE, &cfg);
            prop_assert_eq!(incremental, scratch, "after change {} ({:?})", i, c);
        }
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
        Change::Slice {
            ns: 0,
            svc: 1,
            j: 0,
            named_port: true,
            endpoints: vec![(2, false, true)],
        },
        Change::Slice {
            ns: 1,
            svc: 2,
            j: 0,
            named_port: true,
            endpoints: vec![(3, false, true)],
        },
        Change::Route {
            ns: 0,
            i: 0,
            parent: Some((0, 0)),
            backend: (0, 0),
            weight: 1,
            mirror: Some((0, 1, 42)),
            labelled: true,
        },
    ] {
        apply(&mut store, &c);
    }
    store
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
    apply(
        &mut store,
        &Change::Slice {
            ns: 0,
            svc: 1,
            j: 0,
            named_port: true,
            endpoints: vec![(5, false, true)],
        },
    );
    let moved = planner.plan(&store);
    assert_eq!(planner.analysed(), 1);
    assert_eq!(moved, plan(&store, NODE, &cfg));
    let mirror = &moved.route_sets.values().next().unwrap().parents[0].rules[0].mirrors[0];
    assert_eq!(mirror.endpoints, ["10.244.0.5:8080".parse().unwrap()]);
}
