//! Printing a plan: a table for people, JSON for tools (`shadowtap plan`). Reads the model,
//! and asks `evaluate` who wins each rule's own requests on its parent (the table's `wins`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::evaluate::probe_winners;
use crate::model::{
    CaptureEndpoint, EndpointRules, GrpcNameMatch, GrpcRouteMatch, NameValueMatch, ParentKey,
    ParentKind, PathMatch, Plan, PlanProblem, RouteMatch, RuleMatches, ValueMatch,
};

fn headers_str(s: &mut String, headers: &[NameValueMatch]) {
    for h in headers {
        let v = match &h.value {
            ValueMatch::Exact(v) => format!("={v}"),
            ValueMatch::RegularExpression(p) => format!("~{}", p.as_str()),
        };
        let _ = write!(s, " [{}{v}]", h.name);
    }
}

/// A GRPCRoute match: `grpc service/method` (`*` omitted, `=` Exact, `~` expression).
fn grpc_str(m: &GrpcRouteMatch) -> String {
    let name = |n: Option<&GrpcNameMatch>| match n {
        None => "*".to_owned(),
        Some(GrpcNameMatch::Exact(v)) => format!("={v}"),
        Some(GrpcNameMatch::RegularExpression(p)) => format!("~{}", p.as_str()),
    };
    let mut s = format!(
        "grpc {}/{}",
        name(m.service.as_ref()),
        name(m.method.as_ref())
    );
    headers_str(&mut s, &m.headers);
    s
}

fn matches_str(m: &RuleMatches) -> Vec<String> {
    match m {
        RuleMatches::Http(ms) => ms.iter().map(path_str).collect(),
        RuleMatches::Grpc(ms) => ms.iter().map(grpc_str).collect(),
    }
}

fn path_str(m: &RouteMatch) -> String {
    let mut s = match &m.path {
        PathMatch::Exact(v) => format!("={v}"),
        PathMatch::Prefix(v) => format!("{v}*"),
        PathMatch::RegularExpression(p) => format!("~{}", p.as_str()),
    };
    if let Some(method) = &m.method {
        s = format!("{method} {s}");
    }
    headers_str(&mut s, &m.headers);
    for q in &m.query_params {
        let v = match &q.value {
            ValueMatch::Exact(v) => format!("={v}"),
            ValueMatch::RegularExpression(p) => format!("~{}", p.as_str()),
        };
        let _ = write!(s, " ?{}{v}", q.name);
    }
    s
}

/// The plan as text: the endpoints to capture; per route set, per parent (each Gateway
/// listener with its port and hostname, or a Service's producer routes, or its consumer
/// routes for the clients of one namespace) the rules in tie-break order, each with whether
/// it delivers to the endpoint, its GAMMA role (`producer`, or `consumer for clients in
/// <namespace>`) on Service parents, and `wins=`: the rule that wins a request built from its
/// first match (`itself`, another rule that shadows it, or `?` for RegularExpression
/// matches); how many client pod IPs are known per consumer namespace, and the IPs that do
/// not tell theirs; and the problems.
pub fn render_table(plan: &Plan, problems: &[PlanProblem]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "node: {}", plan.node);
    let _ = writeln!(out, "\nCAPTURE ENDPOINTS ({})", plan.endpoints.len());
    let _ = writeln!(
        out,
        "{:<42} {:<36} {:>10} {:>12} {:>12}",
        "ENDPOINT", "POD", "ROUTE-SET", "MAX-MIRROR", "CAPTURE"
    );
    for e in &plan.endpoints {
        let _ = writeln!(
            out,
            "{:<42} {:<36} {:>10} {:>12} {:>12}",
            e.addr.to_string(),
            e.pod.to_string(),
            e.route_set,
            e.max_fraction.to_string(),
            capture_column(e)
        );
    }
    for set in plan.route_sets.values() {
        let backends: Vec<String> = set.backends.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "\nROUTE SET {} (backends {})",
            set.id,
            backends.join(", ")
        );
        for p in &set.parents {
            let mut listener = Vec::new();
            if let Some(port) = p.port {
                listener.push(format!("port {port}"));
            }
            if p.parent.listener.is_some() {
                listener.push(format!(
                    "hostname {}",
                    p.listener_hostname.as_deref().unwrap_or("*")
                ));
            }
            if let Some(audience) = mesh_audience(&p.parent) {
                listener.push(audience);
            }
            let listener = if listener.is_empty() {
                String::new()
            } else {
                format!(" ({})", listener.join(", "))
            };
            let _ = writeln!(out, "  parent {}{listener}", p.parent);
            let role = mesh_role(&p.parent);
            let winners = probe_winners(p);
            for (r, won_by) in p.rules.iter().zip(winners) {
                let hosts = if r.hostnames.is_empty() {
                    "*".to_owned()
                } else {
                    r.hostnames.join(",")
                };
                let matches = matches_str(&r.matches);
                let who = if r.labelled { "labelled" } else { "unlabelled" };
                let wins = match won_by {
                    Some(w) if *w == r.id => "itself".to_owned(),
                    Some(w) => w.to_string(),
                    None => "?".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "    {} [{who}, {}{role}] hosts={hosts} match={} wins={wins}",
                    r.id,
                    r.delivery.as_str(),
                    matches.join(" | ")
                );
                for m in &r.mirrors {
                    let protocol = if m.protocol.is_default() {
                        String::new()
                    } else {
                        format!(", replay {}", m.protocol.as_str())
                    };
                    let compare = m
                        .options
                        .compare
                        .as_ref()
                        .map(|c| {
                            let mut s = format!(", compare {}", c.mode.name());
                            if !c.ignore_headers.is_empty() {
                                s += &format!(" ignoring {}", c.ignore_headers.join(","));
                            }
                            s
                        })
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "      mirror -> {} {} ({} endpoints{protocol}{compare})",
                        m.backend,
                        m.fraction,
                        m.endpoints.len()
                    );
                }
            }
        }
    }
    if !plan.client_namespaces.is_empty() || !plan.unknown_clients.is_empty() {
        let mut per_ns: BTreeMap<&str, usize> = BTreeMap::new();
        for ns in plan.client_namespaces.values() {
            *per_ns.entry(ns.as_str()).or_default() += 1;
        }
        let mut counts: Vec<String> = per_ns.iter().map(|(ns, n)| format!("{ns}: {n}")).collect();
        if !plan.unknown_clients.is_empty() {
            let unknown: Vec<String> = plan
                .unknown_clients
                .iter()
                .map(ToString::to_string)
                .collect();
            counts.push(format!("namespace unknown: {}", unknown.join(" ")));
        }
        let _ = writeln!(
            out,
            "\nCONSUMER-ROUTE CLIENTS (pod IPs per namespace; other clients follow producer routes)\n  {}",
            counts.join(", ")
        );
    }
    let _ = writeln!(out, "\nPROBLEMS ({})", problems.len());
    for p in problems {
        let _ = writeln!(out, "  {p}");
    }
    out
}

