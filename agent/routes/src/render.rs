//! Printing a plan: a table for people, JSON for tools (`shadowtap plan`). Reads only the model.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

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

/// The plan as text: the endpoints to capture, each rule set's rules in tie-break order, and
/// the problems.
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
            let _ = writeln!(out, "  parent {}", p.parent);
            for r in &p.rules {
                let hosts = if r.hostnames.is_empty() {
                    "*".to_owned()
                } else {
                    r.hostnames.join(",")
                };
                let matches: Vec<String> = r.matches.iter().map(path_str).collect();
                let who = match (r.labelled, r.routes_here) {
                    (false, _) => "unlabelled",
                    (true, true) => "labelled",
                    (true, false) => "labelled, other backend",
                };
                let _ = writeln!(
                    out,
                    "    {} [{who}] hosts={hosts} match={}",
                    r.id,
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
