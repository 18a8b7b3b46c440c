//! Filter order: shadowtap mirrors what the pod received, i.e. the request after every
//! request modifier (`RequestHeaderModifier`, `URLRewrite`) the parent applied. That is
//! faithful when each RequestMirror comes after the modifiers in filter order; a mirror listed
//! before a modifier should see the unmodified request, which shadowtap cannot reconstruct.
//! Rule filters come before backendRef filters. Such combinations are reported as warnings
//! (the mirror stays configured).

use gateway_api::apis::standard::httproutes::{
    HttpRouteRules, HttpRouteRulesBackendRefsFiltersType, HttpRouteRulesFiltersType,
};

use crate::model::{ObjectKey, PlanProblem, ProblemReason};

/// What a filter does, for ordering.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Mirror,
    Modify,
    Other,
}

fn rule_step(t: &HttpRouteRulesFiltersType) -> Step {
    match t {
        HttpRouteRulesFiltersType::RequestMirror => Step::Mirror,
        HttpRouteRulesFiltersType::RequestHeaderModifier
        | HttpRouteRulesFiltersType::UrlRewrite => Step::Modify,
        _ => Step::Other,
    }
}

fn backend_step(t: &HttpRouteRulesBackendRefsFiltersType) -> Step {
    match t {
        HttpRouteRulesBackendRefsFiltersType::RequestMirror => Step::Mirror,
        HttpRouteRulesBackendRefsFiltersType::RequestHeaderModifier
        | HttpRouteRulesBackendRefsFiltersType::UrlRewrite => Step::Modify,
        _ => Step::Other,
    }
}

/// Warnings for the RequestMirror filters of `rule` (at `rule_field`) that come before a
/// request modifier: in the rule's own list, or (for rule-level mirrors) in a backendRef's
/// list, or in the same backendRef's list.
pub fn filter_order_warnings(
    route: &ObjectKey,
    rule: &HttpRouteRules,
    rule_field: &str,
) -> Vec<PlanProblem> {
    let mut out = Vec::new();
    let rule_steps: Vec<Step> = rule
        .filters
        .iter()
        .flatten()
        .map(|f| rule_step(&f.r#type))
        .collect();
    let backend_steps: Vec<Vec<Step>> = rule
        .backend_refs
        .iter()
        .flatten()
        .map(|b| {
            b.filters
                .iter()
                .flatten()
                .map(|f| backend_step(&f.r#type))
                .collect()
        })
        .collect();
    let any_backend_modifier = backend_steps.iter().flatten().any(|s| *s == Step::Modify);
    for (i, s) in rule_steps.iter().enumerate() {
        if *s != Step::Mirror {
            continue;
        }
        let later = rule_steps[i + 1..].iter().position(|s| *s == Step::Modify);
        let detail = match later {
            Some(j) => Some(format!(
                "filter {} modifies the request after this mirror; shadowtap mirrors the modified request the pod receives",
                i + 1 + j
            )),
            None if any_backend_modifier => Some(
                "a backendRef filter modifies the request after this rule-level mirror; shadowtap mirrors the modified request the pod receives".to_owned(),
            ),
            None => None,
        };
        if let Some(detail) = detail {
            out.push(PlanProblem::new(
                route,
                format!("{rule_field}.filters[{i}]"),
                ProblemReason::MirrorBeforeModifier,
                detail,
            ));
        }
    }
    for (bi, steps) in backend_steps.iter().enumerate() {
        for (i, s) in steps.iter().enumerate() {
            if *s == Step::Mirror {
                if let Some(j) = steps[i + 1..].iter().position(|s| *s == Step::Modify) {
                    out.push(PlanProblem::new(
                        route,
                        format!("{rule_field}.backendRefs[{bi}].filters[{i}]"),
                        ProblemReason::MirrorBeforeModifier,
                        format!(
                            "filter {} modifies the request after this mirror; shadowtap mirrors the modified request the pod receives",
                            i + 1 + j
                        ),
                    ));
                }
            }
        }
    }
    out
}
