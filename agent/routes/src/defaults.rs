//! CRD defaults applied in code (the generated types apply none), and the RequestMirror
//! probability rules (the CRD's CEL validations).

use gateway_api::apis::standard::httproutes::{
    HttpRouteParentRefs, HttpRouteRules, HttpRouteRulesBackendRefs,
    HttpRouteRulesBackendRefsFiltersRequestMirror, HttpRouteRulesBackendRefsFiltersType,
    HttpRouteRulesFiltersRequestMirror, HttpRouteRulesFiltersType,
};

use crate::fraction::Fraction;
use crate::plan::{ParentKey, ParentKind};
use crate::problem::ProblemReason;

/// Default `fraction.denominator`.
pub const DEFAULT_DENOMINATOR: i32 = 100;
/// Gateway API group.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

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

/// A RequestMirror filter, from a rule or a backendRef, before validation.
#[derive(Clone, Debug, PartialEq)]
pub struct MirrorSpec {
    /// Field path of the `requestMirror` object.
    pub field: String,
    /// Mirror backend (defaults applied).
    pub backend: BackendTarget,
    /// `percent`.
    pub percent: Option<i32>,
    /// `fraction` as (numerator, denominator as written).
    pub fraction: Option<(i32, Option<i32>)>,
}

impl MirrorSpec {
    fn from_rule(m: &HttpRouteRulesFiltersRequestMirror, field: String, ns: &str) -> Self {
        let b = &m.backend_ref;
        Self {
            field,
            backend: BackendTarget::new(
                b.group.as_deref(),
                b.kind.as_deref(),
                b.namespace.as_deref(),
                &b.name,
                b.port,
                ns,
            ),
            percent: m.percent,
            fraction: m.fraction.as_ref().map(|f| (f.numerator, f.denominator)),
        }
    }

    fn from_backend(
        m: &HttpRouteRulesBackendRefsFiltersRequestMirror,
        field: String,
        ns: &str,
    ) -> Self {
        let b = &m.backend_ref;
        Self {
            field,
            backend: BackendTarget::new(
                b.group.as_deref(),
                b.kind.as_deref(),
                b.namespace.as_deref(),
                &b.name,
                b.port,
                ns,
            ),
            percent: m.percent,
            fraction: m.fraction.as_ref().map(|f| (f.numerator, f.denominator)),
        }
    }

    /// The exact probability: percent → n/100, fraction → n/d (d defaults to 100), neither →
    /// 1/1. `Err` gives the offending field (relative to [`MirrorSpec::field`]), reason and
    /// detail.
    pub fn fraction(&self) -> Result<Fraction, (&'static str, ProblemReason, String)> {
        match (self.percent, self.fraction) {
            (Some(_), Some(_)) => Err((
                "",
                ProblemReason::PercentAndFraction,
                "only one of percent and fraction may be set".into(),
            )),
            (Some(p), None) => u32::try_from(p).ok().and_then(Fraction::percent).ok_or((
                ".percent",
                ProblemReason::PercentOutOfRange,
                format!("percent {p} is outside 0-100"),
            )),
            (None, Some((n, d))) => {
                let d = d.unwrap_or(DEFAULT_DENOMINATOR);
                if d < 1 {
                    return Err((
                        ".fraction.denominator",
                        ProblemReason::DenominatorTooSmall,
                        format!("denominator {d} is below 1"),
                    ));
                }
                if n < 0 {
                    return Err((
                        ".fraction.numerator",
                        ProblemReason::NumeratorNegative,
                        format!("numerator {n} is negative"),
                    ));
                }
                if n > d {
                    return Err((
                        ".fraction",
                        ProblemReason::NumeratorExceedsDenominator,
                        format!("numerator {n} exceeds denominator {d}"),
                    ));
                }
                // 0 <= n <= d and d >= 1 here, so the conversions and `new` succeed.
                Fraction::new(n.unsigned_abs(), d.unsigned_abs()).ok_or((
                    ".fraction",
                    ProblemReason::NumeratorExceedsDenominator,
                    format!("invalid fraction {n}/{d}"),
                ))
            }
            (None, None) => Ok(Fraction::ONE),
        }
    }
}

