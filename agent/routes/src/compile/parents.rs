//! Where a route attaches: its parentRefs (defaults applied) and, on a Gateway, each listener
//! that accepts it with the hostnames it has there. Every listener is a parent of its own:
//! routes on different listeners never compete for a request.

use std::collections::BTreeMap;

use gateway_api::apis::standard::gateways::{
    Gateway, GatewayListeners, GatewayListenersAllowedRoutesNamespacesFrom,
    GatewayListenersAllowedRoutesNamespacesSelector,
};
use gateway_api::apis::standard::httproutes::{HttpRoute, HttpRouteParentRefs};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::{
    hostname_matches, ObjectKey, ParentKey, ParentKind, ProblemReason, RouteKind, Store,
    GATEWAY_GROUP,
};

/// How a route is attached to one parent (one Gateway listener, or one Service).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attachment {
    /// The route's effective hostnames there (empty = any host).
    pub hostnames: Vec<String>,
    /// The listener's port (Gateway parents).
    pub port: Option<u16>,
    /// The listener's hostname (Gateway parents; `None` = any).
    pub listener_hostname: Option<String>,
    /// Service parents with a port: the targetPort that Service port maps to (a number, or
    /// a container port name resolved per Pod); unset = the port's own number.
    pub target_port: Option<IntOrString>,
}

/// The parents a route attaches to, and why the others are not.
#[derive(Debug, Default)]
pub struct RouteParents {
    /// Parent (a listener, or a Service) → attachment.
    pub parents: BTreeMap<ParentKey, Attachment>,
    /// `(index in spec.parentRefs, gatewayClassName)` of each Gateway parent found.
    pub gateway_classes: Vec<(usize, String)>,
    /// `(index in spec.parentRefs, reason, detail)` of each parentRef that attaches nowhere.
    pub unattached: Vec<(usize, ProblemReason, String)>,
}

/// Resolves the parentRefs of `route` (key `key`). A parentRef whose parent's controller
/// rejected it (`Accepted=False` in the route's status) attaches nowhere. Service parents
/// (GAMMA) are resolved by `service_parent`. A Gateway parent must exist;
/// each of its listeners that the parentRef selects (sectionName, port) and that accepts the
/// route (protocol HTTP or HTTPS, `allowedRoutes.namespaces`, `allowedRoutes.kinds`, an
/// overlapping hostname) is a parent, with the route's hostnames narrowed by the listener's.
pub fn route_parents(
    store: &Store,
    key: &ObjectKey,
    route: &HttpRoute,
    route_kind: RouteKind,
) -> RouteParents {
    let hosts: Vec<String> = route
        .spec
        .hostnames
        .iter()
        .flatten()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let mut out = RouteParents::default();
    for (i, p) in route.spec.parent_refs.iter().flatten().enumerate() {
        let Some((kind, obj)) = parent_object(p, &key.namespace) else {
            continue;
        };
        if let Some(controller) = rejected_by(route, p, &key.namespace) {
            out.unattached.push((
                i,
                ProblemReason::ParentRejected,
                format!("{controller} reports Accepted=False for this parentRef"),
            ));
            continue;
        }
        let found: Vec<(ParentKey, Attachment)> = match kind {
            // GAMMA: hostnames do not apply to Service parents. A route in another
            // namespace than its Service is a consumer route: it joins the group of that
            // namespace's consumer routes, apart from the Service's producer routes.
            ParentKind::Service => match service_parent(store, &obj, key, p) {
                Ok(found) => vec![found],
                Err((reason, detail)) => {
                    out.unattached.push((i, reason, detail));
                    continue;
                }
            },
            ParentKind::Gateway => {
                let Some(gw) = store.gateways.get(&obj) else {
                    out.unattached.push((
                        i,
                        ProblemReason::ParentNotFound,
                        format!("Gateway {obj} not found"),
                    ));
                    continue;
                };
                out.gateway_classes
                    .push((i, gw.spec.gateway_class_name.clone()));
                let found = gateway_listeners(store, gw, &obj, key, route_kind, &hosts, p);
                if found.is_empty() {
                    out.unattached.push((
                        i,
                        ProblemReason::NotAllowedByListeners,
                        format!("no listener of Gateway {obj} accepts this route"),
                    ));
                }
                found
            }
        };
        for (pk, att) in found {
            match out.parents.get_mut(&pk) {
                Some(existing) => merge_hostnames(&mut existing.hostnames, att.hostnames),
                None => {
                    out.parents.insert(pk, att);
                }
            }
        }
    }
    out
}

