//! The queries of the monitoring component (`deploy/components/monitoring`): every PromQL
//! expression of its PrometheusRule and of its Grafana dashboard, parsed with `promql-parser`,
//! and the metric names each one reads. The manifest tests check the names against the
//! agent's metric interface; the end-to-end tests against what a running agent exports.
//! Which names are right is for the tests to say: this module only reads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{walk_expr, ExprVisitor};
use serde_json::Value;

/// The PrometheusRule file of the component.
pub const RULES_FILE: &str = "prometheusrule.yaml";
/// The Grafana dashboard file of the component.
pub const DASHBOARD_FILE: &str = "dashboard.json";

/// Grafana's built-in interval variables, and the PromQL durations they stand for when a
/// query is parsed outside Grafana. Any other `$variable` in a query is an error.
const GRAFANA_INTERVALS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
];

/// One PromQL expression of the component.
#[derive(Debug, Clone)]
pub struct Query {
    /// Where it is: `file: what` (the alert, or the dashboard panel and target).
    pub source: String,
    /// The expression as written.
    pub expr: String,
    /// The metric names its selectors read.
    pub metrics: BTreeSet<String>,
}

/// `deploy/components/monitoring`.
pub fn monitoring_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/components/monitoring")
}

/// Every expression of the component's rules and dashboard, parsed; an expression that does
/// not parse, or a file that cannot be read, is an error naming where it is.
pub fn component_queries() -> Result<Vec<Query>, String> {
    let dir = monitoring_dir();
    let rules = read(&dir.join(RULES_FILE))?;
    let rules: Value =
        yaml_serde::from_str(&rules).map_err(|e| format!("{RULES_FILE}: not YAML: {e}"))?;
    let dashboard = read(&dir.join(DASHBOARD_FILE))?;
    let dashboard: Value =
        serde_json::from_str(&dashboard).map_err(|e| format!("{DASHBOARD_FILE}: not JSON: {e}"))?;
    let mut out = Vec::new();
    for (source, expr) in rule_expressions(&rules)?
        .into_iter()
        .chain(dashboard_expressions(&dashboard)?)
    {
        let metrics = metric_names(&expr).map_err(|e| format!("{source}: {e}\n  {expr}"))?;
        out.push(Query {
            source,
            expr,
            metrics,
        });
    }
    Ok(out)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `(source, expr)` of every rule of a PrometheusRule (read as plain YAML).
pub fn rule_expressions(rules: &Value) -> Result<Vec<(String, String)>, String> {
    let groups = rules
        .pointer("/spec/groups")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{RULES_FILE}: no spec.groups"))?;
    let mut out = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let rules = group
            .get("rules")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{RULES_FILE}: spec.groups[{g}] has no rules"))?;
        for (r, rule) in rules.iter().enumerate() {
            let name = rule
                .get("alert")
                .or_else(|| rule.get("record"))
                .and_then(Value::as_str)
                .unwrap_or("?");
            let expr = rule.get("expr").and_then(Value::as_str).ok_or_else(|| {
                format!("{RULES_FILE}: spec.groups[{g}].rules[{r}] ({name}) has no expr")
            })?;
            out.push((
                format!("{RULES_FILE}: spec.groups[{g}].rules[{r}] ({name})"),
                expr.to_owned(),
            ));
        }
    }
    Ok(out)
}

/// `(source, expr)` of every target of every panel (rows' nested panels included), with
/// Grafana's interval variables replaced by durations.
pub fn dashboard_expressions(dashboard: &Value) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard
        .get("panels")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{DASHBOARD_FILE}: no panels"))?
        .iter()
        .collect();
    while let Some(panel) = stack.pop() {
        if let Some(nested) = panel.get("panels").and_then(Value::as_array) {
            stack.extend(nested);
        }
        let title = panel.get("title").and_then(Value::as_str).unwrap_or("?");
        for target in panel
            .get("targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ref_id = target.get("refId").and_then(Value::as_str).unwrap_or("?");
            let source = format!("{DASHBOARD_FILE}: panel {title:?} target {ref_id}");
            let expr = target
                .get("expr")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{source}: no expr"))?;
            out.push((source, substitute_grafana_variables(expr)?));
        }
    }
    Ok(out)
}

