use std::net::SocketAddr;

use shadowtap_common::{threshold_for_fraction, SAMPLE_ALL};
use shadowtap_routes::{
    load_path, plan, render_json, render_table, Decision, Fraction, Plan, PlanConfig,
};

use crate::util::{decide, fixture, rules_at, winner};

fn plan_fixture(name: &str, node: &str) -> Plan {
    let store = load_path(&fixture(name)).unwrap();
    plan(&store, node, &PlanConfig::default())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn foo_route_42_service_parent() {
    let p = plan_fixture("foo-route-42.yaml", "node-a");
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let addrs: Vec<String> = p.endpoints.iter().map(|e| e.addr.to_string()).collect();
    assert_eq!(addrs, ["10.244.1.10:8080", "[fd00:10:244:1::a]:8080"]);
    let e = &p.endpoints[0];
    assert_eq!(e.pod.name, "foo-v1-5d8f7c6b9-abcde");
    assert_eq!(e.max_fraction, Fraction::percent(42).unwrap());
    assert!(!e.flow_sampling);
    assert_eq!(e.capture_threshold, SAMPLE_ALL, "every flow captured");
    assert_eq!(p.endpoints[1].route_set, e.route_set);
    let rules = rules_at(&p, e.addr);
    let d = decide(rules, "GET", "/anything?x=1", &[("Host", b"foo-v1:8080")]);
    let Decision::Matched { rule, mirrors } = d else {
        panic!("{d:?}")
    };
    assert_eq!(rule.route.name, "foo-route");
    assert_eq!(mirrors.len(), 1);
    let m = &mirrors[0];
    assert_eq!(m.backend.to_string(), "default/foo-v2:8080");
    assert_eq!(m.fraction, Fraction::new(42, 100).unwrap());
    assert_eq!(m.endpoints, [addr("10.244.2.20:8080")]);
    assert_eq!(m.cluster_ip, Some("10.96.0.102".parse().unwrap()));

    let b = plan_fixture("foo-route-42.yaml", "node-b");
    let addrs: Vec<String> = b.endpoints.iter().map(|e| e.addr.to_string()).collect();
    assert_eq!(addrs, ["10.244.2.10:8080"]);
    assert_eq!(
        b.endpoints[0].route_set, e.route_set,
        "ids derive from content"
    );
    assert!(plan_fixture("foo-route-42.yaml", "node-c")
        .endpoints
        .is_empty());
}

#[test]
fn announcement_gateway_parent_with_hostname() {
    let p = plan_fixture("announcement-gateway-42.yaml", "node-a");
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, addr("10.244.1.10:8080"));
    assert_eq!(
        rules.parents[0].parent.to_string(),
        "Gateway default/foo-gateway listener http"
    );
    assert_eq!(rules.parents[0].rules[0].hostnames, ["foo.example.com"]);
    let d = decide(rules, "GET", "/", &[("host", b"FOO.example.com:80")]);
    assert_eq!(d.mirrors().len(), 1);
    let d = decide(rules, "GET", "/", &[("host", b"bar.example.com")]);
    assert_eq!(d, Decision::NotMatched);
    let d = decide(rules, "GET", "http://foo.example.com/x", &[]);
    assert_eq!(d.mirrors().len(), 1);
}

#[test]
fn announcement_fraction_is_exact() {
    let p = plan_fixture("announcement-fraction-5-1000.yaml", "node-a");
    let e = &p.endpoints[0];
    assert_eq!(e.max_fraction, Fraction::new(5, 1000).unwrap());
    assert_eq!(e.capture_threshold, SAMPLE_ALL);
    let rules = rules_at(&p, e.addr);
    let d = decide(rules, "GET", "/", &[]);
    assert_eq!(d.mirrors()[0].fraction.to_string(), "5/1000");
}