/// Who a Service parent's routes apply to (GEP-1294), for its header line.
fn mesh_audience(parent: &ParentKey) -> Option<String> {
    match (parent.kind, parent.consumer_namespace.as_deref()) {
        (ParentKind::Gateway, _) => None,
        (ParentKind::Service, None) => {
            Some("producer routes: clients without consumer routes".to_owned())
        }
        (ParentKind::Service, Some(ns)) => {
            Some(format!("consumer routes: clients in namespace {ns}"))
        }
    }
}

/// A rule's GAMMA role, appended to its bracket: `, producer` or `, consumer of clients in
/// <namespace>` (nothing on a Gateway listener).
fn mesh_role(parent: &ParentKey) -> String {
    match (parent.kind, parent.consumer_namespace.as_deref()) {
        (ParentKind::Gateway, _) => String::new(),
        (ParentKind::Service, None) => ", producer".to_owned(),
        (ParentKind::Service, Some(ns)) => format!(", consumer for clients in {ns}"),
    }
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    node: &'a str,
    endpoints: &'a [CaptureEndpoint],
    route_sets: &'a BTreeMap<u32, EndpointRules>,
    problems: &'a [PlanProblem],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    client_namespaces: &'a BTreeMap<std::net::IpAddr, String>,
    #[serde(skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    unknown_clients: &'a std::collections::BTreeSet<std::net::IpAddr>,
}

/// The plan as pretty JSON: `node`, `endpoints`, `route_sets` (a Service parent's consumer
/// routes carry `consumer_namespace`), `problems` (the given ones, usually `plan.problems`)
/// and, when consumer routes are in play, `client_namespaces` (client pod IP → namespace) and
/// `unknown_clients` (IPs that do not tell their pod's namespace).
pub fn render_json(plan: &Plan, problems: &[PlanProblem]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&JsonPlan {
        node: &plan.node,
        endpoints: &plan.endpoints,
        route_sets: &plan.route_sets,
        problems,
        client_namespaces: &plan.client_namespaces,
        unknown_clients: &plan.unknown_clients,
    })
}

/// The share of flows the kernel captures at an endpoint: `all`, or the flow pre-sample rate.
/// With `+resp <mode>` when the endpoint's responses are captured for comparison.
fn capture_column(e: &CaptureEndpoint) -> String {
    let flows = if e.flow_sampling {
        format!("flows {}", e.max_fraction)
    } else {
        "all".to_owned()
    };
    match e.compare {
        Some(mode) => format!("{flows} +resp {}", mode.name()),
        None => flows,
    }
}
