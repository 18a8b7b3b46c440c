//! Per-route analysis: parents and hostnames, compiled rules, resolved backends and mirrors.

use std::collections::BTreeMap;

use gateway_api::apis::standard::gateways::{Gateway, GatewayListenersAllowedRoutesNamespacesFrom};
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{MirrorTarget, ParentKey, ParentKind, PlanConfig, RuleId, ServicePortRef};
use crate::compile::compile_matches;
use crate::defaults::{backend_mirrors, parent_key, rule_mirrors, BackendTarget, MirrorSpec};
use crate::matching::host::intersect;
use crate::matching::RouteMatch;
use crate::problem::{PlanProblem, ProblemReason};
use crate::resolve::mirror_endpoints;
use crate::store::{ObjectKey, Store};
use crate::validate::resolve_service_ref;

/// A rule backendRef resolved to a Service port, with its own mirrors.
#[derive(Clone, Debug)]
pub struct BackendInfo {
    /// The Service port.
    pub service: ServicePortRef,
    /// Mirrors of the backendRef's filters (labelled routes only).
    pub mirrors: Vec<MirrorTarget>,
}

/// A valid rule of a route.
#[derive(Clone, Debug)]
pub struct RuleInfo {
    /// Identity.
    pub id: RuleId,
    /// Compiled matches.
    pub matches: Vec<RouteMatch>,
    /// Resolved backends.
    pub backends: Vec<BackendInfo>,
    /// Rule-level mirrors (labelled routes only).
    pub mirrors: Vec<MirrorTarget>,
}

/// A route as the plan uses it.
#[derive(Clone, Debug)]
pub struct RouteInfo {
    /// Key.
    pub key: ObjectKey,
    /// Whether it carries the opt-in label.
    pub labelled: bool,
    /// creationTimestamp.
    pub created: Option<Time>,
    /// Parents it attaches to, with its effective hostnames there (empty = any).
    pub parents: BTreeMap<ParentKey, Vec<String>>,
    /// Valid rules.
    pub rules: Vec<RuleInfo>,
}

/// Whether `route` carries every label of the selector.
pub fn is_labelled(route: &HttpRoute, cfg: &PlanConfig) -> bool {
    let labels = route.metadata.labels.as_ref();
    cfg.selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
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

fn resolve_mirror(
    store: &Store,
    key: &ObjectKey,
    spec: Result<MirrorSpec, String>,
    problems: &mut Vec<PlanProblem>,
) -> Option<MirrorTarget> {
    let spec = match spec {
        Ok(s) => s,
        Err(field) => {
            problems.push(PlanProblem::new(
                key,
                field,
                ProblemReason::MirrorMissing,
                "RequestMirror filter without requestMirror",
            ));
            return None;
        }
    };
    let fraction = match spec.fraction() {
        Ok(f) => f,
        Err((suffix, reason, detail)) => {
            problems.push(PlanProblem::new(
                key,
                format!("{}{suffix}", spec.field),
                reason,
                detail,
            ));
            return None;
        }
    };
    let backend_field = format!("{}.backendRef", spec.field);
    match resolve_service_ref(store, key, &backend_field, &spec.backend) {
        Ok(backend) => {
            let (endpoints, cluster_ip) = mirror_endpoints(store, &backend);
            let options = store
                .routes
                .get(key)
                .map(|r| crate::annotations::mirror_options(&r.metadata))
                .unwrap_or_default();
            Some(MirrorTarget {
                field: spec.field,
                backend,
                fraction,
                endpoints,
                cluster_ip,
                options,
            })
        }
        Err(p) => {
            problems.push(p);
            None
        }
    }
}

/// Analyses one route. Problems are recorded for labelled routes only (unlabelled routes
/// are not shadowtap's; their invalid rules silently drop out of precedence).
pub fn analyze_route(
    store: &Store,
    key: &ObjectKey,
    route: &HttpRoute,
    cfg: &PlanConfig,
    problems: &mut Vec<PlanProblem>,
) -> RouteInfo {
    let labelled = is_labelled(route, cfg);
    let mut local = Vec::new();
    let ns = key.namespace.as_str();
    let hosts: Vec<String> = route
        .spec
        .hostnames
        .iter()
        .flatten()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let mut parents: BTreeMap<ParentKey, Vec<String>> = BTreeMap::new();
    let mut gateway_classes = Vec::new();
    for (i, p) in route.spec.parent_refs.iter().flatten().enumerate() {
        let Some(pk) = parent_key(p, ns) else {
            continue;
        };
        let effective = match pk.kind {
            // GAMMA: hostnames do not apply to Service parents.
            ParentKind::Service => Some(Vec::new()),
            ParentKind::Gateway => {
                let gk = ObjectKey::new(&pk.namespace, &pk.name);
                match store.gateways.get(&gk) {
                    Some(gw) => {
                        gateway_classes.push((i, gw.spec.gateway_class_name.clone()));
                        gateway_hostnames(gw, &gk, key, &hosts, p.section_name.as_deref(), p.port)
                    }
                    None => Some(hosts.clone()),
                }
            }
        };
        let Some(effective) = effective else { continue };
        match parents.get_mut(&pk) {
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
                parents.insert(pk, effective);
            }
        }
    }
    let mut rules = Vec::new();
    let mut has_mirror = false;
    for (ri, rule) in route.spec.rules.iter().flatten().enumerate() {
        let rf = format!("spec.rules[{ri}]");
        let matches = match compile_matches(key, &rf, rule.matches.as_ref()) {
            Ok(m) => m,
            Err(ps) => {
                local.extend(ps);
                continue;
            }
        };
        let mut backends = Vec::new();
        for (bi, b) in rule.backend_refs.iter().flatten().enumerate() {
            let bf = format!("{rf}.backendRefs[{bi}]");
            let target = BackendTarget::of_backend_ref(b, ns);
            match resolve_service_ref(store, key, &bf, &target) {
                Ok(service) => {
                    let mirrors = if labelled {
                        backend_mirrors(b, &bf, ns)
                            .into_iter()
                            .filter_map(|m| resolve_mirror(store, key, m, &mut local))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    backends.push(BackendInfo { service, mirrors });
                }
                Err(p) => local.push(p),
            }
        }
        let mirrors: Vec<MirrorTarget> = if labelled {
            rule_mirrors(rule, &rf, ns)
                .into_iter()
                .filter_map(|m| resolve_mirror(store, key, m, &mut local))
                .collect()
        } else {
            Vec::new()
        };
        has_mirror |= !mirrors.is_empty() || backends.iter().any(|b| !b.mirrors.is_empty());
        rules.push(RuleInfo {
            id: RuleId {
                route: key.clone(),
                rule_index: ri,
                rule_name: rule.name.clone(),
            },
            matches,
            backends,
            mirrors,
        });
    }
    if labelled {
        if has_mirror {
            for (i, class) in gateway_classes {
                if cfg.mirroring_gateway_classes.contains(&class) {
                    local.push(PlanProblem::new(
                        key,
                        format!("spec.parentRefs[{i}]"),
                        ProblemReason::ParentMirrorsItself,
                        format!("GatewayClass {class} implements RequestMirror itself: requests may be mirrored twice"),
                    ));
                }
            }
        }
        problems.extend(local);
    }
    RouteInfo {
        key: key.clone(),
        labelled,
        created: route.metadata.creation_timestamp.clone(),
        parents,
        rules,
    }
}