#[test]
fn conformance_shaped_routes() {
    let p = plan_fixture("conformance-mirror.yaml", "node-a");
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(p.endpoints.len(), 1);
    let e = &p.endpoints[0];
    assert_eq!(
        e.addr,
        addr("10.244.1.31:3000"),
        "port mapped via the EndpointSlice"
    );
    assert_eq!(e.max_fraction, Fraction::ONE);
    let rules = rules_at(&p, e.addr);
    assert_eq!(rules.parents.len(), 1);
    assert_eq!(rules.parents[0].rules.len(), 6);
    let cases: [(&str, &str, &[&str]); 7] = [
        ("/mirror", "request-mirror/0", &["1/1"]),
        (
            "/multi-mirror",
            "request-multiple-mirrors/0",
            &["1/1", "1/1"],
        ),
        (
            "/mirror-and-modify-request-headers",
            "request-multiple-mirrors/1",
            &["1/1"],
        ),
        ("/percent-mirror", "request-percentage-mirror/0", &["20%"]),
        (
            "/percent-mirror-fraction",
            "request-percentage-mirror/1",
            &["25/50"],
        ),
        (
            "/percent-mirror-and-modify-headers",
            "request-percentage-mirror/2",
            &["35%"],
        ),
        ("/percent-mirrorx", "none", &[]),
    ];
    for (path, want, fractions) in cases {
        let d = decide(rules, "GET", path, &[("Host", b"example.com")]);
        assert_eq!(winner(&d), want, "{path}");
        let got: Vec<String> = d.mirrors().iter().map(|m| m.fraction.to_string()).collect();
        assert_eq!(got, fractions, "{path}");
    }
    let d = decide(rules, "GET", "/multi-mirror", &[]);
    let backends: Vec<String> = d.mirrors().iter().map(|m| m.backend.name.clone()).collect();
    assert_eq!(backends, ["infra-backend-v2", "infra-backend-v3"]);
    assert_eq!(d.mirrors()[0].endpoints, [addr("10.244.2.32:3000")]);
}

#[test]
fn renderers() {
    let p = plan_fixture("foo-route-42.yaml", "node-a");
    let t = render_table(&p, &p.problems);
    assert!(t.contains("10.244.1.10:8080"), "{t}");
    assert!(t.contains("default/foo-v2:8080 42%"), "{t}");
    let j: serde_json::Value =
        serde_json::from_str(&render_json(&p, &p.problems).unwrap()).unwrap();
    assert_eq!(j["endpoints"][0]["addr"], "10.244.1.10:8080");
    assert_eq!(j["endpoints"][0]["max_fraction"]["numerator"], 42);
    assert!(j["problems"].as_array().unwrap().is_empty());
}

/// `shadowtap plan`'s table names every endpoint, what the kernel captures there, and per
/// parent each rule with its mirrors and fractions.
#[test]
fn plan_tables_name_endpoints_rules_and_mirrors() {
    let p = plan_fixture("foo-route-42.yaml", "node-a");
    let table = render_table(&p, &p.problems);
    let endpoint = table
        .lines()
        .find(|l| l.starts_with("10.244.1.10:8080"))
        .unwrap_or_else(|| panic!("no endpoint row in\n{table}"));
    assert!(
        endpoint.contains("default/foo-v1-5d8f7c6b9-abcde"),
        "{endpoint}"
    );
    assert!(
        endpoint.contains("42%") && endpoint.trim_end().ends_with("all"),
        "{endpoint}"
    );
    assert!(table.contains("parent Service default/foo-v1"), "{table}");
    assert!(
        table.contains("default/foo-route rule 0 [labelled, delivers here, producer]"),
        "{table}"
    );
    assert!(
        table.contains("mirror -> default/foo-v2:8080 42%"),
        "{table}"
    );
    assert!(table.contains("PROBLEMS (0)"), "{table}");

    let conformance = plan_fixture("conformance-mirror.yaml", "node-a");
    let table = render_table(&conformance, &conformance.problems);
    assert!(
        table.contains("mirror -> gateway-conformance-infra/infra-backend-v2:8080 25/50"),
        "{table}"
    );
    assert!(
        table.contains("mirror -> gateway-conformance-infra/infra-backend-v3:8080 1/1"),
        "{table}"
    );
}

/// The flow pre-sample threshold is decided once, in the plan: the node-wide flag or the
/// routes' annotation (every mirror at the endpoint asks for it) turn it on; the kernel map
/// writer and the per-request draw both read `capture_threshold`.
#[test]
fn flow_sampling_is_decided_once_per_endpoint() {
    let mut store = shadowtap_routes::load_path(&fixture("foo-route-42.yaml")).unwrap();
    let flag = shadowtap_routes::plan(
        &store,
        "node-a",
        &PlanConfig {
            flow_sampling: true,
            ..PlanConfig::default()
        },
    );
    assert!(flag.endpoints[0].flow_sampling);
    assert_eq!(
        flag.endpoints[0].capture_threshold,
        threshold_for_fraction(42, 100)
    );

    // A lone 42 % route annotated for flow sampling, no node-wide flag.
    for route in store.routes.values_mut() {
        route
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert("shadowtap.dev/flow-sampling".into(), "true".into());
    }
    let annotated = shadowtap_routes::plan(&store, "node-a", &PlanConfig::default());
    let e = &annotated.endpoints[0];
    assert!(e.flow_sampling);
    assert_eq!(e.capture_threshold, threshold_for_fraction(42, 100));
}