/// The group and attachment of a Service parentRef `p` (GAMMA) of route `route_key`, or why
/// it attaches nowhere. Hostnames do not apply to Service parents. A route in another
/// namespace than its Service is a consumer route: it joins the group of that namespace's
/// consumer routes, apart from the Service's producer routes. A `port` (or a `sectionName`,
/// which names a Service port; both must match when both are set) attaches the route to
/// that Service port only; without either it attaches to every port. The Service must
/// exist, have that port, and have a frontend: GEP-1294 says headless and ExternalName
/// Services should not be parents.
fn service_parent(
    store: &Store,
    svc_key: &ObjectKey,
    route_key: &ObjectKey,
    p: &HttpRouteParentRefs,
) -> Result<(ParentKey, Attachment), (ProblemReason, String)> {
    let Some(svc) = store.services.get(svc_key) else {
        return Err((
            ProblemReason::ParentNotFound,
            format!("Service {svc_key} not found"),
        ));
    };
    let spec = svc.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return Err((
            ProblemReason::UnsupportedParentService,
            format!("Service {svc_key} is of type ExternalName: it has no frontend whose traffic a route could govern (GEP-1294)"),
        ));
    }
    let headless = spec.is_some_and(|s| {
        s.cluster_ip.as_deref() == Some("None")
            || s.cluster_ips.iter().flatten().any(|ip| ip == "None")
    });
    if headless {
        return Err((
            ProblemReason::UnsupportedParentService,
            format!("Service {svc_key} is headless (clusterIP: None): clients reach its pods directly, with no frontend a route could govern (GEP-1294)"),
        ));
    }
    let mut attachment = Attachment::default();
    let mut port = None;
    if p.port.is_some() || p.section_name.is_some() {
        let found = spec
            .and_then(|s| s.ports.as_ref())
            .into_iter()
            .flatten()
            .find(|sp| {
                p.port.is_none_or(|want| want == sp.port)
                    && p.section_name
                        .as_deref()
                        .is_none_or(|want| sp.name.as_deref() == Some(want))
            });
        let Some(sp) = found else {
            let wanted: Vec<String> = [
                p.port.map(|n| format!("number {n}")),
                p.section_name.as_deref().map(|n| format!("name {n}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            let wanted = wanted.join(" and ");
            return Err((
                ProblemReason::NoMatchingParent,
                format!(
                    "Service {svc_key} has no port with {wanted}: the route is not attached to it"
                ),
            ));
        };
        port = u16::try_from(sp.port).ok();
        attachment.target_port = sp.target_port.clone();
    }
    let key = ParentKey {
        kind: ParentKind::Service,
        namespace: svc_key.namespace.clone(),
        name: svc_key.name.clone(),
        listener: None,
        consumer_namespace: (svc_key.namespace != route_key.namespace)
            .then(|| route_key.namespace.clone()),
        port,
    };
    Ok((key, attachment))
}

/// Whether cross-namespace references of `route` need a ReferenceGrant. GEP-1294: routes
/// bound to Services (producer or consumer) may send to backends in any namespace without
/// one, since a mesh route only augments Services the client could already reach; a route
/// with any other parentRef (a Gateway, the default kind) needs grants, as a Gateway exposes
/// Services to a broader scope. A route with both kinds of parents needs them (one rule per
/// route: its backends are resolved once).
pub fn needs_reference_grants(route: &HttpRoute) -> bool {
    let refs = route.spec.parent_refs.as_deref().unwrap_or_default();
    refs.is_empty()
        || refs
            .iter()
            .any(|p| !matches!(parent_object(p, ""), Some((ParentKind::Service, _))))
}

/// The namespace whose clients `route` is a consumer route for (GEP-1294): the route's own,
/// when one of its parentRefs names a Service in another namespace. `None` for every other
/// route. The Kubernetes source watches the Pods of these namespaces to know their clients.
pub fn consumer_route_namespace(route: &HttpRoute) -> Option<String> {
    let own = route
        .metadata
        .namespace
        .as_deref()
        .unwrap_or(crate::model::DEFAULT_NAMESPACE);
    route
        .spec
        .parent_refs
        .iter()
        .flatten()
        .filter_map(|p| parent_object(p, own))
        .any(|(kind, obj)| kind == ParentKind::Service && obj.namespace != own)
        .then(|| own.to_owned())
}

/// Adds `more` to `existing` (both: empty = any host).
fn merge_hostnames(existing: &mut Vec<String>, more: Vec<String>) {
    if existing.is_empty() {
        return;
    }
    if more.is_empty() {
        existing.clear();
        return;
    }
    for h in more {
        if !existing.contains(&h) {
            existing.push(h);
        }
    }
}

/// The kind and object a parentRef names, with defaults (group `gateway.networking.k8s.io`,
/// kind `Gateway`, namespace the route's). `None` for kinds shadowtap does not know (e.g.
/// ListenerSet), which then take no part in the plan.
fn parent_object(
    p: &HttpRouteParentRefs,
    route_namespace: &str,
) -> Option<(ParentKind, ObjectKey)> {
    let group = p.group.as_deref().unwrap_or(GATEWAY_GROUP);
    let kind = p.kind.as_deref().unwrap_or("Gateway");
    let kind = match (group, kind) {
        (GATEWAY_GROUP, "Gateway") => ParentKind::Gateway,
        ("" | "core", "Service") => ParentKind::Service,
        _ => return None,
    };
    let namespace = p.namespace.as_deref().unwrap_or(route_namespace);
    Some((kind, ObjectKey::new(namespace, &p.name)))
}

/// The controller that set `Accepted=False` for parentRef `p` in the route's status, if one
/// did. Status entries are matched on the parentRef's fields with defaults applied.
fn rejected_by(
    route: &HttpRoute,
    p: &HttpRouteParentRefs,
    route_namespace: &str,
) -> Option<String> {
    let norm_group = |g: Option<&str>| {
        match g.unwrap_or(GATEWAY_GROUP) {
            "core" => "",
            g => g,
        }
        .to_owned()
    };
    let want = (
        norm_group(p.group.as_deref()),
        p.kind.as_deref().unwrap_or("Gateway"),
        p.namespace.as_deref().unwrap_or(route_namespace),
        p.name.as_str(),
        p.section_name.as_deref(),
        p.port,
    );
    route
        .status
        .as_ref()?
        .parents
        .iter()
        .filter(|s| {
            let r = &s.parent_ref;
            (
                norm_group(r.group.as_deref()),
                r.kind.as_deref().unwrap_or("Gateway"),
                r.namespace.as_deref().unwrap_or(route_namespace),
                r.name.as_str(),
                r.section_name.as_deref(),
                r.port,
            ) == want
        })
        .find(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Accepted" && c.status == "False")
        })
        .map(|s| s.controller_name.clone())
}

/// The listeners of `gw` that parentRef `p` of route `route_key` attaches to, each with its
/// attachment.
fn gateway_listeners(
    store: &Store,
    gw: &Gateway,
    gw_key: &ObjectKey,
    route_key: &ObjectKey,
    kind: RouteKind,
    route_hosts: &[String],
    p: &HttpRouteParentRefs,
) -> Vec<(ParentKey, Attachment)> {
    let mut out = Vec::new();
    for l in &gw.spec.listeners {
        if p.section_name.as_deref().is_some_and(|s| s != l.name)
            || p.port.is_some_and(|port| port != l.port)
        {
            continue;
        }
        if !matches!(l.protocol.as_str(), "HTTP" | "HTTPS")
            || !namespace_allowed(store, l, gw_key, route_key)
            || !kind_allowed(l, kind)
        {
            continue;
        }
        let Some(hostnames) = intersect(route_hosts, l.hostname.as_deref()) else {
            continue;
        };
        out.push((
            ParentKey {
                kind: ParentKind::Gateway,
                namespace: gw_key.namespace.clone(),
                name: gw_key.name.clone(),
                listener: Some(l.name.clone()),
                consumer_namespace: None,
                port: None,
            },
            Attachment {
                hostnames,
                port: u16::try_from(l.port).ok(),
                listener_hostname: l.hostname.as_ref().map(|h| h.to_ascii_lowercase()),
                target_port: None,
            },
        ));
    }
    out
}

/// `allowedRoutes.namespaces` of listener `l`: `Same` (the default) = the Gateway's
/// namespace, `All`, or `Selector` over the route namespace's labels.
fn namespace_allowed(
    store: &Store,
    l: &GatewayListeners,
    gw_key: &ObjectKey,
    route_key: &ObjectKey,
) -> bool {
    let namespaces = l
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    match namespaces.and_then(|n| n.from.as_ref()) {
        None | Some(GatewayListenersAllowedRoutesNamespacesFrom::Same) => {
            gw_key.namespace == route_key.namespace
        }
        Some(GatewayListenersAllowedRoutesNamespacesFrom::All) => true,
        Some(GatewayListenersAllowedRoutesNamespacesFrom::Selector) => namespaces
            .and_then(|n| n.selector.as_ref())
            .is_some_and(|s| selector_matches(s, &store.namespace_labels(&route_key.namespace))),
    }
}

/// A Kubernetes LabelSelector (`matchLabels` and `matchExpressions`, ANDed). A selector
/// with neither selects every namespace; an unknown operator selects none.
fn selector_matches(
    s: &GatewayListenersAllowedRoutesNamespacesSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let label_ok = s
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = s.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let got = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => got.is_some_and(|v| values.contains(v)),
            "NotIn" => got.is_none_or(|v| !values.contains(v)),
            "Exists" => got.is_some(),
            "DoesNotExist" => got.is_none(),
            _ => false,
        }
    });
    label_ok && exprs_ok
}