/// `expr` with Grafana's interval variables replaced; an error for any other variable.
pub fn substitute_grafana_variables(expr: &str) -> Result<String, String> {
    let mut out = expr.to_owned();
    for (var, duration) in GRAFANA_INTERVALS {
        out = out.replace(var, duration);
    }
    match out.find('$') {
        Some(at) => Err(format!(
            "a dashboard variable this check does not know: {:?}",
            &out[at..]
        )),
        None => Ok(out),
    }
}

/// The metric names an expression's selectors read. A selector without a name, or with a
/// name matched by a regular expression, is an error: what it reads cannot be checked.
pub fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let ast = parser::parse(expr).map_err(|e| format!("not PromQL: {e}"))?;
    let mut names = Names::default();
    walk_expr(&mut names, &ast)?;
    Ok(names.0)
}

#[derive(Default)]
struct Names(BTreeSet<String>);

impl ExprVisitor for Names {
    type Error = String;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, String> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        let by_matcher = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten())
            .filter(|m| m.name == "__name__")
            .map(|m| match m.op {
                MatchOp::Equal => Ok(m.value.clone()),
                _ => Err(format!(
                    "selector {vs}: a __name__ matcher other than = names no single metric"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let names: BTreeSet<String> = vs.name.iter().cloned().chain(by_matcher).collect();
        if names.is_empty() {
            return Err(format!("selector {vs} names no metric"));
        }
        self.0.extend(names);
        Ok(true)
    }
}

/// The metric names of the samples in a Prometheus text exposition (`name{labels} value`
/// or `name value` lines; comments skipped). Only series that exist are listed.
pub fn exposition_sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_are_the_samples_not_the_comments() {
        let text = "# HELP shadowtap_flows_live Flows.\n# TYPE shadowtap_flows_live gauge\n\
                    shadowtap_flows_live 3\n\
                    shadowtap_mirror_latency_seconds_bucket{backend=\"a\",le=\"0.1\"} 1\n\
                    shadowtap_mirror_latency_seconds_sum{backend=\"a\"} 0.05\n\
                    \n# EOF\n";
        assert_eq!(
            exposition_sample_names(text),
            BTreeSet::from([
                "shadowtap_flows_live".to_owned(),
                "shadowtap_mirror_latency_seconds_bucket".to_owned(),
                "shadowtap_mirror_latency_seconds_sum".to_owned(),
            ])
        );
        assert!(exposition_sample_names("# TYPE x counter\n").is_empty());
    }

    #[test]
    fn grafana_intervals_become_durations_and_other_variables_fail() {
        assert_eq!(
            substitute_grafana_variables("rate(x[$__rate_interval]) + rate(y[$__interval])")
                .expect("known variables"),
            "rate(x[1m]) + rate(y[1m])"
        );
        let err =
            substitute_grafana_variables("x{instance=\"$node\"}").expect_err("an unknown variable");
        assert!(err.contains("$node"), "{err}");
    }

    #[test]
    fn rules_and_panels_are_found_everywhere() {
        let rules: Value = serde_json::json!({"spec": {"groups": [
            {"rules": [{"alert": "A", "expr": "up == 0"}]},
            {"rules": [{"record": "r", "expr": "sum(x)"}, {"alert": "B", "expr": "y > 1"}]},
        ]}});
        let found = rule_expressions(&rules).expect("rules");
        assert_eq!(found.len(), 3);
        assert!(found[2].0.ends_with("(B)") && found[2].1 == "y > 1");
        assert!(rule_expressions(&serde_json::json!({"spec": {"groups": [
            {"rules": [{"alert": "C"}]}
        ]}}))
        .expect_err("a rule without expr")
        .contains("(C) has no expr"));

        // A row's nested panels are read too.
        let dashboard: Value = serde_json::json!({"panels": [
            {"title": "row", "panels": [
                {"title": "inner", "targets": [{"refId": "A", "expr": "rate(z[$__rate_interval])"}]}
            ]},
            {"title": "outer", "targets": [{"refId": "A", "expr": "w"}]},
        ]});
        let mut found = dashboard_expressions(&dashboard).expect("panels");
        found.sort();
        assert_eq!(
            found.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(),
            vec!["rate(z[1m])", "w"]
        );
    }
}
