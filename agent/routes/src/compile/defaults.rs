//! CRD defaults the generated types do not apply, applied in code: a backend reference's
//! group, kind and namespace, and `fraction.denominator`. (A parentRef's defaults are applied
//! where parents are resolved, in `parents.rs`; a rule without matches gets its default match
//! in `matches.rs`.)

use gateway_api::apis::standard::httproutes::HttpRouteRulesBackendRefs;

/// Default `requestMirror.fraction.denominator`.
pub const DEFAULT_DENOMINATOR: i32 = 100;

/// A backend reference with defaults applied: group `""`, kind `Service`, namespace the
/// route's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendTarget {
    /// API group (`""` = core).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Port, if given.
    pub port: Option<i32>,
}

impl BackendTarget {
    /// Applies the defaults to a reference's optional fields.
    pub fn new(
        group: Option<&str>,
        kind: Option<&str>,
        namespace: Option<&str>,
        name: &str,
        port: Option<i32>,
        route_namespace: &str,
    ) -> Self {
        Self {
            group: group.unwrap_or("").to_owned(),
            kind: kind.unwrap_or("Service").to_owned(),
            namespace: namespace.unwrap_or(route_namespace).to_owned(),
            name: name.to_owned(),
            port,
        }
    }

    /// The defaulted target of a rule backendRef.
    pub fn of_backend_ref(r: &HttpRouteRulesBackendRefs, route_namespace: &str) -> Self {
        Self::new(
            r.group.as_deref(),
            r.kind.as_deref(),
            r.namespace.as_deref(),
            &r.name,
            r.port,
            route_namespace,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_defaults() {
        let t = BackendTarget::new(None, None, None, "svc", Some(8080), "team");
        assert_eq!(
            (t.group.as_str(), t.kind.as_str(), t.namespace.as_str()),
            ("", "Service", "team")
        );
    }
}
