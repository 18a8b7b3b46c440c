use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use shadowtap_routes::{
    load_str, route_request, Decision, EndpointRules, Plan, PlanConfig, RequestProtocol,
    RequestView, RuleId, Store,
};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The foo fixture's Services, EndpointSlices and Pods (without its HTTPRoute).
pub fn base_objects() -> String {
    let text = std::fs::read_to_string(fixture("foo-route-42.yaml")).unwrap();
    text.split("\n---\n")
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n---\n")
}

pub fn store_from(yaml: &str) -> Store {
    let mut s = Store::new();
    load_str(&mut s, Path::new("inline.yaml"), yaml).unwrap();
    s
}

/// The base objects plus `docs` (YAML documents separated by `---`).
pub fn store_with(docs: &str) -> Store {
    store_from(&format!("{}\n---\n{docs}", base_objects()))
}

pub const NODE: &str = "node-a";

pub fn foo_v1_a() -> SocketAddr {
    "10.244.1.10:8080".parse().unwrap()
}

pub fn plan_of(store: &Store) -> Plan {
    shadowtap_routes::plan(store, NODE, &PlanConfig::default())
}

/// A route YAML document. `parent` is `gw` (Gateway default/gw) or `svc` (Service foo-v1).
pub fn route(
    name: &str,
    labelled: bool,
    created: Option<&str>,
    parent: &str,
    hostnames: &[&str],
    rules: &str,
) -> String {
    let labels = if labelled {
        "  labels:\n    shadowtap.dev/mirror: enabled\n"
    } else {
        ""
    };
    let created = created
        .map(|c| format!("  creationTimestamp: \"{c}\"\n"))
        .unwrap_or_default();
    let parent = match parent {
        "gw" => "  - name: gw\n".to_owned(),
        _ => "  - group: \"\"\n    kind: Service\n    name: foo-v1\n".to_owned(),
    };
    let hosts = if hostnames.is_empty() {
        String::new()
    } else {
        format!(
            "  hostnames:\n{}",
            hostnames
                .iter()
                .map(|h| format!("  - \"{h}\"\n"))
                .collect::<String>()
        )
    };
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: default\n{labels}{created}spec:\n  parentRefs:\n{parent}{hosts}  rules:\n{rules}"
    )
}

/// A rule sending to foo-v1:8080 with `matches` (YAML list items, indented 4) and a 100 %
/// mirror to foo-v2:8080 when `mirror`.
pub fn rule(matches: &str, mirror: bool) -> String {
    let mut s = String::from("  - backendRefs:\n    - name: foo-v1\n      port: 8080\n");
    if !matches.is_empty() {
        s.push_str("    matches:\n");
        s.push_str(matches);
    }
    if mirror {
        s.push_str("    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef:\n          name: foo-v2\n          port: 8080\n");
    }
    s
}

pub const GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: default\nspec:\n  gatewayClassName: test\n  listeners:\n  - name: http\n    port: 80\n    protocol: HTTP\n";

pub fn rules_at(plan: &Plan, addr: SocketAddr) -> &EndpointRules {
    plan.rules_for(&addr)
        .unwrap_or_else(|| panic!("{addr} not captured in {plan:#?}"))
}

pub fn decide<'p>(
    rules: &'p EndpointRules,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
) -> Decision<'p> {
    decide_from(rules, None, method, target, headers)
}

/// [`decide`] for a request from a client in `client_namespace` (`None` = unknown).
pub fn decide_from<'p>(
    rules: &'p EndpointRules,
    client_namespace: Option<&str>,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
) -> Decision<'p> {
    let headers = byte_names(headers);
    route_request(
        rules,
        &RequestView {
            protocol: RequestProtocol::Http1,
            method,
            target,
            headers: &headers,
        },
        client_namespace,
    )
}

/// [`decide`] for a request that arrived over HTTP/2 (`:method`, `:path`, fields with
/// `:authority` as `host`), as the agent's pipeline builds its view.
pub fn decide_h2<'p>(
    rules: &'p EndpointRules,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
) -> Decision<'p> {
    let headers = byte_names(headers);
    route_request(
        rules,
        &RequestView {
            protocol: RequestProtocol::Http2,
            method,
            target: path,
            headers: &headers,
        },
        None,
    )
}

/// `route/rule` of the winner (`grpcroute:route/rule` for a GRPCRoute's), or the
/// decision's name.
pub fn winner(d: &Decision<'_>) -> String {
    let show = |r: &RuleId| match r.kind {
        shadowtap_routes::RouteKind::Http => format!("{}/{}", r.route.name, r.rule_index),
        shadowtap_routes::RouteKind::Grpc => {
            format!("grpcroute:{}/{}", r.route.name, r.rule_index)
        }
    };
    match d {
        Decision::Matched { rule, .. } => show(rule),
        Decision::WonByUnlabelled { rule } => format!("unlabelled:{}", show(rule)),
        Decision::WonByOtherBackend { rule } => format!("other:{}", show(rule)),
        Decision::NotMatched => "none".into(),
    }
}

/// Header fields with their names as bytes, as a request view holds them.
fn byte_names<'a>(headers: &[(&'a str, &'a [u8])]) -> Vec<(&'a [u8], &'a [u8])> {
    headers.iter().map(|(n, v)| (n.as_bytes(), *v)).collect()
}
