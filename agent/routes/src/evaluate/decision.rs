//! The per-request decision at an endpoint: for each of its parents that applies to the
//! request's client (GAMMA producer and consumer routes) the winning rule, and whether that
//! rule's mirrors are shadowtap's to draw.

use super::host::listener_score;
use super::precedence::winner;
use super::request::{ParsedRequest, RequestView};
use crate::model::{EndpointRules, MirrorTarget, ParentKey, ParentKind, ParentRules, RuleId};

/// What happens to one request at one endpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision<'p> {
    /// A rule of a labelled route that routes here won; draw for each mirror (may be empty
    /// when the rule has no RequestMirror filter).
    Matched {
        /// The winning rule.
        rule: &'p RuleId,
        /// Its mirrors.
        mirrors: &'p [MirrorTarget],
    },
    /// A rule of a route without the opt-in label won: not ours, no mirror.
    WonByUnlabelled {
        /// The winning rule.
        rule: &'p RuleId,
    },
    /// A rule that does not send here won (other backends, weight 0, a redirect): the
    /// request did not come here through this parent.
    WonByOtherBackend {
        /// The winning rule.
        rule: &'p RuleId,
    },
    /// No rule of any parent matched.
    NotMatched,
}

impl Decision<'_> {
    fn rank(&self) -> u8 {
        match self {
            Decision::Matched { mirrors, .. } if !mirrors.is_empty() => 4,
            Decision::Matched { .. } => 3,
            Decision::WonByOtherBackend { .. } => 2,
            Decision::WonByUnlabelled { .. } => 1,
            Decision::NotMatched => 0,
        }
    }

    /// The mirrors to draw for (empty unless [`Decision::Matched`]).
    pub fn mirrors(&self) -> &[MirrorTarget] {
        match self {
            Decision::Matched { mirrors, .. } => mirrors,
            _ => &[],
        }
    }
}

/// Whether a request with this host is handled by `parent`'s listener rather than by another
/// listener of the Gateway on the same port (the most specific matching listener hostname
/// takes it). Service parents and lone listeners take every request.
fn listener_takes(parent: &ParentRules, req: &ParsedRequest<'_>) -> bool {
    if parent.listener_hostname.is_none() && parent.port_siblings.is_empty() {
        return true;
    }
    let host = req.host();
    let Some(own) = listener_score(parent.listener_hostname.as_deref(), host) else {
        return false;
    };
    parent
        .port_siblings
        .iter()
        .filter_map(|h| listener_score(h.as_deref(), host))
        .all(|other| other <= own)
}

fn decide_parent<'p>(parent: &'p ParentRules, req: &ParsedRequest<'_>) -> Decision<'p> {
    if !listener_takes(parent, req) {
        return Decision::NotMatched;
    }
    match winner(&parent.rules, req) {
        None => Decision::NotMatched,
        // Won by a rule that does not send here (other backends, weight 0, a redirect):
        // the request did not reach this endpoint through this parent.
        Some(r) if !r.routes_here() => Decision::WonByOtherBackend { rule: &r.id },
        Some(r) if !r.labelled => Decision::WonByUnlabelled { rule: &r.id },
        Some(r) => Decision::Matched {
            rule: &r.id,
            mirrors: &r.mirrors,
        },
    }
}

/// Whether the routes of `parent` apply to a request from a client in `client_namespace`
/// (`None` = unknown), among the parents of `rules` (GEP-1294). Gateway listeners apply to
/// every client. Of a Service's route groups, a client in a namespace with consumer routes
/// for that Service follows those and nothing else; every other client, including one whose
/// namespace is unknown, follows the producer routes.
fn applies_to_client(rules: &EndpointRules, parent: &ParentKey, client: Option<&str>) -> bool {
    match (parent.kind, parent.consumer_namespace.as_deref()) {
        (ParentKind::Gateway, _) => true,
        (ParentKind::Service, Some(consumers)) => client == Some(consumers),
        (ParentKind::Service, None) => !rules.parents.iter().any(|q| {
            q.parent.kind == ParentKind::Service
                && q.parent.namespace == parent.namespace
                && q.parent.name == parent.name
                && q.parent.consumer_namespace.is_some()
                && q.parent.consumer_namespace.as_deref() == client
        }),
    }
}

/// Decides one request at an endpoint, from a client in `client_namespace` (`None` when
/// unknown: it then follows producer routes only). Each parent (Gateway listener, or one
/// group of a Service's routes that applies to the client) is decided on its own: its
/// winning rule, among every route attached to it. A parent whose winner does not send here
/// did not deliver the request. When several parents could have delivered it (the pod cannot
/// tell which did), the first parent, in plan order, whose winner is a labelled rule with
/// mirrors decides; else the most specific outcome.
pub fn route_request<'p>(
    rules: &'p EndpointRules,
    req: &RequestView<'_>,
    client_namespace: Option<&str>,
) -> Decision<'p> {
    let parsed = ParsedRequest::new(req);
    let mut best = Decision::NotMatched;
    let consumers = rules.has_consumer_routes();
    for parent in &rules.parents {
        if consumers && !applies_to_client(rules, &parent.parent, client_namespace) {
            continue;
        }
        let d = decide_parent(parent, &parsed);
        if d.rank() > best.rank() {
            best = d;
        }
    }
    best
}