/// The RequestMirror filters of a rule (rule-level). `Err` entries are RequestMirror filters
/// without a `requestMirror` object (field path given).
pub fn rule_mirrors(
    rule: &HttpRouteRules,
    rule_field: &str,
    ns: &str,
) -> Vec<Result<MirrorSpec, String>> {
    let mut out = Vec::new();
    for (i, f) in rule.filters.iter().flatten().enumerate() {
        if f.r#type != HttpRouteRulesFiltersType::RequestMirror {
            continue;
        }
        let field = format!("{rule_field}.filters[{i}].requestMirror");
        out.push(match &f.request_mirror {
            Some(m) => Ok(MirrorSpec::from_rule(m, field, ns)),
            None => Err(field),
        });
    }
    out
}

/// The RequestMirror filters of one backendRef.
pub fn backend_mirrors(
    b: &HttpRouteRulesBackendRefs,
    backend_field: &str,
    ns: &str,
) -> Vec<Result<MirrorSpec, String>> {
    let mut out = Vec::new();
    for (i, f) in b.filters.iter().flatten().enumerate() {
        if f.r#type != HttpRouteRulesBackendRefsFiltersType::RequestMirror {
            continue;
        }
        let field = format!("{backend_field}.filters[{i}].requestMirror");
        out.push(match &f.request_mirror {
            Some(m) => Ok(MirrorSpec::from_backend(m, field, ns)),
            None => Err(field),
        });
    }
    out
}

/// The parent a parentRef names, with defaults (group `gateway.networking.k8s.io`, kind
/// `Gateway`, namespace the route's). `None` for kinds shadowtap does not know (e.g.
/// ListenerSet), which then take no part in the plan.
pub fn parent_key(p: &HttpRouteParentRefs, route_namespace: &str) -> Option<ParentKey> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(percent: Option<i32>, fraction: Option<(i32, Option<i32>)>) -> MirrorSpec {
        MirrorSpec {
            field: "f".into(),
            backend: BackendTarget::new(None, None, None, "b", Some(80), "ns"),
            percent,
            fraction,
        }
    }

    #[test]
    fn fractions() {
        assert_eq!(spec(None, None).fraction(), Ok(Fraction::ONE));
        assert_eq!(
            spec(Some(42), None).fraction(),
            Ok(Fraction::percent(42).unwrap())
        );
        assert_eq!(
            spec(None, Some((5, Some(1000)))).fraction(),
            Ok(Fraction::new(5, 1000).unwrap())
        );
        assert_eq!(
            spec(None, Some((25, None))).fraction(),
            Ok(Fraction::new(25, 100).unwrap())
        );
        let reason = |s: MirrorSpec| s.fraction().map_err(|e| e.1);
        assert_eq!(
            reason(spec(Some(101), None)),
            Err(ProblemReason::PercentOutOfRange)
        );
        assert_eq!(
            reason(spec(Some(-1), None)),
            Err(ProblemReason::PercentOutOfRange)
        );
        assert_eq!(
            reason(spec(Some(1), Some((1, None)))),
            Err(ProblemReason::PercentAndFraction)
        );
        assert_eq!(
            reason(spec(None, Some((1, Some(0))))),
            Err(ProblemReason::DenominatorTooSmall)
        );
        assert_eq!(
            reason(spec(None, Some((-1, Some(10))))),
            Err(ProblemReason::NumeratorNegative)
        );
        assert_eq!(
            reason(spec(None, Some((11, Some(10))))),
            Err(ProblemReason::NumeratorExceedsDenominator)
        );
    }

    #[test]
    fn backend_defaults() {
        let t = BackendTarget::new(None, None, None, "svc", Some(8080), "team");
        assert_eq!(
            (t.group.as_str(), t.kind.as_str(), t.namespace.as_str()),
            ("", "Service", "team")
        );
    }
}
