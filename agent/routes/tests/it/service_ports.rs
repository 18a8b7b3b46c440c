//! GAMMA parentRefs with a port (Gateway API `ParentReference.port`; upstream conformance
//! `MeshPorts`): a route whose Service parentRef names a port governs only the requests sent
//! to that Service port, which reach the pod at the targetPort the port maps to; one without
//! a port governs every port, and competes on each with the routes of that port. A
//! parentRef that names no port of the Service, or a headless or ExternalName Service, or
//! a Service that does not exist, attaches nowhere and is a problem.
//!
//! Fixture: `mesh-ports.yaml` (Service shop/foo: 80 → container port `web` = 8080 on pod
//! foo-1, 9090 → 9090) plus the routes each test writes.

use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use shadowtap_routes::compile::IncrementalPlanner;
use shadowtap_routes::model::{CompactSlice, Shared};
use shadowtap_routes::{
    render_json, render_table, ObjectKey, Plan, PlanConfig, ProblemReason, Store,
};

use crate::util::{decide_from, fixture, plan_of, rules_at, store_from, winner};

/// Client pods of the fixture: one in namespace web, one in shop.
const CLIENT_WEB: &str = "10.244.2.50";
const CLIENT_SHOP: &str = "10.244.2.70";

/// Pod foo-1 (node-a) at `port`.
fn at(port: u16) -> SocketAddr {
    SocketAddr::new("10.244.1.30".parse().unwrap(), port)
}

/// The fixture plus `routes`.
fn store(routes: &[String]) -> Store {
    let base = std::fs::read_to_string(fixture("mesh-ports.yaml")).unwrap();
    let mut docs = vec![base];
    docs.extend(routes.iter().cloned());
    store_from(&docs.join("\n---\n"))
}

/// An HTTPRoute in `namespace` whose parent is Service shop/`service`, the parentRef's
/// further fields being `parent_fields` (e.g. `port: 80`, YAML at the parentRef's indent;
/// empty = none), with `rules` (YAML list items).
fn route(
    name: &str,
    namespace: &str,
    labelled: bool,
    service: &str,
    parent_fields: &str,
    rules: &str,
) -> String {
    let labels = if labelled {
        "  labels:\n    shadowtap.dev/mirror: enabled\n"
    } else {
        ""
    };
    let extra: String = parent_fields
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: {namespace}\n{labels}spec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: {service}\n    namespace: shop\n{extra}  rules:\n{rules}"
    )
}

/// A rule matching the path prefix `prefix`, sending to Service shop/`backend` at each of
/// `ports`, with a RequestMirror to shop/foo-v2 at `percent` when given.
fn rule(prefix: &str, backend: &str, ports: &[u16], percent: Option<u32>) -> String {
    let mut s = format!(
        "  - matches:\n    - path: {{type: PathPrefix, value: {prefix}}}\n    backendRefs:\n"
    );
    for p in ports {
        s.push_str(&format!(
            "    - {{name: {backend}, namespace: shop, port: {p}}}\n"
        ));
    }
    if let Some(percent) = percent {
        s.push_str(&format!(
            "    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {{name: foo-v2, namespace: shop, port: 80}}\n        percent: {percent}\n"
        ));
    }
    s
}

/// What happens to `GET path` from the client at `client_ip` arriving at foo-1's `port`:
/// `route/rule` of the winner with `percent→mirror` per mirror, `none` when no rule wins,
/// `not captured` when the plan does not capture that port.
fn outcome(plan: &Plan, port: u16, client_ip: &str, path: &str) -> String {
    let Some(rules) = plan.rules_for(&at(port)) else {
        return "not captured".to_owned();
    };
    let ip: IpAddr = client_ip.parse().unwrap();
    let d = decide_from(
        rules,
        plan.client_namespace(ip),
        "GET",
        path,
        &[("Host", b"foo.shop")],
    );
    let mirrors: Vec<String> = d
        .mirrors()
        .iter()
        .map(|m| format!("{}→{}", m.fraction, m.backend.name))
        .collect();
    if mirrors.is_empty() {
        winner(&d)
    } else {
        format!("{} {}", winner(&d), mirrors.join(","))
    }
}

/// (port, client, path, expected outcome) rows, checked together so a failure shows every row.
fn check_table(plan: &Plan, rows: &[(u16, &str, &str, &str)]) {
    let got: Vec<(u16, &str, &str, String)> = rows
        .iter()
        .map(|(port, c, p, _)| (*port, *c, *p, outcome(plan, *port, c, p)))
        .collect();
    let want: Vec<(u16, &str, &str, String)> = rows
        .iter()
        .map(|(port, c, p, w)| (*port, *c, *p, (*w).to_owned()))
        .collect();
    assert_eq!(got, want, "{}", render_table(plan, &plan.problems));
}

