//! Who wins a rule's own requests on its parent: for `shadowtap plan`, a request built from
//! each rule's first match (its first hostname, the path value, the method, exact header and
//! query values) is decided among every rule of the parent. A rule that loses its own
//! request is shadowed by the winner for at least part of its traffic.

use super::precedence::winner;
use super::request::{ParsedRequest, RequestView};
use crate::model::{ParentRules, PathMatch, RuleEntry, RuleId, ValueMatch};

/// A probe request: method, target, headers.
struct Probe {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

/// The probe request of `rule` on `parent`. `None` when a RegularExpression match makes one
/// impossible to write down.
fn probe(parent: &ParentRules, rule: &RuleEntry) -> Option<Probe> {
    let m = rule.matches.first()?;
    let mut target = match &m.path {
        PathMatch::Exact(v) | PathMatch::Prefix(v) => v.clone(),
        PathMatch::RegularExpression(_) => return None,
    };
    let mut sep = '?';
    for q in &m.query_params {
        let ValueMatch::Exact(v) = &q.value else {
            return None;
        };
        target.push(sep);
        target.push_str(&format!("{}={v}", q.name));
        sep = '&';
    }
    let mut headers = Vec::new();
    let host = rule
        .hostnames
        .first()
        .or(parent.listener_hostname.as_ref())
        .map(|h| h.replacen('*', "probe", 1));
    if let Some(h) = host {
        headers.push(("Host".to_owned(), h));
    }
    for h in &m.headers {
        let ValueMatch::Exact(v) = &h.value else {
            return None;
        };
        headers.push((h.name.clone(), v.clone()));
    }
    let method = m.method.clone().unwrap_or_else(|| "GET".to_owned());
    Some(Probe {
        method,
        target,
        headers,
    })
}

/// For each rule of `parent` (same order), the rule that wins the probe request built from
/// it; `None` when no probe can be built.
pub fn probe_winners(parent: &ParentRules) -> Vec<Option<&RuleId>> {
    parent
        .rules
        .iter()
        .map(|rule| {
            let Probe {
                method,
                target,
                headers,
            } = probe(parent, rule)?;
            let headers: Vec<(&str, &[u8])> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect();
            let view = RequestView {
                method: &method,
                target: &target,
                headers: &headers,
            };
            winner(&parent.rules, &ParsedRequest::new(&view)).map(|w| &w.id)
        })
        .collect()
}
