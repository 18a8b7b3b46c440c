//! The RequestMirror filters of a rule or a backendRef, read into [`MirrorSpec`]s (defaults
//! applied), and a spec's exact probability under the CRD's CEL validations.

use gateway_api::apis::standard::httproutes::{
    HttpRouteRules, HttpRouteRulesBackendRefs, HttpRouteRulesBackendRefsFiltersType,
    HttpRouteRulesFiltersType,
};

use super::defaults::{BackendTarget, DEFAULT_DENOMINATOR};
use crate::model::{Fraction, ProblemReason};

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

/// The RequestMirror filters of a filter list, read into specs. Rule filters and backendRef
/// filters are distinct generated types with the same fields, hence a macro rather than a
/// function. `Err` entries are RequestMirror filters without a `requestMirror` object (their
/// field path given).
macro_rules! mirror_specs {
    ($filters:expr, $mirror_type:expr, $owner_field:expr, $ns:expr) => {
        $filters
            .iter()
            .flatten()
            .enumerate()
            .filter(|(_, f)| f.r#type == $mirror_type)
            .map(|(i, f)| {
                let field = format!("{}.filters[{i}].requestMirror", $owner_field);
                let Some(m) = &f.request_mirror else {
                    return Err(field);
                };
                let b = &m.backend_ref;
                Ok(MirrorSpec {
                    field,
                    backend: BackendTarget::new(
                        b.group.as_deref(),
                        b.kind.as_deref(),
                        b.namespace.as_deref(),
                        &b.name,
                        b.port,
                        $ns,
                    ),
                    percent: m.percent,
                    fraction: m.fraction.as_ref().map(|f| (f.numerator, f.denominator)),
                })
            })
            .collect()
    };
}

/// The RequestMirror filters of a rule (rule-level), at `rule_field` (e.g. `spec.rules[0]`).
pub fn rule_mirrors(
    rule: &HttpRouteRules,
    rule_field: &str,
    ns: &str,
) -> Vec<Result<MirrorSpec, String>> {
    mirror_specs!(
        rule.filters,
        HttpRouteRulesFiltersType::RequestMirror,
        rule_field,
        ns
    )
}

/// The RequestMirror filters of one backendRef, at `backend_field`.
pub fn backend_mirrors(
    b: &HttpRouteRulesBackendRefs,
    backend_field: &str,
    ns: &str,
) -> Vec<Result<MirrorSpec, String>> {
    mirror_specs!(
        b.filters,
        HttpRouteRulesBackendRefsFiltersType::RequestMirror,
        backend_field,
        ns
    )
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
}