/// The parents deciding requests that reach foo-1's `port`.
fn parents_at(plan: &Plan, port: u16) -> Vec<String> {
    rules_at(plan, at(port))
        .parents
        .iter()
        .map(|p| p.parent.to_string())
        .collect()
}

/// (route name, field, reason) of each problem.
fn problems(plan: &Plan) -> Vec<(String, String, ProblemReason)> {
    plan.problems
        .iter()
        .map(|p| (p.route.name.clone(), p.field.clone(), p.reason))
        .collect()
}

/// Two labelled routes on foo, one on port 80 (→ 8080 at the pod, through the named port
/// `web`) and one on 9090: each decides only the requests reaching its own targetPort.
/// Before ports counted, both were one group: `/admin/x` sent to port 80 was won by the
/// 9090 route (which does not deliver to 8080) and lost its mirror, and `/x` sent to 9090
/// was won by the port-80 route.
#[test]
fn a_route_on_a_service_port_decides_only_requests_reaching_its_target_port() {
    let p = plan_of(&store(&[
        route(
            "web",
            "shop",
            true,
            "foo",
            "port: 80",
            &rule("/", "foo", &[80], Some(100)),
        ),
        route(
            "admin",
            "shop",
            true,
            "foo",
            "port: 9090",
            &rule("/admin", "foo", &[9090], Some(50)),
        ),
    ]));
    assert!(p.problems.is_empty(), "{:#?}", p.problems);
    assert_eq!(parents_at(&p, 8080), ["Service shop/foo port 80"]);
    assert_eq!(parents_at(&p, 9090), ["Service shop/foo port 9090"]);
    check_table(
        &p,
        &[
            (8080, CLIENT_SHOP, "/x", "web/0 100%→foo-v2"),
            (8080, CLIENT_SHOP, "/admin/x", "web/0 100%→foo-v2"),
            (9090, CLIENT_SHOP, "/admin/x", "admin/0 50%→foo-v2"),
            (9090, CLIENT_SHOP, "/x", "none"),
        ],
    );
    let table = render_table(&p, &p.problems);
    assert!(
        table.contains("parent Service shop/foo port 80 ("),
        "{table}"
    );
    let json = render_json(&p, &p.problems).unwrap();
    assert!(json.contains("\"port\": 9090"), "{json}");
}

/// A route on port 80 that names port 9090 as a backend: without a mesh, requests reach the
/// pod's 9090 only through the Service's port 9090, which the route does not govern, so
/// nothing arriving there is mirrored (not even captured); port 80's 8080 still is.
#[test]
fn a_route_on_port_80_never_mirrors_requests_reaching_another_port() {
    let p = plan_of(&store(&[route(
        "web",
        "shop",
        true,
        "foo",
        "port: 80",
        &rule("/", "foo", &[80, 9090], Some(100)),
    )]));
    assert!(p.problems.is_empty(), "{:#?}", p.problems);
    check_table(
        &p,
        &[
            (8080, CLIENT_SHOP, "/x", "web/0 100%→foo-v2"),
            (9090, CLIENT_SHOP, "/x", "not captured"),
        ],
    );
}

/// A route without a port competes on every port: on port 80, with the port-80 route (one
/// group, the usual precedence); on 9090, which no route names, in the group of the routes
/// without a port.
#[test]
fn routes_without_a_port_compete_with_each_ports_routes() {
    let all = format!(
        "{}{}",
        rule("/api", "foo", &[80], Some(10)),
        rule("/metrics", "foo", &[9090], Some(20))
    );
    let p = plan_of(&store(&[
        route("all", "shop", true, "foo", "", &all),
        route(
            "web",
            "shop",
            true,
            "foo",
            "port: 80",
            &rule("/", "foo", &[80], Some(100)),
        ),
    ]));
    assert!(p.problems.is_empty(), "{:#?}", p.problems);
    assert_eq!(parents_at(&p, 8080), ["Service shop/foo port 80"]);
    assert_eq!(parents_at(&p, 9090), ["Service shop/foo"]);
    check_table(
        &p,
        &[
            (8080, CLIENT_SHOP, "/api/x", "all/0 10%→foo-v2"),
            (8080, CLIENT_SHOP, "/x", "web/0 100%→foo-v2"),
            (8080, CLIENT_SHOP, "/metrics", "other:all/1"),
            (9090, CLIENT_SHOP, "/metrics", "all/1 20%→foo-v2"),
            (9090, CLIENT_SHOP, "/x", "none"),
        ],
    );
}

