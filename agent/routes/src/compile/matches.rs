//! Compiling a rule's matches: defaults applied, regexes compiled once, and the CRD's
//! validations of path values, header names and query parameter names.

use gateway_api::apis::standard::httproutes::{
    HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesMethod,
    HttpRouteRulesMatchesPathType, HttpRouteRulesMatchesQueryParamsType,
};

use crate::model::{
    NameValueMatch, ObjectKey, PathMatch, Pattern, PlanProblem, ProblemReason, RouteMatch,
    ValueMatch,
};

fn method_str(m: &HttpRouteRulesMatchesMethod) -> &'static str {
    use HttpRouteRulesMatchesMethod as M;
    match m {
        M::Get => "GET",
        M::Head => "HEAD",
        M::Post => "POST",
        M::Put => "PUT",
        M::Delete => "DELETE",
        M::Connect => "CONNECT",
        M::Options => "OPTIONS",
        M::Trace => "TRACE",
        M::Patch => "PATCH",
    }
}

fn valid_header_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The CRD's validation of an Exact or PathPrefix value; `Err` names the rule broken.
fn validate_path_value(value: &str) -> Result<(), &'static str> {
    if !value.starts_with('/') {
        return Err("must be an absolute path starting with '/'");
    }
    if value.contains("//") {
        return Err("must not contain '//'");
    }
    if value.contains("/./") || value.contains("/../") {
        return Err("must not contain '/./' or '/../'");
    }
    if value.ends_with("/..") || value.ends_with("/.") {
        return Err("must not end with '/..' or '/.'");
    }
    if value.contains("%2f") || value.contains("%2F") {
        return Err("must not contain '%2f' or '%2F'");
    }
    if value.contains('#') {
        return Err("must not contain '#'");
    }
    if value.len() > 1024 {
        return Err("must be at most 1024 characters");
    }
    Ok(())
}

fn value_match(
    regex: bool,
    value: &str,
    route: &ObjectKey,
    field: String,
) -> Result<ValueMatch, PlanProblem> {
    if regex {
        Pattern::new(value)
            .map(ValueMatch::RegularExpression)
            .map_err(|e| PlanProblem::new(route, field, ProblemReason::InvalidRegex, e.to_string()))
    } else {
        Ok(ValueMatch::Exact(value.to_owned()))
    }
}

/// Compiles the matches of rule `rule_field` (e.g. `spec.rules[0]`). No matches give the
/// single default match (PathPrefix `/`). Any invalid entry disables the whole rule (what it
/// would match is unknown): the problems are returned instead.
pub fn compile_matches(
    route: &ObjectKey,
    rule_field: &str,
    matches: Option<&Vec<HttpRouteRulesMatches>>,
) -> Result<Vec<RouteMatch>, Vec<PlanProblem>> {
    let Some(matches) = matches.filter(|m| !m.is_empty()) else {
        return Ok(vec![RouteMatch::default()]);
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, m) in matches.iter().enumerate() {
        let field = format!("{rule_field}.matches[{i}]");
        let mut rm = RouteMatch {
            method: m.method.as_ref().map(|m| method_str(m).to_owned()),
            ..RouteMatch::default()
        };
        if let Some(p) = &m.path {
            let value = p.value.clone().unwrap_or_else(|| "/".to_owned());
            let pf = format!("{field}.path.value");
            rm.path = match p
                .r#type
                .as_ref()
                .unwrap_or(&HttpRouteRulesMatchesPathType::PathPrefix)
            {
                HttpRouteRulesMatchesPathType::RegularExpression => match Pattern::new(&value) {
                    Ok(re) => PathMatch::RegularExpression(re),
                    Err(e) => {
                        problems.push(PlanProblem::new(
                            route,
                            pf,
                            ProblemReason::InvalidRegex,
                            e.to_string(),
                        ));
                        continue;
                    }
                },
                t => {
                    if let Err(why) = validate_path_value(&value) {
                        problems.push(PlanProblem::new(
                            route,
                            pf,
                            ProblemReason::InvalidPathMatch,
                            format!("path {value:?} {why}"),
                        ));
                        continue;
                    }
                    if *t == HttpRouteRulesMatchesPathType::Exact {
                        PathMatch::Exact(value)
                    } else {
                        PathMatch::Prefix(value)
                    }
                }
            };
        }
        for (j, h) in m.headers.iter().flatten().enumerate() {
            let hf = format!("{field}.headers[{j}]");
            if !valid_header_name(&h.name) {
                problems.push(PlanProblem::new(
                    route,
                    format!("{hf}.name"),
                    ProblemReason::InvalidMatch,
                    format!("invalid header name {:?}", h.name),
                ));
                continue;
            }
            let name = h.name.to_ascii_lowercase();
            if rm.headers.iter().any(|x| x.name == name) {
                continue; // only the first of equal names counts
            }
            let regex = h.r#type == Some(HttpRouteRulesMatchesHeadersType::RegularExpression);
            match value_match(regex, &h.value, route, format!("{hf}.value")) {
                Ok(value) => rm.headers.push(NameValueMatch { name, value }),
                Err(p) => problems.push(p),
            }
        }
        for (j, q) in m.query_params.iter().flatten().enumerate() {
            let qf = format!("{field}.queryParams[{j}]");
            if q.name.is_empty() {
                problems.push(PlanProblem::new(
                    route,
                    format!("{qf}.name"),
                    ProblemReason::InvalidMatch,
                    "empty query parameter name",
                ));
                continue;
            }
            if rm.query_params.iter().any(|x| x.name == q.name) {
                continue;
            }
            let regex = q.r#type == Some(HttpRouteRulesMatchesQueryParamsType::RegularExpression);
            match value_match(regex, &q.value, route, format!("{qf}.value")) {
                Ok(value) => rm.query_params.push(NameValueMatch {
                    name: q.name.clone(),
                    value,
                }),
                Err(p) => problems.push(p),
            }
        }
        out.push(rm);
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
    fn validation() {
        assert!(validate_path_value("/ok/path").is_ok());
        for bad in [
            "nope", "/a//b", "/a/./b", "/a/../b", "/a/..", "/a%2Fb", "/a#b",
        ] {
            assert!(validate_path_value(bad).is_err(), "{bad}");
        }
    }
}
