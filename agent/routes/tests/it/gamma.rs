//! GAMMA (routes whose parent is a Service), GEP-1294: producer routes (in the Service's
//! namespace) apply to every client; consumer routes (in another namespace) apply only to
//! clients in their own namespace, and for those clients replace the producer routes; the
//! groups never merge. Service-parent routes reach backends in any namespace without a
//! ReferenceGrant. A client whose namespace is unknown follows the producer routes.
//!
//! Fixtures: `mesh-gamma-base.yaml` (shaped like the upstream mesh conformance manifests)
//! plus the routes each test writes, shaped like `tests/mesh-consumer-route.yaml`.

use std::net::{IpAddr, SocketAddr};

use shadowtap_routes::{render_json, render_table, Decision, Plan, ProblemReason, Store};

use crate::util::{decide_from, fixture, plan_of, rules_at, store_from, winner};

const MESH: &str = "gateway-conformance-mesh";
const CONSUMER: &str = "gateway-conformance-mesh-consumer";
const CONSUMER_B: &str = "gateway-conformance-mesh-consumer-b";

/// The echo-v1 pod on node-a: the endpoint captured.
fn echo_v1() -> SocketAddr {
    "10.244.1.20:8080".parse().unwrap()
}

/// Client pod IPs of the fixture.
const CLIENT_CONSUMER: &str = "10.244.2.50";
const CLIENT_CONSUMER_V6: &str = "fd00:10:244:2::50";
const CLIENT_CONSUMER_B: &str = "10.244.2.60";
const CLIENT_PRODUCER: &str = "10.244.2.70";
/// node-b's IP, which a host-network pod of the consumer namespace uses.
const HOST_NETWORK: &str = "192.168.0.12";
/// An IP no pod has (a pod not seen yet, or a client outside the cluster).
const NO_POD: &str = "10.244.9.9";

/// The base world plus `routes`.
fn store(routes: &[String]) -> Store {
    let base = std::fs::read_to_string(fixture("mesh-gamma-base.yaml")).unwrap();
    let mut docs = vec![base];
    docs.extend(routes.iter().cloned());
    store_from(&docs.join("\n---\n"))
}

/// An HTTPRoute in `namespace` whose parent is Service gateway-conformance-mesh/echo-v1,
/// with `rules` (YAML list items, indented 2).
fn mesh_route(name: &str, namespace: &str, labelled: bool, rules: &str) -> String {
    let labels = if labelled {
        "  labels:\n    shadowtap.dev/mirror: enabled\n"
    } else {
        ""
    };
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: {namespace}\n{labels}spec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: echo-v1\n    namespace: {MESH}\n  rules:\n{rules}"
    )
}

/// A rule sending to `backend` (a Service of the producer namespace, port 80), matching the
/// path prefix `prefix`, with a RequestMirror to `mirror` (producer namespace, port 80) at
/// `percent` when given. Namespaces are written out, as a consumer route must.
fn rule(prefix: &str, backend: &str, mirror: Option<(&str, u32)>) -> String {
    let mut s = format!(
        "  - matches:\n    - path: {{type: PathPrefix, value: {prefix}}}\n    backendRefs:\n    - name: {backend}\n      namespace: {MESH}\n      port: 80\n"
    );
    match mirror {
        Some((to, percent)) => s.push_str(&format!(
            "    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {{name: {to}, namespace: {MESH}, port: 80}}\n        percent: {percent}\n"
        )),
        // Like the conformance consumer route: a filter that changes nothing mirrored.
        None => s.push_str(
            "    filters:\n    - type: ResponseHeaderModifier\n      responseHeaderModifier:\n        set:\n        - {name: X-Header-Set, value: set}\n",
        ),
    }
    s
}

/// The producer route: labelled, 42 % of echo-v1's requests to echo-v2.
fn producer_42() -> String {
    mesh_route(
        "producer",
        MESH,
        true,
        &rule("/", "echo-v1", Some(("echo-v2", 42))),
    )
}