/// With no route naming a port, a Service's routes are one group, as before ports counted.
#[test]
fn without_ports_a_services_routes_stay_one_group() {
    let p = plan_of(&store(&[route(
        "all",
        "shop",
        true,
        "foo",
        "",
        &format!(
            "{}{}",
            rule("/", "foo", &[80], Some(10)),
            rule("/", "foo", &[9090], Some(20))
        ),
    )]));
    assert_eq!(parents_at(&p, 8080), ["Service shop/foo"]);
    assert_eq!(parents_at(&p, 9090), ["Service shop/foo"]);
    check_table(
        &p,
        &[
            (8080, CLIENT_SHOP, "/x", "all/0 10%→foo-v2"),
            (9090, CLIENT_SHOP, "/x", "other:all/0"),
        ],
    );
}

/// `sectionName` names a Service port: the same group as that port's number; with both
/// set, both must match.
#[test]
fn section_name_names_a_service_port() {
    let p = plan_of(&store(&[
        route(
            "by-name",
            "shop",
            true,
            "foo",
            "sectionName: admin",
            &rule("/a", "foo", &[9090], Some(50)),
        ),
        route(
            "by-number",
            "shop",
            true,
            "foo",
            "port: 9090",
            &rule("/b", "foo", &[9090], Some(20)),
        ),
        route(
            "both",
            "shop",
            true,
            "foo",
            "port: 9090\nsectionName: http",
            &rule("/c", "foo", &[9090], Some(10)),
        ),
    ]));
    assert_eq!(parents_at(&p, 9090), ["Service shop/foo port 9090"]);
    check_table(
        &p,
        &[
            (9090, CLIENT_SHOP, "/a", "by-name/0 50%→foo-v2"),
            (9090, CLIENT_SHOP, "/b", "by-number/0 20%→foo-v2"),
            (9090, CLIENT_SHOP, "/c", "none"),
        ],
    );
    assert_eq!(
        problems(&p),
        [(
            "both".to_owned(),
            "spec.parentRefs[0]".to_owned(),
            ProblemReason::NoMatchingParent
        )]
    );
}

/// A parentRef naming a port the Service does not have, a headless or an ExternalName
/// Service, or a Service that does not exist, attaches nowhere: a problem each, nothing
/// captured for them, and the route's other parents unaffected.
#[test]
fn unattachable_service_parents_are_problems() {
    let mirror = rule("/", "foo", &[80], Some(100));
    let routes = [
        route("port-81", "shop", true, "foo", "port: 81", &mirror),
        route(
            "no-such-name",
            "shop",
            true,
            "foo",
            "sectionName: grpc",
            &mirror,
        ),
        route("headless", "shop", true, "foo-headless", "", &mirror),
        route(
            "headless-port",
            "shop",
            true,
            "foo-headless",
            "port: 80",
            &mirror,
        ),
        route("external", "shop", true, "foo-external", "", &mirror),
        route("missing", "shop", true, "foo-gone", "", &mirror),
    ];
    let p = plan_of(&store(&routes));
    assert!(p.endpoints.is_empty(), "{}", render_table(&p, &p.problems));
    let field = || "spec.parentRefs[0]".to_owned();
    assert_eq!(
        problems(&p),
        [
            (
                "external".to_owned(),
                field(),
                ProblemReason::UnsupportedParentService
            ),
            (
                "headless".to_owned(),
                field(),
                ProblemReason::UnsupportedParentService
            ),
            (
                "headless-port".to_owned(),
                field(),
                ProblemReason::UnsupportedParentService
            ),
            ("missing".to_owned(), field(), ProblemReason::ParentNotFound),
            (
                "no-such-name".to_owned(),
                field(),
                ProblemReason::NoMatchingParent
            ),
            (
                "port-81".to_owned(),
                field(),
                ProblemReason::NoMatchingParent
            ),
        ]
    );
    let table = render_table(&p, &p.problems);
    for want in [
        "HTTPRoute shop/port-81 spec.parentRefs[0]: no_matching_parent (Service shop/foo has no port with number 81",
        "HTTPRoute shop/headless spec.parentRefs[0]: unsupported_parent_service (Service shop/foo-headless is headless",
        "HTTPRoute shop/external spec.parentRefs[0]: unsupported_parent_service (Service shop/foo-external is of type ExternalName",
        "HTTPRoute shop/missing spec.parentRefs[0]: parent_not_found (Service shop/foo-gone not found",
    ] {
        assert!(table.contains(want), "{want}\n{table}");
    }

    // One good parent beside a bad one: attached through the good one only.
    let two = route("two", "shop", true, "foo", "port: 80", &mirror).replace(
        "  rules:\n",
        "  - {group: \"\", kind: Service, name: foo-external, namespace: shop}\n  rules:\n",
    );
    let p = plan_of(&store(&[two]));
    assert_eq!(parents_at(&p, 8080), ["Service shop/foo port 80"]);
    assert_eq!(
        problems(&p),
        [(
            "two".to_owned(),
            "spec.parentRefs[1]".to_owned(),
            ProblemReason::UnsupportedParentService
        )]
    );
}

