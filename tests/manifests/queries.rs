//! The monitoring component's PromQL (every alert of the PrometheusRule, every query of the
//! Grafana dashboard), parsed with `promql-parser`: each names only metrics of the agent's
//! metric interface, the alerts the README promises exist and read what they must, and the
//! dashboard ships as a ConfigMap Grafana's sidecar picks up. That a running agent exports
//! every one of these names is checked end to end (tests/e2e/monitoring.rs).

use std::collections::BTreeSet;

use serde_json::Value;
use shadowtap_harness::monitoring::{
    component_queries, metric_names, monitoring_dir, Query, DASHBOARD_FILE,
};

use crate::deploy::{each_installation, only};

/// The agent's metric interface: the names dashboards and alerts may read (README.md,
/// "Metrics"). Histograms are read through their `_bucket`, `_sum` and `_count` series.
const INTERFACE_COUNTERS_AND_GAUGES: &[&str] = &[
    "shadowtap_route_requests_total",
    "shadowtap_route_mirror_requests_total",
    "shadowtap_route_mirror_fraction",
    "shadowtap_mirror_requests_total",
    "shadowtap_mirror_responses_total",
    "shadowtap_kernel_packets_total",
    "shadowtap_plan_problems",
    "shadowtap_build_info",
    "shadowtap_flows_live",
    "shadowtap_attached_interfaces",
];
const INTERFACE_HISTOGRAMS: &[&str] = &["shadowtap_mirror_latency_seconds"];
/// Series Prometheus writes itself for every target.
const SCRAPE_SERIES: &[&str] = &["up"];

fn interface() -> BTreeSet<String> {
    INTERFACE_COUNTERS_AND_GAUGES
        .iter()
        .map(|s| (*s).to_owned())
        .chain(
            INTERFACE_HISTOGRAMS
                .iter()
                .flat_map(|h| ["_bucket", "_sum", "_count"].map(|suffix| format!("{h}{suffix}"))),
        )
        .chain(SCRAPE_SERIES.iter().map(|s| (*s).to_owned()))
        .collect()
}

/// Every query whose metrics are outside `allowed`, as `source: names`.
fn outside(queries: &[Query], allowed: &BTreeSet<String>) -> Vec<String> {
    queries
        .iter()
        .filter_map(|q| {
            let unknown: Vec<&String> = q.metrics.difference(allowed).collect();
            (!unknown.is_empty()).then(|| format!("{}: {unknown:?}", q.source))
        })
        .collect()
}

fn queries() -> Vec<Query> {
    component_queries().unwrap_or_else(|e| panic!("deploy/components/monitoring: {e}"))
}

#[test]
fn every_query_reads_only_the_agent_metric_interface() {
    let queries = queries();
    assert!(
        queries.len() >= 10,
        "only {} queries found: the reader misses some",
        queries.len()
    );
    let problems = outside(&queries, &interface());
    assert!(
        problems.is_empty(),
        "deploy/components/monitoring: queries read metrics outside the agent's interface:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn the_check_rejects_an_unknown_metric_and_bad_promql() {
    // The same check, on an expression that reads a metric the agent does not export.
    let bad = Query {
        source: "mutated".into(),
        expr: "rate(shadowtap_reconstruct_events_total[5m])".into(),
        metrics: metric_names("rate(shadowtap_reconstruct_events_total[5m])")
            .expect("valid PromQL"),
    };
    assert_eq!(
        outside(&[bad], &interface()),
        vec!["mutated: [\"shadowtap_reconstruct_events_total\"]".to_owned()]
    );
    assert!(metric_names("sum by (route (shadowtap_route_requests_total)").is_err());
    assert!(
        metric_names("{route=\"a\"}").is_err(),
        "a selector without a metric name cannot be checked"
    );
    assert!(metric_names("{__name__=~\"shadowtap_.*\"}").is_err());
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le) (rate(shadowtap_mirror_latency_seconds_bucket[5m]))) / on() group_left {__name__=\"up\"}"
        )
        .expect("valid PromQL"),
        BTreeSet::from([
            "shadowtap_mirror_latency_seconds_bucket".to_owned(),
            "up".to_owned()
        ])
    );
}

/// The alert named `name`, with what it must read.
fn alert<'a>(queries: &'a [Query], name: &str) -> &'a Query {
    queries
        .iter()
        .find(|q| q.source.ends_with(&format!("({name})")))
        .unwrap_or_else(|| panic!("prometheusrule.yaml: no alert {name}"))
}