/// What happens to `GET path` from the client at `client_ip`, the way the agent decides it:
/// the plan's client index gives the namespace. `route/rule@percent→mirror` for each mirror.
fn outcome(plan: &Plan, client_ip: &str, path: &str) -> String {
    let ip: IpAddr = client_ip.parse().unwrap();
    let rules = rules_at(plan, echo_v1());
    let d = decide_from(
        rules,
        plan.client_namespace(ip),
        "GET",
        path,
        &[("Host", b"echo-v1.gateway-conformance-mesh")],
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

/// (client, path, expected outcome) rows, checked together so a failure shows every row.
fn check_table(plan: &Plan, rows: &[(&str, &str, &str)]) {
    let got: Vec<(&str, &str, String)> = rows
        .iter()
        .map(|(c, p, _)| (*c, *p, outcome(plan, c, p)))
        .collect();
    let want: Vec<(&str, &str, String)> = rows
        .iter()
        .map(|(c, p, w)| (*c, *p, (*w).to_owned()))
        .collect();
    assert_eq!(got, want, "plan: {plan:#?}");
}

fn no_problems(plan: &Plan) {
    assert!(plan.problems.is_empty(), "{:#?}", plan.problems);
}

#[test]
fn producer_route_only_applies_to_every_client() {
    let p = plan_of(&store(&[producer_42()]));
    no_problems(&p);
    let parents: Vec<String> = rules_at(&p, echo_v1())
        .parents
        .iter()
        .map(|p| p.parent.to_string())
        .collect();
    assert_eq!(parents, [format!("Service {MESH}/echo-v1")]);
    // No consumer routes: no client needs to be known.
    assert!(p.client_namespaces.is_empty());
    assert!(!rules_at(&p, echo_v1()).has_consumer_routes());
    check_table(
        &p,
        &[
            (CLIENT_CONSUMER, "/", "producer/0 42%→echo-v2"),
            (CLIENT_CONSUMER_B, "/x", "producer/0 42%→echo-v2"),
            (CLIENT_PRODUCER, "/", "producer/0 42%→echo-v2"),
            (HOST_NETWORK, "/", "producer/0 42%→echo-v2"),
            (NO_POD, "/", "producer/0 42%→echo-v2"),
        ],
    );
}

#[test]
fn consumer_route_only_applies_to_clients_of_its_namespace() {
    // The conformance consumer route, labelled, with a mirror: its backendRef and mirror are
    // in the producer's namespace, with no ReferenceGrant anywhere.
    let consumer = mesh_route(
        "mesh-echo-add-header",
        CONSUMER,
        true,
        &rule("/", "echo-v1", Some(("echo-v2", 100))),
    );
    let p = plan_of(&store(&[consumer]));
    no_problems(&p);
    assert_eq!(p.endpoints.len(), 1);
    assert_eq!(p.endpoints[0].addr, echo_v1());
    let rules = rules_at(&p, echo_v1());
    assert!(rules.has_consumer_routes());
    let parents: Vec<String> = rules.parents.iter().map(|p| p.parent.to_string()).collect();
    assert_eq!(
        parents,
        [format!("Service {MESH}/echo-v1 consumers in {CONSUMER}")]
    );
    check_table(
        &p,
        &[
            // In its namespace (either IP family of the client pod).
            (CLIENT_CONSUMER, "/", "mesh-echo-add-header/0 100%→echo-v2"),
            (
                CLIENT_CONSUMER_V6,
                "/a",
                "mesh-echo-add-header/0 100%→echo-v2",
            ),
            // Out of it: the Service has no producer routes, nothing applies to them.
            (CLIENT_PRODUCER, "/", "none"),
            (CLIENT_CONSUMER_B, "/", "none"),
        ],
    );
}

#[test]
fn consumer_routes_replace_producer_routes_for_their_namespace_only() {
    // The conformance pair: the producer's labelled route mirrors 42 %; the consumer
    // namespace's route (unlabelled, a response header) only answers /api.
    let consumer = mesh_route(
        "mesh-echo-add-header",
        CONSUMER,
        false,
        &rule("/api", "echo-v1", None),
    );
    let p = plan_of(&store(&[producer_42(), consumer]));
    no_problems(&p);
    check_table(
        &p,
        &[
            // Consumer clients follow their consumer route: it is not shadowtap's, nothing
            // mirrored...
            (
                CLIENT_CONSUMER,
                "/api/v1",
                "unlabelled:mesh-echo-add-header/0",
            ),
            // ...and what it does not match is not routed by the producer routes either
            // (the groups never merge; the mesh would reject the request).
            (CLIENT_CONSUMER, "/other", "none"),
            // Every other client follows the producer route.
            (CLIENT_PRODUCER, "/api/v1", "producer/0 42%→echo-v2"),
            (CLIENT_CONSUMER_B, "/other", "producer/0 42%→echo-v2"),
        ],
    );

    // A labelled consumer route with its own mirror: consumer clients get its mirror, not
    // the producer's.
    let consumer = mesh_route(
        "consumer-mirror",
        CONSUMER,
        true,
        &rule("/", "echo-v1", Some(("echo-v3", 10))),
    );
    let p = plan_of(&store(&[producer_42(), consumer]));
    no_problems(&p);
    check_table(
        &p,
        &[
            (CLIENT_CONSUMER, "/", "consumer-mirror/0 10%→echo-v3"),
            (CLIENT_PRODUCER, "/", "producer/0 42%→echo-v2"),
        ],
    );
    // Both groups can fire at this endpoint: the kernel captures for the larger fraction.
    assert_eq!(p.endpoints[0].max_fraction.to_string(), "42%");

    // A consumer route that sends its clients elsewhere (echo-v3): a request from a
    // consumer client at echo-v1 did not come through echo-v1's routes, and the producer's
    // mirror does not apply to it.
    let elsewhere = mesh_route(
        "consumer-elsewhere",
        CONSUMER,
        false,
        &rule("/", "echo-v3", None),
    );
    let p = plan_of(&store(&[producer_42(), elsewhere]));
    no_problems(&p);
    check_table(
        &p,
        &[
            (CLIENT_CONSUMER, "/", "other:consumer-elsewhere/0"),
            (CLIENT_PRODUCER, "/", "producer/0 42%→echo-v2"),
        ],
    );
}

#[test]
fn two_consumer_namespaces_each_get_their_own_routes() {
    let a = mesh_route(
        "route-a",
        CONSUMER,
        true,
        &rule("/", "echo-v1", Some(("echo-v2", 100))),
    );
    let b = mesh_route(
        "route-b",
        CONSUMER_B,
        true,
        &rule("/", "echo-v1", Some(("echo-v3", 5))),
    );
    // A second route of namespace A merges with its first (same group): longest prefix wins.
    let a2 = mesh_route(
        "route-a2",
        CONSUMER,
        false,
        &rule("/private", "echo-v1", None),
    );
    let p = plan_of(&store(&[producer_42(), a, b, a2]));
    // Groups of one Service are told apart by the client's namespace: no ambiguity warning.
    no_problems(&p);
    let rules = rules_at(&p, echo_v1());
    let parents: Vec<String> = rules.parents.iter().map(|p| p.parent.to_string()).collect();
    assert_eq!(
        parents,
        [
            format!("Service {MESH}/echo-v1"),
            format!("Service {MESH}/echo-v1 consumers in {CONSUMER}"),
            format!("Service {MESH}/echo-v1 consumers in {CONSUMER_B}"),
        ]
    );
    check_table(
        &p,
        &[
            (CLIENT_CONSUMER, "/", "route-a/0 100%→echo-v2"),
            (CLIENT_CONSUMER, "/private/x", "unlabelled:route-a2/0"),
            (CLIENT_CONSUMER_B, "/private/x", "route-b/0 5%→echo-v3"),
            (CLIENT_PRODUCER, "/private/x", "producer/0 42%→echo-v2"),
        ],
    );
    // The client index holds the pods of the consumer namespaces only; the host-network
    // pod's IP (node-b's) does not tell its namespace.
    let index: Vec<(String, &str)> = p
        .client_namespaces
        .iter()
        .map(|(ip, ns)| (ip.to_string(), ns.as_str()))
        .collect();
    assert_eq!(
        index,
        [
            (CLIENT_CONSUMER.to_owned(), CONSUMER),
            (CLIENT_CONSUMER_B.to_owned(), CONSUMER_B),
            (CLIENT_CONSUMER_V6.to_owned(), CONSUMER),
        ]
    );

    // `shadowtap plan` says, per rule, producer or consumer and for whom.
    let table = render_table(&p, &p.problems);
    for want in [
        format!("parent Service {MESH}/echo-v1 (producer routes: clients without consumer routes)"),
        format!("parent Service {MESH}/echo-v1 consumers in {CONSUMER} (consumer routes: clients in namespace {CONSUMER})"),
        format!("{MESH}/producer rule 0 [labelled, delivers here, producer] hosts=* match=/* wins=itself"),
        format!("{CONSUMER}/route-a rule 0 [labelled, delivers here, consumer for clients in {CONSUMER}] hosts=* match=/* wins=itself"),
        format!("{CONSUMER}/route-a2 rule 0 [unlabelled, delivers here, consumer for clients in {CONSUMER}] hosts=* match=/private* wins=itself"),
        format!("{CONSUMER_B}/route-b rule 0 [labelled, delivers here, consumer for clients in {CONSUMER_B}] hosts=* match=/* wins=itself"),
        format!("CONSUMER-ROUTE CLIENTS (pod IPs per namespace; other clients follow producer routes)\n  {CONSUMER}: 2, {CONSUMER_B}: 1, namespace unknown: {HOST_NETWORK}"),
    ] {
        assert!(table.contains(&want), "missing {want:?} in\n{table}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&p, &p.problems).unwrap()).unwrap();
    let set = json["route_sets"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(set["parents"][1]["parent"]["consumer_namespace"], CONSUMER);
    assert!(set["parents"][0]["parent"]
        .get("consumer_namespace")
        .is_none());
    assert_eq!(json["client_namespaces"][CLIENT_CONSUMER_B], CONSUMER_B);
    assert_eq!(json["unknown_clients"], serde_json::json!([HOST_NETWORK]));
}

#[test]
fn service_parent_routes_need_no_reference_grant() {
    // A producer route whose mirror is in a third namespace, a consumer route whose backend
    // and mirror are in the producer's namespace: no ReferenceGrant exists, none is needed.
    let elsewhere = "apiVersion: v1\nkind: Service\nmetadata: {name: shadow, namespace: shadows}\nspec: {ports: [{port: 9000}]}\n".to_owned();
    let producer = mesh_route(
        "producer",
        MESH,
        true,
        "  - backendRefs:\n    - {name: echo-v1, port: 80}\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {name: shadow, namespace: shadows, port: 9000}\n        percent: 42\n",
    );
    let consumer = mesh_route(
        "consumer",
        CONSUMER,
        true,
        &rule("/", "echo-v1", Some(("echo-v2", 100))),
    );
    let p = plan_of(&store(&[elsewhere.clone(), producer.clone(), consumer]));
    no_problems(&p);
    check_table(
        &p,
        &[
            (CLIENT_PRODUCER, "/", "producer/0 42%→shadow"),
            (CLIENT_CONSUMER, "/", "consumer/0 100%→echo-v2"),
        ],
    );

    // The same producer route bound to a Gateway as well needs the grant (a Gateway exposes
    // Services beyond their namespace): the mirror is disabled and reported.
    let gateway = format!("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: {MESH}}}\nspec:\n  gatewayClassName: test\n  listeners:\n  - {{name: http, port: 80, protocol: HTTP}}\n");
    let both = producer.replace(
        "  rules:\n",
        &format!("  - name: gw\n    namespace: {MESH}\n  rules:\n"),
    );
    let p = plan_of(&store(&[elsewhere, gateway, both]));
    let reasons: Vec<(String, ProblemReason)> = p
        .problems
        .iter()
        .map(|pr| (pr.field.clone(), pr.reason))
        .collect();
    assert_eq!(
        reasons,
        [(
            "spec.rules[0].filters[0].requestMirror.backendRef.namespace".to_owned(),
            ProblemReason::RefNotPermitted
        )]
    );
}

#[test]
fn unknown_client_namespace_follows_the_producer_routes() {
    let consumer = mesh_route(
        "consumer",
        CONSUMER,
        true,
        &rule("/", "echo-v1", Some(("echo-v3", 100))),
    );
    let p = plan_of(&store(&[producer_42(), consumer]));
    no_problems(&p);
    // The host-network pod of the consumer namespace shares node-b's IP: it does not tell
    // its namespace (counted as unknown by the agent); an IP without a pod is taken for a
    // client outside the consumer namespaces.
    for ip in [HOST_NETWORK, NO_POD] {
        assert_eq!(p.client_namespace(ip.parse().unwrap()), None, "{ip}");
    }
    assert!(p.client_unknown(HOST_NETWORK.parse().unwrap()));
    assert!(!p.client_unknown(NO_POD.parse().unwrap()));
    assert!(!p.client_unknown(CLIENT_PRODUCER.parse().unwrap()));
    assert_eq!(
        p.client_namespace(CLIENT_CONSUMER.parse().unwrap()),
        Some(CONSUMER)
    );
    // An IPv4 client seen as IPv4-mapped IPv6 is the same client.
    assert_eq!(
        p.client_namespace("::ffff:10.244.2.50".parse().unwrap()),
        Some(CONSUMER)
    );
    check_table(
        &p,
        &[
            (HOST_NETWORK, "/", "producer/0 42%→echo-v2"),
            (NO_POD, "/", "producer/0 42%→echo-v2"),
            (CLIENT_CONSUMER, "/", "consumer/0 100%→echo-v3"),
        ],
    );

    // A pod of another namespace that claims the consumer client's IP (an IP reused before
    // the old pod is gone) makes that IP unknown: producer routes.
    let squatter = "apiVersion: v1\nkind: Pod\nmetadata: {name: squatter, namespace: default}\nspec:\n  nodeName: node-b\n  containers: [{name: c, image: i}]\nstatus:\n  phase: Running\n  podIP: 10.244.2.50\n  podIPs: [{ip: 10.244.2.50}]\n".to_owned();
    let consumer = mesh_route(
        "consumer",
        CONSUMER,
        true,
        &rule("/", "echo-v1", Some(("echo-v3", 100))),
    );
    let p = plan_of(&store(&[producer_42(), consumer, squatter]));
    assert!(p.client_unknown(CLIENT_CONSUMER.parse().unwrap()));
    check_table(
        &p,
        &[
            (CLIENT_CONSUMER, "/", "producer/0 42%→echo-v2"),
            (CLIENT_CONSUMER_V6, "/", "consumer/0 100%→echo-v3"),
        ],
    );
}

#[test]
fn a_route_in_the_services_namespace_naming_it_explicitly_is_a_producer_route() {
    // parentRef.namespace written out but equal to the route's: still a producer route.
    let explicit = mesh_route(
        "explicit",
        MESH,
        true,
        &rule("/", "echo-v1", Some(("echo-v2", 42))),
    );
    let p = plan_of(&store(&[explicit]));
    no_problems(&p);
    assert!(!rules_at(&p, echo_v1()).has_consumer_routes());
    check_table(&p, &[(CLIENT_CONSUMER, "/", "explicit/0 42%→echo-v2")]);
}

#[test]
fn unknown_client_with_only_consumer_routes_is_not_matched() {
    let consumer = mesh_route(
        "consumer",
        CONSUMER,
        true,
        &rule("/", "echo-v1", Some(("echo-v2", 100))),
    );
    let p = plan_of(&store(&[consumer]));
    let rules = rules_at(&p, echo_v1());
    assert_eq!(
        decide_from(rules, None, "GET", "/", &[]),
        Decision::NotMatched
    );
}
