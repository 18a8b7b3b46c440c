//! Who wins a rule's own requests on its parent: for `shadowtap plan`, a request built from
//! each rule's first match (its first hostname, the path value, the method, exact header and
//! query values; for a GRPCRoute rule an HTTP/2 `POST /service/method`, with `probe.Service`
//! and `Probe` standing for an omitted service or method) is decided among every rule of
//! the parent. A rule that loses its own
//! request is shadowed by the winner for at least part of its traffic.

use super::precedence::winner;
use super::request::{ParsedRequest, RequestProtocol, RequestView};
use crate::model::{
    GrpcNameMatch, GrpcRouteMatch, NameValueMatch, ParentRules, PathMatch, RouteMatch, RuleEntry,
    RuleId, RuleMatches, ValueMatch,
};

/// A probe request: protocol, method, target, headers.
struct Probe {
    protocol: RequestProtocol,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

/// The probe request of `rule` on `parent`. `None` when a RegularExpression match makes one
/// impossible to write down.
fn probe(parent: &ParentRules, rule: &RuleEntry) -> Option<Probe> {
    let (protocol, method, target, header_matches) = match &rule.matches {
        RuleMatches::Http(ms) => http_target(ms.first()?)?,
        RuleMatches::Grpc(ms) => grpc_target(ms.first()?)?,
    };
    let mut headers = Vec::new();
    let host = rule
        .hostnames
        .first()
        .or(parent.listener_hostname.as_ref())
        .map(|h| h.replacen('*', "probe", 1));
    if let Some(h) = host {
        headers.push(("Host".to_owned(), h));
    }
    for h in header_matches {
        let ValueMatch::Exact(v) = &h.value else {
            return None;
        };
        headers.push((h.name.clone(), v.clone()));
    }
    Some(Probe {
        protocol,
        method,
        target,
        headers,
    })
}

/// Protocol, method, target and header matches of an HTTPRoute match's probe.
fn http_target(m: &RouteMatch) -> Option<(RequestProtocol, String, String, &[NameValueMatch])> {
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
    let method = m.method.clone().unwrap_or_else(|| "GET".to_owned());
    Some((RequestProtocol::Http1, method, target, &m.headers))
}

/// Protocol, method, target and header matches of a GRPCRoute match's probe.
fn grpc_target(m: &GrpcRouteMatch) -> Option<(RequestProtocol, String, String, &[NameValueMatch])> {
    let name = |n: Option<&GrpcNameMatch>, omitted: &str| match n {
        None => Some(omitted.to_owned()),
        Some(GrpcNameMatch::Exact(v)) => Some(v.clone()),
        Some(GrpcNameMatch::RegularExpression(_)) => None,
    };
    let service = name(m.service.as_ref(), "probe.Service")?;
    let method = name(m.method.as_ref(), "Probe")?;
    Some((
        RequestProtocol::Http2,
        "POST".to_owned(),
        format!("/{service}/{method}"),
        &m.headers,
    ))
}

/// For each rule of `parent` (same order), the rule that wins the probe request built from
/// it; `None` when no probe can be built.
pub fn probe_winners(parent: &ParentRules) -> Vec<Option<&RuleId>> {
    parent
        .rules
        .iter()
        .map(|rule| {
            let Probe {
                protocol,
                method,
                target,
                headers,
            } = probe(parent, rule)?;
            let headers: Vec<(&[u8], &[u8])> = headers
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
                .collect();
            let view = RequestView {
                protocol,
                method: &method,
                target: &target,
                headers: &headers,
            };
            winner(&parent.rules, &ParsedRequest::new(&view)).map(|w| &w.id)
        })
        .collect()
}