/// `allowedRoutes.kinds` of listener `l` for a route of kind `kind`: unset or empty = the
/// protocol's default kinds (HTTPRoute and GRPCRoute for HTTP and HTTPS, as for an
/// implementation that supports both); else the route's kind (group defaults to the
/// Gateway API's) must be listed.
fn kind_allowed(l: &GatewayListeners, kind: RouteKind) -> bool {
    match l.allowed_routes.as_ref().and_then(|a| a.kinds.as_ref()) {
        None => true,
        Some(kinds) if kinds.is_empty() => true,
        Some(kinds) => kinds.iter().any(|k| {
            k.kind == kind.as_kind() && k.group.as_deref().unwrap_or(GATEWAY_GROUP) == GATEWAY_GROUP
        }),
    }
}

/// Intersects a route's hostnames with one listener hostname (`None` = any).
/// Returns `None` when they share no host; `Some(vec![])` means any host. Of two hostnames
/// that overlap, the narrower one is kept.
fn intersect(route: &[String], listener: Option<&str>) -> Option<Vec<String>> {
    let Some(l) = listener else {
        return Some(route.to_vec());
    };
    if route.is_empty() {
        return Some(vec![l.to_ascii_lowercase()]);
    }
    let mut out = Vec::new();
    for r in route {
        let picked = if hostname_matches(l, r) {
            Some(r.as_str())
        } else if hostname_matches(r, l) {
            Some(l)
        } else {
            None
        };
        if let Some(p) = picked {
            let p = p.to_ascii_lowercase();
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(intersect(&r(&[]), Some("*.ex.com")), Some(r(&["*.ex.com"])));
        assert_eq!(intersect(&r(&["a.ex.com"]), None), Some(r(&["a.ex.com"])));
        assert_eq!(
            intersect(&r(&["a.ex.com", "b.org"]), Some("*.ex.com")),
            Some(r(&["a.ex.com"]))
        );
        assert_eq!(
            intersect(&r(&["*.ex.com"]), Some("a.ex.com")),
            Some(r(&["a.ex.com"]))
        );
        assert_eq!(
            intersect(&r(&["*.a.ex.com"]), Some("*.ex.com")),
            Some(r(&["*.a.ex.com"]))
        );
        assert_eq!(
            intersect(&r(&["*.com"]), Some("*.ex.com")),
            Some(r(&["*.ex.com"]))
        );
        assert_eq!(intersect(&r(&["b.org"]), Some("*.ex.com")), None);
    }

    #[test]
    fn label_selectors() {
        let labels: BTreeMap<String, String> =
            [("team".to_owned(), "a".to_owned())].into_iter().collect();
        let sel = |yaml: &str| -> GatewayListenersAllowedRoutesNamespacesSelector {
            yaml_serde::from_str(yaml).expect("selector")
        };
        assert!(selector_matches(&sel("matchLabels: {team: a}"), &labels));
        assert!(!selector_matches(&sel("matchLabels: {team: b}"), &labels));
        assert!(selector_matches(
            &sel("matchExpressions: [{key: team, operator: In, values: [a, b]}]"),
            &labels
        ));
        assert!(!selector_matches(
            &sel("matchExpressions: [{key: team, operator: NotIn, values: [a]}]"),
            &labels
        ));
        assert!(selector_matches(
            &sel("matchExpressions: [{key: env, operator: DoesNotExist}]"),
            &labels
        ));
        assert!(!selector_matches(
            &sel("matchExpressions: [{key: env, operator: Exists}]"),
            &labels
        ));
        assert!(selector_matches(&sel("{}"), &labels));
    }
}
