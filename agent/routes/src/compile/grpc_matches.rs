//! Compiling a GRPCRoute rule's matches: defaults applied (method match type `Exact`),
//! regexes compiled once, and the CRD's validations: a `method` match names a `service`
//! or a `method` (or both), Exact names are gRPC identifiers, header names are tokens.

use gateway_api::apis::standard::grpcroutes::{
    GrpcRouteRulesMatches, GrpcRouteRulesMatchesHeadersType, GrpcRouteRulesMatchesMethodType,
};

use crate::model::{
    GrpcNameMatch, GrpcRouteMatch, NameValueMatch, ObjectKey, Pattern, PlanProblem, ProblemReason,
    RouteKind, ValueMatch,
};

/// The CRD's pattern for an Exact `service`: dot-separated identifiers, an optional
/// leading dot (`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`).
fn valid_service(s: &str) -> bool {
    let s = s.strip_prefix('.').unwrap_or(s);
    !s.is_empty() && s.split('.').all(valid_identifier)
}

/// The CRD's pattern for an Exact `method`, and one element of a service name
/// (`^[A-Za-z_][A-Za-z_0-9]*$`).
fn valid_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn valid_header_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn problem(route: &ObjectKey, field: String, reason: ProblemReason, detail: String) -> PlanProblem {
    PlanProblem::new(route, field, reason, detail).of_kind(RouteKind::Grpc)
}

/// One `service` or `method` value: empty or absent = any.
fn name_match(
    route: &ObjectKey,
    field: String,
    value: Option<&str>,
    regex: bool,
    valid: fn(&str) -> bool,
) -> Result<Option<GrpcNameMatch>, PlanProblem> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if regex {
        return Pattern::new(v)
            .map(|p| Some(GrpcNameMatch::RegularExpression(p)))
            .map_err(|e| problem(route, field, ProblemReason::InvalidRegex, e.to_string()));
    }
    if !valid(v) {
        return Err(problem(
            route,
            field,
            ProblemReason::InvalidMethodMatch,
            format!("{v:?} is not a valid gRPC name for an Exact match"),
        ));
    }
    Ok(Some(GrpcNameMatch::Exact(v.to_owned())))
}

/// Compiles the matches of GRPCRoute rule `rule_field` (e.g. `spec.rules[0]`). No matches
/// give one empty entry (every gRPC call). Any invalid entry disables the whole rule (what
/// it would match is unknown): the problems are returned instead.
pub fn compile_grpc_matches(
    route: &ObjectKey,
    rule_field: &str,
    matches: Option<&Vec<GrpcRouteRulesMatches>>,
) -> Result<Vec<GrpcRouteMatch>, Vec<PlanProblem>> {
    let Some(matches) = matches.filter(|m| !m.is_empty()) else {
        return Ok(vec![GrpcRouteMatch::default()]);
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, m) in matches.iter().enumerate() {
        let field = format!("{rule_field}.matches[{i}]");
        let mut gm = GrpcRouteMatch::default();
        if let Some(method) = &m.method {
            let mf = format!("{field}.method");
            let regex = method.r#type == Some(GrpcRouteRulesMatchesMethodType::RegularExpression);
            let service = method.service.as_deref().filter(|s| !s.is_empty());
            let name = method.method.as_deref().filter(|s| !s.is_empty());
            if service.is_none() && name.is_none() {
                problems.push(problem(
                    route,
                    mf,
                    ProblemReason::InvalidMethodMatch,
                    "one of service and method must be a non-empty string".into(),
                ));
                continue;
            }
            match (
                name_match(
                    route,
                    format!("{mf}.service"),
                    service,
                    regex,
                    valid_service,
                ),
                name_match(route, format!("{mf}.method"), name, regex, valid_identifier),
            ) {
                (Ok(s), Ok(n)) => {
                    gm.service = s;
                    gm.method = n;
                }
                (s, n) => {
                    problems.extend(s.err());
                    problems.extend(n.err());
                    continue;
                }
            }
        }
        let mut bad_header = false;
        for (j, h) in m.headers.iter().flatten().enumerate() {
            let hf = format!("{field}.headers[{j}]");
            if !valid_header_name(&h.name) {
                problems.push(problem(
                    route,
                    format!("{hf}.name"),
                    ProblemReason::InvalidMatch,
                    format!("invalid header name {:?}", h.name),
                ));
                bad_header = true;
                continue;
            }
            let name = h.name.to_ascii_lowercase();
            if gm.headers.iter().any(|x| x.name == name) {
                continue; // only the first of equal names counts
            }
            let value = if h.r#type == Some(GrpcRouteRulesMatchesHeadersType::RegularExpression) {
                match Pattern::new(&h.value) {
                    Ok(p) => ValueMatch::RegularExpression(p),
                    Err(e) => {
                        problems.push(problem(
                            route,
                            format!("{hf}.value"),
                            ProblemReason::InvalidRegex,
                            e.to_string(),
                        ));
                        bad_header = true;
                        continue;
                    }
                }
            } else {
                ValueMatch::Exact(h.value.clone())
            };
            gm.headers.push(NameValueMatch { name, value });
        }
        if !bad_header {
            out.push(gm);
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["pkg.Svc", ".pkg.v1.Svc", "_x", "Svc"] {
            assert!(valid_service(ok), "{ok}");
        }
        for bad in ["", ".", "pkg..Svc", "1pkg.Svc", "pkg.Svc/", "pkg-x.Svc"] {
            assert!(!valid_service(bad), "{bad}");
        }
        assert!(valid_identifier("GetThing_2"));
        for bad in ["", "2x", "a.b", "a-b"] {
            assert!(!valid_identifier(bad), "{bad}");
        }
    }
}