#[test]
fn the_promised_alerts_exist_and_read_what_they_must() {
    let queries = queries();
    for (name, metrics, fragments) in [
        (
            "ShadowtapMirrorFractionOutOfBand",
            &[
                "shadowtap_route_mirror_requests_total",
                "shadowtap_route_requests_total",
                "shadowtap_route_mirror_fraction",
            ][..],
            &["outcome!=\"not_sampled\"", "sqrt(", "3 *"][..],
        ),
        (
            "ShadowtapMirrorLosses",
            &["shadowtap_route_mirror_requests_total"][..],
            &[
                "outcome!~\"sent|not_sampled\"",
                "by (route, rule, mirror, outcome)",
            ][..],
        ),
        (
            "ShadowtapMirrorBackendDrops",
            &["shadowtap_mirror_requests_total"][..],
            &["outcome!=\"sent\""][..],
        ),
        (
            "ShadowtapRingBufferFull",
            &["shadowtap_kernel_packets_total"][..],
            &["outcome=\"ring_full\""][..],
        ),
        (
            "ShadowtapRouteProblems",
            &["shadowtap_plan_problems"][..],
            &[][..],
        ),
        ("ShadowtapAgentDown", &["up"][..], &["== 0"][..]),
        ("ShadowtapAgentAbsent", &["up"][..], &["absent("][..]),
    ] {
        let q = alert(&queries, name);
        let expected: BTreeSet<String> = metrics.iter().map(|m| (*m).to_owned()).collect();
        assert_eq!(q.metrics, expected, "{}: the metrics it reads", q.source);
        for f in fragments {
            assert!(q.expr.contains(f), "{}: lacks {f:?}:\n{}", q.source, q.expr);
        }
    }
}

#[test]
fn alerts_carry_severity_summary_and_a_for_duration() {
    each_installation(|i, d| {
        if !i.monitoring {
            assert!(
                d.prometheus_rules.is_empty(),
                "alerts without the component"
            );
            return;
        }
        let rule = only(&d.prometheus_rules, "PrometheusRule");
        for group in &rule.spec.groups {
            for r in &group.rules {
                let name = r.alert.as_deref().unwrap_or_else(|| {
                    panic!("group {}: a recording rule would add a name the agent does not export; the component has alerts only", group.name)
                });
                let severity = r.labels.as_ref().and_then(|l| l.get("severity"));
                assert!(
                    matches!(severity.map(String::as_str), Some("warning" | "critical")),
                    "alert {name}: labels.severity is warning or critical"
                );
                assert!(
                    r.annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key("summary") && a.contains_key("description")),
                    "alert {name}: annotations summary and description"
                );
                assert!(
                    r.for_.is_some(),
                    "alert {name}: a `for` duration, no flapping"
                );
            }
        }
    });
}

#[test]
fn the_dashboard_ships_as_a_configmap_for_the_grafana_sidecar() {
    let file = std::fs::read_to_string(monitoring_dir().join(DASHBOARD_FILE))
        .expect("the dashboard is readable");
    each_installation(|i, d| {
        if !i.monitoring {
            assert!(
                d.config_maps.is_empty(),
                "a dashboard without the component"
            );
            return;
        }
        let cm = only(&d.config_maps, "ConfigMap");
        let labels = cm.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("grafana_dashboard").map(String::as_str),
            Some("1"),
            "ConfigMap {:?}: the Grafana sidecar's label",
            cm.metadata.name
        );
        let data = cm.data.clone().unwrap_or_default();
        let (key, text) = data
            .iter()
            .next()
            .expect("the ConfigMap holds the dashboard");
        assert_eq!(data.len(), 1, "one dashboard");
        assert!(
            key.ends_with(".json"),
            "{key}: the sidecar loads .json keys"
        );
        assert_eq!(text, &file, "the ConfigMap holds {DASHBOARD_FILE} as it is");
    });
    let dashboard: Value = serde_json::from_str(&file).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let ids: BTreeSet<u64> = panels
        .iter()
        .map(|p| p["id"].as_u64().expect("a numeric panel id"))
        .collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for p in panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            assert_eq!(
                t["datasource"]["uid"], "${datasource}",
                "panel {}: targets use the dashboard's datasource variable",
                p["title"]
            );
        }
    }
    assert_eq!(
        dashboard["templating"]["list"][0]["type"], "datasource",
        "the dashboard lets the user pick the Prometheus datasource"
    );
}
