//! One route (HTTPRoute or GRPCRoute) as the plan uses it: whether it is labelled, where it
//! attaches, its valid rules with their resolved backends and mirrors, and the problems
//! found on the way. A GRPCRoute is read through the HTTPRoute code for every field the two
//! kinds share (`grpc_shared.rs`); only its matches are its own (`grpc_matches.rs`).

use std::collections::BTreeMap;

use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::{
    HttpRoute, HttpRouteRules, HttpRouteRulesFiltersType,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::addresses::{mirror_endpoints, mirror_protocol};
use super::annotations::{
    compare_setting, mirror_options, rejected_remove_headers, MIRROR_REMOVE_HEADERS,
};
use super::config::PlanConfig;
use super::defaults::BackendTarget;
use super::filter_order::filter_order_warnings;
use super::grpc_matches::compile_grpc_matches;
use super::grpc_shared::shared_fields;
use super::matches::compile_matches;
use super::mirror_spec::{backend_mirrors, rule_mirrors, MirrorSpec};
use super::parents::{needs_reference_grants, route_parents, Attachment, RouteParents};
use super::references::resolve_service_ref;
use crate::model::{
    MirrorOptions, MirrorTarget, ObjectKey, ParentKey, PlanProblem, ProblemReason, RouteKind,
    RuleId, RuleMatches, ServicePortRef, Store,
};

/// A rule backendRef resolved to a Service port, with its own mirrors.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendInfo {
    /// The Service port.
    pub service: ServicePortRef,
    /// `weight` (default 1): a backend of weight 0 receives no request.
    pub weight: i32,
    /// Mirrors of the backendRef's filters (labelled routes only).
    pub mirrors: Vec<MirrorTarget>,
}

/// A valid rule of a route.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleInfo {
    /// Identity.
    pub id: RuleId,
    /// Compiled matches.
    pub matches: RuleMatches,
    /// Resolved backends.
    pub backends: Vec<BackendInfo>,
    /// Rule-level mirrors (labelled routes only).
    pub mirrors: Vec<MirrorTarget>,
    /// Whether the rule has a RequestRedirect filter (the parent answers; no backend
    /// receives the request).
    pub redirect: bool,
}

/// A route as the plan uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteInfo {
    /// HTTPRoute or GRPCRoute.
    pub kind: RouteKind,
    /// Key.
    pub key: ObjectKey,
    /// Whether the opt-in selector selects it (its mirrors are shadowtap's).
    pub labelled: bool,
    /// creationTimestamp.
    pub created: Option<Time>,
    /// Parents it attaches to (Gateway listeners, Services), with its hostnames there.
    pub parents: BTreeMap<ParentKey, Attachment>,
    /// Valid rules.
    pub rules: Vec<RuleInfo>,
}

impl RouteInfo {
    /// Whether `self` and `other` differ at most in their mirrors' endpoints and cluster
    /// IPs (what a change of a mirror backend's EndpointSlices or Service address changes;
    /// a plan takes such a change by replacing its rules' mirrors).
    pub fn same_but_mirror_addresses(&self, other: &Self) -> bool {
        fn blank(r: &RouteInfo) -> RouteInfo {
            let mut r = r.clone();
            for rule in &mut r.rules {
                let backends = rule.backends.iter_mut().flat_map(|b| b.mirrors.iter_mut());
                for m in rule.mirrors.iter_mut().chain(backends) {
                    m.endpoints.clear();
                    m.cluster_ip = None;
                }
            }
            r
        }
        blank(self) == blank(other)
    }
}

/// Resolves one RequestMirror filter of route `key` (replay options `options`), or records
/// the problem that disables it.
fn resolve_mirror(
    store: &Store,
    key: &ObjectKey,
    options: &MirrorOptions,
    grants_needed: bool,
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
    match resolve_service_ref(store, key, &backend_field, &spec.backend, grants_needed) {
        Ok(backend) => {
            let (endpoints, cluster_ip) = mirror_endpoints(store, &backend);
            let protocol = mirror_protocol(store, &backend);
            Some(MirrorTarget {
                field: spec.field,
                backend,
                fraction,
                endpoints,
                cluster_ip,
                protocol,
                options: options.clone(),
            })
        }
        Err(p) => {
            problems.push(p);
            None
        }
    }
}

/// Analyses one HTTPRoute. Problems are recorded for labelled routes only (unlabelled
/// routes are not shadowtap's; their invalid rules silently drop out of precedence).
pub fn analyze_route(
    store: &Store,
    key: &ObjectKey,
    route: &HttpRoute,
    cfg: &PlanConfig,
    problems: &mut Vec<PlanProblem>,
) -> RouteInfo {
    let compile = |rf: &str, _: usize, rule: &HttpRouteRules| {
        compile_matches(key, rf, rule.matches.as_ref()).map(RuleMatches::Http)
    };
    analyze(store, RouteKind::Http, key, route, &compile, cfg, problems)
}

