//! Where a route attaches: its parentRefs (defaults applied) and, on a Gateway, the listeners
//! that accept it and the hostnames it has there.

use std::collections::BTreeMap;

use gateway_api::apis::standard::gateways::{Gateway, GatewayListenersAllowedRoutesNamespacesFrom};
use gateway_api::apis::standard::httproutes::{HttpRoute, HttpRouteParentRefs};

use crate::model::{hostname_matches, ObjectKey, ParentKey, ParentKind, Store, GATEWAY_GROUP};

/// The parents a route attaches to, with its effective hostnames on each (empty = any host).
#[derive(Debug, Default)]
pub struct RouteParents {
    /// Parent → hostnames.
    pub hostnames: BTreeMap<ParentKey, Vec<String>>,
    /// `(index in spec.parentRefs, gatewayClassName)` of each Gateway parent found.
    pub gateway_classes: Vec<(usize, String)>,
}

/// Resolves the parentRefs of `route` (key `key`): Service parents (GAMMA) ignore route
/// hostnames; Gateway parents narrow them by the listeners that accept the route (a Gateway
/// not in the store keeps them as written); a Gateway with no accepting listener is no parent.
pub fn route_parents(store: &Store, key: &ObjectKey, route: &HttpRoute) -> RouteParents {
    let hosts: Vec<String> = route
        .spec
        .hostnames
        .iter()
        .flatten()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let mut out = RouteParents::default();
    for (i, p) in route.spec.parent_refs.iter().flatten().enumerate() {
        let Some(pk) = parent_key(p, &key.namespace) else {
            continue;
        };
        let effective = match pk.kind {
            // GAMMA: hostnames do not apply to Service parents.
            ParentKind::Service => Some(Vec::new()),
            ParentKind::Gateway => {
                let gk = ObjectKey::new(&pk.namespace, &pk.name);
                match store.gateways.get(&gk) {
                    Some(gw) => {
                        out.gateway_classes
                            .push((i, gw.spec.gateway_class_name.clone()));
                        gateway_hostnames(gw, &gk, key, &hosts, p.section_name.as_deref(), p.port)
                    }
                    None => Some(hosts.clone()),
                }
            }
        };
        let Some(effective) = effective else { continue };
        match out.hostnames.get_mut(&pk) {
            Some(existing) if existing.is_empty() => {}
            Some(existing) if effective.is_empty() => existing.clear(),
            Some(existing) => {
                for h in effective {
                    if !existing.contains(&h) {
                        existing.push(h);
                    }
                }
            }
            None => {
                out.hostnames.insert(pk, effective);
            }
        }
    }
    out
}

/// The parent a parentRef names, with defaults (group `gateway.networking.k8s.io`, kind
/// `Gateway`, namespace the route's). `None` for kinds shadowtap does not know (e.g.
/// ListenerSet), which then take no part in the plan.
fn parent_key(p: &HttpRouteParentRefs, route_namespace: &str) -> Option<ParentKey> {
    let group = p.group.as_deref().unwrap_or(GATEWAY_GROUP);
    let kind = p.kind.as_deref().unwrap_or("Gateway");
    let kind = match (group, kind) {
        (GATEWAY_GROUP, "Gateway") => ParentKind::Gateway,
        ("" | "core", "Service") => ParentKind::Service,
        _ => return None,
    };
    Some(ParentKey {
        kind,
        namespace: p
            .namespace
            .clone()
            .unwrap_or_else(|| route_namespace.to_owned()),
        name: p.name.clone(),
    })
}

/// Hostnames of a route on a Gateway: the union over the listeners it attaches to of the
/// intersection with each listener's hostname. `None` when no listener accepts it.
fn gateway_hostnames(
    gw: &Gateway,
    gw_key: &ObjectKey,
    route_key: &ObjectKey,
    route_hosts: &[String],
    section: Option<&str>,
    port: Option<i32>,
) -> Option<Vec<String>> {
    let mut any = false;
    let mut out: Vec<String> = Vec::new();
    let mut attached = false;
    for l in &gw.spec.listeners {
        if section.is_some_and(|s| s != l.name) || port.is_some_and(|p| p != l.port) {
            continue;
        }
        if !matches!(l.protocol.as_str(), "HTTP" | "HTTPS") {
            continue;
        }
        let from = l
            .allowed_routes
            .as_ref()
            .and_then(|a| a.namespaces.as_ref())
            .and_then(|n| n.from.as_ref());
        // Selector cannot be evaluated without Namespace objects: treated as allowed.
        if matches!(
            from,
            None | Some(GatewayListenersAllowedRoutesNamespacesFrom::Same)
        ) && gw_key.namespace != route_key.namespace
        {
            continue;
        }
        if let Some(hs) = intersect(route_hosts, l.hostname.as_deref()) {
            attached = true;
            if hs.is_empty() {
                any = true;
            }
            for h in hs {
                if !out.contains(&h) {
                    out.push(h);
                }
            }
        }
    }
    if !attached {
        return None;
    }
    Some(if any { Vec::new() } else { out })
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
}