/// Consumer routes (GEP-1294) on a port replace the producer routes for their namespace's
/// clients on that port only: on the Service's other ports those clients follow the
/// producer routes.
#[test]
fn consumer_routes_on_a_port_replace_producer_routes_on_that_port_only() {
    let p = plan_of(&store(&[
        route(
            "producer",
            "shop",
            true,
            "foo",
            "",
            &rule("/", "foo", &[80], Some(10)),
        ),
        route(
            "ops",
            "shop",
            true,
            "foo",
            "port: 9090",
            &rule("/", "foo", &[9090], Some(20)),
        ),
        route(
            "consumer",
            "web",
            true,
            "foo",
            "port: 80",
            &rule("/", "foo", &[80], Some(100)),
        ),
    ]));
    assert!(p.problems.is_empty(), "{:#?}", p.problems);
    assert_eq!(
        parents_at(&p, 8080),
        [
            "Service shop/foo",
            "Service shop/foo port 80 consumers in web"
        ]
    );
    assert_eq!(parents_at(&p, 9090), ["Service shop/foo port 9090"]);
    check_table(
        &p,
        &[
            (8080, CLIENT_WEB, "/x", "consumer/0 100%→foo-v2"),
            (8080, CLIENT_SHOP, "/x", "producer/0 10%→foo-v2"),
            (9090, CLIENT_WEB, "/x", "ops/0 20%→foo-v2"),
            (9090, CLIENT_SHOP, "/x", "ops/0 20%→foo-v2"),
        ],
    );
}

/// Two Service ports that map to one targetPort (twin: 80 and 8080 both → 8080): the pod
/// cannot tell which one a request came through. Both groups decide it, as listeners that
/// could each have delivered it do: the first group (in plan order) whose winner is a
/// labelled rule with mirrors decides, and the plan warns `ambiguous_parent` on the rules
/// whose requests the other port's mirrors may take.
#[test]
fn two_service_ports_with_one_target_port_are_both_decided_and_warned() {
    let p = plan_of(&store(&[
        route(
            "t80",
            "shop",
            true,
            "twin",
            "port: 80",
            &rule("/", "twin", &[80], Some(100)),
        ),
        route(
            "t8080",
            "shop",
            true,
            "twin",
            "port: 8080",
            &rule("/", "twin", &[8080], Some(50)),
        ),
    ]));
    assert_eq!(
        parents_at(&p, 8080),
        ["Service shop/twin port 80", "Service shop/twin port 8080"]
    );
    check_table(&p, &[(8080, CLIENT_SHOP, "/x", "t80/0 100%→foo-v2")]);
    assert_eq!(
        problems(&p),
        [
            (
                "t80".to_owned(),
                "spec.rules[0]".to_owned(),
                ProblemReason::AmbiguousParent
            ),
            (
                "t8080".to_owned(),
                "spec.rules[0]".to_owned(),
                ProblemReason::AmbiguousParent
            )
        ]
    );
}