/// Analyses one GRPCRoute, like [`analyze_route`]: its shared fields through the HTTPRoute
/// code, its matches as gRPC matches. Every problem is tagged as the GRPCRoute's.
pub fn analyze_grpc_route(
    store: &Store,
    key: &ObjectKey,
    route: &GrpcRoute,
    cfg: &PlanConfig,
    problems: &mut Vec<PlanProblem>,
) -> RouteInfo {
    let labelled = cfg.selector.matches(route.metadata.labels.as_ref());
    let shared = match shared_fields(route) {
        Ok(s) => s,
        Err(e) => {
            if labelled {
                problems.push(
                    PlanProblem::new(key, "spec", ProblemReason::InvalidMatch, e)
                        .of_kind(RouteKind::Grpc),
                );
            }
            return RouteInfo {
                kind: RouteKind::Grpc,
                key: key.clone(),
                labelled,
                created: route.metadata.creation_timestamp.clone(),
                parents: BTreeMap::new(),
                rules: Vec::new(),
            };
        }
    };
    let grpc_rules = route.spec.rules.as_deref().unwrap_or_default();
    let compile = |rf: &str, ri: usize, _: &HttpRouteRules| {
        compile_grpc_matches(key, rf, grpc_rules.get(ri).and_then(|r| r.matches.as_ref()))
            .map(RuleMatches::Grpc)
    };
    let mut local = Vec::new();
    let info = analyze(
        store,
        RouteKind::Grpc,
        key,
        &shared,
        &compile,
        cfg,
        &mut local,
    );
    problems.extend(local.into_iter().map(|p| p.of_kind(RouteKind::Grpc)));
    info
}

/// Compiles the matches of one rule (at field `rule_field`, index `rule_index`).
type CompileMatches<'a> =
    dyn Fn(&str, usize, &HttpRouteRules) -> Result<RuleMatches, Vec<PlanProblem>> + 'a;

/// Analyses a route of kind `kind` whose shared fields are `route`'s, with its matches
/// compiled by `compile`.
fn analyze(
    store: &Store,
    kind: RouteKind,
    key: &ObjectKey,
    route: &HttpRoute,
    compile: &CompileMatches<'_>,
    cfg: &PlanConfig,
    problems: &mut Vec<PlanProblem>,
) -> RouteInfo {
    let labelled = cfg.selector.matches(route.metadata.labels.as_ref());
    let mut local = Vec::new();
    let ns = key.namespace.as_str();
    let options = mirror_options(&route.metadata);
    let grants_needed = needs_reference_grants(route);
    let RouteParents {
        parents,
        gateway_classes,
        unattached,
    } = route_parents(store, key, route, kind);
    for (i, reason, detail) in unattached {
        local.push(PlanProblem::new(
            key,
            format!("spec.parentRefs[{i}]"),
            reason,
            detail,
        ));
    }
    let rejected = rejected_remove_headers(&route.metadata);
    if !rejected.is_empty() {
        local.push(PlanProblem::new(
            key,
            format!("metadata.annotations[{MIRROR_REMOVE_HEADERS}]"),
            ProblemReason::RemoveHeaderFraming,
            format!(
                "framing headers cannot be removed from replayed requests (ignored): {}",
                rejected.join(", ")
            ),
        ));
    }
    if labelled {
        for p in compare_setting(&route.metadata).1 {
            local.push(PlanProblem::new(
                key,
                format!("metadata.annotations[{}]", p.annotation),
                ProblemReason::InvalidCompare,
                p.detail,
            ));
        }
    }
    let mut rules = Vec::new();
    let mut has_mirror = false;
    for (ri, rule) in route.spec.rules.iter().flatten().enumerate() {
        let rf = format!("spec.rules[{ri}]");
        let matches = match compile(&rf, ri, rule) {
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
            match resolve_service_ref(store, key, &bf, &target, grants_needed) {
                Ok(service) => {
                    let mirrors = if labelled {
                        backend_mirrors(b, &bf, ns)
                            .into_iter()
                            .filter_map(|m| {
                                resolve_mirror(store, key, &options, grants_needed, m, &mut local)
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    backends.push(BackendInfo {
                        service,
                        weight: b.weight.unwrap_or(1),
                        mirrors,
                    });
                }
                Err(p) => local.push(p),
            }
        }
        let mirrors: Vec<MirrorTarget> = if labelled {
            rule_mirrors(rule, &rf, ns)
                .into_iter()
                .filter_map(|m| resolve_mirror(store, key, &options, grants_needed, m, &mut local))
                .collect()
        } else {
            Vec::new()
        };
        let rule_has_mirror = !mirrors.is_empty() || backends.iter().any(|b| !b.mirrors.is_empty());
        if labelled && rule_has_mirror {
            local.extend(filter_order_warnings(key, rule, &rf));
        }
        has_mirror |= rule_has_mirror;
        let redirect = rule
            .filters
            .iter()
            .flatten()
            .any(|f| f.r#type == HttpRouteRulesFiltersType::RequestRedirect);
        rules.push(RuleInfo {
            id: RuleId {
                kind,
                route: key.clone(),
                rule_index: ri,
                rule_name: rule.name.clone(),
            },
            matches,
            backends,
            mirrors,
            redirect,
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
        kind,
        key: key.clone(),
        labelled,
        created: route.metadata.creation_timestamp.clone(),
        parents,
        rules,
    }
}
