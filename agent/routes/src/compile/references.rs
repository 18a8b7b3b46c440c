//! Resolving a backend reference (defaults applied) to a Service port: a core Service kind,
//! a ReferenceGrant for cross-namespace references (of routes with a Gateway parent: mesh
//! routes need none, GEP-1294), a Service that exists, a port it has.

use super::addresses::service_port;
use super::defaults::BackendTarget;
use crate::model::{ObjectKey, PlanProblem, ProblemReason, ServicePortRef, Store, GATEWAY_GROUP};

/// The core API group as a ReferenceGrant or a reference may spell it: `""` or `core`.
fn core_group(group: &str) -> &str {
    if group == "core" {
        ""
    } else {
        group
    }
}

/// Whether a ReferenceGrant in the target's namespace lets HTTPRoutes of `from_namespace`
/// refer to it. Same-namespace references need none. The core group matches whether it is
/// written `""` or `core` on either side.
fn reference_permitted(store: &Store, from_namespace: &str, target: &BackendTarget) -> bool {
    if from_namespace == target.namespace {
        return true;
    }
    store
        .reference_grants
        .iter()
        .filter(|(k, _)| k.namespace == target.namespace)
        .any(|(_, g)| {
            g.spec.from.iter().any(|f| {
                f.group == GATEWAY_GROUP && f.kind == "HTTPRoute" && f.namespace == from_namespace
            }) && g.spec.to.iter().any(|t| {
                core_group(&t.group) == core_group(&target.group)
                    && t.kind == target.kind
                    && t.name.as_deref().is_none_or(|n| n == target.name)
            })
        })
}

/// Resolves a reference of `route` (at `field`) to a Service port, or the problem that
/// disables it. `grants_needed`: whether a cross-namespace reference needs a ReferenceGrant
/// (not for routes bound to Services only, GEP-1294; see `parents::needs_reference_grants`).
pub fn resolve_service_ref(
    store: &Store,
    route: &ObjectKey,
    field: &str,
    target: &BackendTarget,
    grants_needed: bool,
) -> Result<ServicePortRef, PlanProblem> {
    let problem = |suffix: &str, reason, detail: String| {
        PlanProblem::new(route, format!("{field}{suffix}"), reason, detail)
    };
    if !(target.group.is_empty() || target.group == "core") || target.kind != "Service" {
        return Err(problem(
            ".kind",
            ProblemReason::UnsupportedBackendKind,
            format!(
                "backend {}/{} is not a core Service",
                if target.group.is_empty() {
                    "core"
                } else {
                    &target.group
                },
                target.kind
            ),
        ));
    }
    let key = ObjectKey::new(&target.namespace, &target.name);
    let Some(svc) = store.services.get(&key) else {
        return Err(problem(
            ".name",
            ProblemReason::ServiceNotFound,
            format!("Service {key} not found"),
        ));
    };
    // Checked after existence: a missing Service is reported as not found, granted or not.
    if grants_needed && !reference_permitted(store, &route.namespace, target) {
        return Err(problem(
            ".namespace",
            ProblemReason::RefNotPermitted,
            format!(
                "no ReferenceGrant in namespace {} allows HTTPRoutes from {} to refer to Service {}",
                target.namespace, route.namespace, target.name
            ),
        ));
    }
    let Some(port) = target.port else {
        return Err(problem(
            ".port",
            ProblemReason::PortMissing,
            format!("reference to Service {key} has no port"),
        ));
    };
    match u16::try_from(port) {
        Ok(p) if p > 0 && service_port(svc, p).is_some() => Ok(ServicePortRef {
            namespace: key.namespace,
            name: key.name,
            port: p,
        }),
        _ => Err(problem(
            ".port",
            ProblemReason::PortNotOnService,
            format!("Service {key} has no port {port}"),
        )),
    }
}