/// The incremental planner follows what tells Service ports apart at the pod: a Pod's named
/// container port moving, and a Service port's targetPort changing, give the plan planned
/// from scratch.
#[test]
fn incremental_plans_follow_named_ports_and_target_ports() {
    let mut s = store(&[
        route(
            "web",
            "shop",
            true,
            "foo",
            "port: 80",
            &rule("/", "foo", &[80], Some(100)),
        ),
        route(
            "admin",
            "shop",
            true,
            "foo",
            "port: 9090",
            &rule("/admin", "foo", &[9090], Some(50)),
        ),
        route(
            "all",
            "shop",
            true,
            "foo",
            "",
            &rule("/api", "foo", &[80], Some(10)),
        ),
    ]);
    let mut planner = IncrementalPlanner::new(crate::util::NODE, PlanConfig::default());
    let first = planner.plan(&s);
    assert_eq!(first, plan_of(&s));
    assert_eq!(parents_at(&first, 8080), ["Service shop/foo port 80"]);

    // The pod's port `web` moves to 9090, and the endpoints controller writes it in foo's
    // EndpointSlice: Service port 80 now reaches this pod at 9090, as port 9090 does, and
    // nothing reaches 8080.
    let pod_key = ObjectKey::new("shop", "foo-1");
    let mut pod: Pod = (*s.pods[&pod_key]).clone();
    for c in &mut pod.spec.as_mut().unwrap().containers {
        for p in c.ports.iter_mut().flatten() {
            if p.name.as_deref() == Some("web") {
                p.container_port = 9090;
            }
        }
    }
    s.put::<Pod>(Shared::new(pod));
    s.put(foo_slice(9090));
    let moved = planner.plan(&s);
    assert_eq!(moved, plan_of(&s));
    assert!(moved.rules_for(&at(8080)).is_none(), "{moved:#?}");
    assert_eq!(
        parents_at(&moved, 9090),
        ["Service shop/foo port 80", "Service shop/foo port 9090"]
    );

    // Back to 8080 in the slice only (the Pod still says 9090): the slice, which captures
    // read too, decides for the Service's own endpoints.
    s.put(foo_slice(8080));
    let back = planner.plan(&s);
    assert_eq!(back, plan_of(&s));
    assert_eq!(parents_at(&back, 8080), ["Service shop/foo port 80"]);
    assert_eq!(parents_at(&back, 9090), ["Service shop/foo port 9090"]);

    // Service port 80 now targets 8080 by number: back to one port per group.
    let svc_key = ObjectKey::new("shop", "foo");
    let mut svc: Service = (*s.services[&svc_key]).clone();
    for p in svc.spec.as_mut().unwrap().ports.iter_mut().flatten() {
        if p.port == 80 {
            p.target_port = Some(IntOrString::Int(8080));
        }
    }
    s.put::<Service>(Shared::new(svc));
    let retargeted = planner.plan(&s);
    assert_eq!(retargeted, plan_of(&s));
    // The mirror backend's endpoint moves: the plan is patched, in every group the route
    // without a port joined (port 80's, and the other ports').
    s.put(mirror_slice("10.244.2.32"));
    let patched = planner.plan(&s);
    assert!(planner.patched());
    assert_eq!(patched, plan_of(&s));
    let endpoints: Vec<String> = rules_at(&patched, at(8080))
        .parents
        .iter()
        .flat_map(|p| &p.rules)
        .flat_map(|r| &r.mirrors)
        .flat_map(|m| &m.endpoints)
        .map(ToString::to_string)
        .collect();
    assert_eq!(endpoints, ["10.244.2.32:8080", "10.244.2.32:8080"]);
    assert_eq!(parents_at(&retargeted, 8080), ["Service shop/foo port 80"]);
    assert_eq!(
        parents_at(&retargeted, 9090),
        ["Service shop/foo port 9090"]
    );
}

/// The mirror backend foo-v2's EndpointSlice, its one endpoint at `ip`.
fn mirror_slice(ip: &str) -> Shared<CompactSlice> {
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "foo-v2-abcde", "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "foo-v2"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}, "nodeName": "node-b"}]
    }))
    .unwrap();
    Shared::new(CompactSlice::new(slice))
}

/// Service shop/foo's EndpointSlice with its port `http` at `http_port`.
fn foo_slice(http_port: u16) -> Shared<CompactSlice> {
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "foo-abcde", "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "foo"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": http_port, "protocol": "TCP"},
            {"name": "admin", "port": 9090, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.1.30"], "conditions": {"ready": true},
            "nodeName": "node-a",
            "targetRef": {"kind": "Pod", "namespace": "shop", "name": "foo-1"}}]
    }))
    .unwrap();
    Shared::new(CompactSlice::new(slice))
}

/// A Service without selector as the parent (a frontend only, GEP-1294): the captured pod
/// is none of its endpoints, so its port 80 is mapped by its targetPort, the container port
/// named `web` of each Pod (8080 on foo-1).
#[test]
fn a_parent_without_selector_maps_its_port_on_each_pod() {
    let p = plan_of(&store(&[route(
        "front",
        "shop",
        true,
        "front",
        "port: 80",
        &format!(
            "{}{}",
            rule("/", "foo", &[80], Some(100)),
            rule("/admin", "foo", &[9090], Some(50))
        ),
    )]));
    assert!(p.problems.is_empty(), "{:#?}", p.problems);
    assert_eq!(parents_at(&p, 8080), ["Service shop/front port 80"]);
    check_table(
        &p,
        &[
            (8080, CLIENT_SHOP, "/x", "front/0 100%→foo-v2"),
            (9090, CLIENT_SHOP, "/admin", "not captured"),
        ],
    );
}
