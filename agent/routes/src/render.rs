//! Printing a plan: a table for people, JSON for tools (`shadowtap plan`). Reads the model,
//! and asks `evaluate` who wins each rule's own requests on its parent (the table's `wins`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::evaluate::probe_winners;
use crate::model::{
    CaptureEndpoint, EndpointRules, PathMatch, Plan, PlanProblem, RouteMatch, ValueMatch,
};

fn path_str(m: &RouteMatch) -> String {
    let mut s = match &m.path {
        PathMatch::Exact(v) => format!("={v}"),
        PathMatch::Prefix(v) => format!("{v}*"),
        PathMatch::RegularExpression(p) => format!("~{}", p.as_str()),
    };
    if let Some(method) = &m.method {
        s = format!("{method} {s}");
    }
    for h in &m.headers {
        let v = match &h.value {
            ValueMatch::Exact(v) => format!("={v}"),
            ValueMatch::RegularExpression(p) => format!("~{}", p.as_str()),
        };
        let _ = write!(s, " [{}{v}]", h.name);
    }
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
/// listener with its port and hostname, or a Service) the rules in tie-break order, each with
/// whether it delivers to the endpoint and `wins=`: the rule that wins a request built from
/// its first match (`itself`, another rule that shadows it, or `?` for RegularExpression
/// matches); and the problems.
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
            let listener = if listener.is_empty() {
                String::new()
            } else {
                format!(" ({})", listener.join(", "))
            };
            let _ = writeln!(out, "  parent {}{listener}", p.parent);
            let winners = probe_winners(p);
            for (r, won_by) in p.rules.iter().zip(winners) {
                let hosts = if r.hostnames.is_empty() {
                    "*".to_owned()
                } else {
                    r.hostnames.join(",")
                };
                let matches: Vec<String> = r.matches.iter().map(path_str).collect();
                let who = if r.labelled { "labelled" } else { "unlabelled" };
                let wins = match won_by {
                    Some(w) if *w == r.id => "itself".to_owned(),
                    Some(w) => w.to_string(),
                    None => "?".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "    {} [{who}, {}] hosts={hosts} match={} wins={wins}",
                    r.id,
                    r.delivery.as_str(),
                    matches.join(" | ")
                );
                for m in &r.mirrors {
                    let _ = writeln!(
                        out,
                        "      mirror -> {} {} ({} endpoints)",
                        m.backend,
                        m.fraction,
                        m.endpoints.len()
                    );
                }
            }
        }
    }
    let _ = writeln!(out, "\nPROBLEMS ({})", problems.len());
    for p in problems {
        let _ = writeln!(out, "  {p}");
    }
    out
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    node: &'a str,
    endpoints: &'a [CaptureEndpoint],
    route_sets: &'a BTreeMap<u32, EndpointRules>,
    problems: &'a [PlanProblem],
}

/// The plan as pretty JSON: `node`, `endpoints`, `route_sets` and `problems` (the given
/// ones, usually `plan.problems`).
pub fn render_json(plan: &Plan, problems: &[PlanProblem]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&JsonPlan {
        node: &plan.node,
        endpoints: &plan.endpoints,
        route_sets: &plan.route_sets,
        problems,
    })
}

/// The share of flows the kernel captures at an endpoint: `all`, or the flow pre-sample rate.
fn capture_column(e: &CaptureEndpoint) -> String {
    if e.flow_sampling {
        format!("flows {}", e.max_fraction)
    } else {
        "all".to_owned()
    }
}
