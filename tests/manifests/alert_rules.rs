//! The monitoring component's alerts, evaluated by Prometheus's own engine: `promtool check
//! rules` on the PrometheusRule's groups, and `promtool test rules` on synthetic series of the
//! agent's metrics — each alert fires when it must, with the labels it must, and stays quiet
//! otherwise (a fraction inside its band, too few requests, outcomes that are not losses).
//! `cargo xtask setup` provides promtool (from Debian's `prometheus` package).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use shadowtap_harness::monitoring::{monitoring_dir, RULES_FILE};

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shadowtap-promtool-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create a temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The PrometheusRule's `spec` (its `groups`, the form promtool reads); without the
/// annotations when `annotations` is false (promtool's tests compare them word for word, and
/// they hold rendered values).
fn rule_groups(annotations: bool) -> String {
    let path = monitoring_dir().join(RULES_FILE);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let rule: Value = yaml_serde::from_str(&text).expect("the PrometheusRule is YAML");
    let mut spec = rule
        .get("spec")
        .cloned()
        .expect("the PrometheusRule has a spec");
    if !annotations {
        for group in spec["groups"].as_array_mut().expect("groups") {
            for r in group["rules"].as_array_mut().expect("rules") {
                r.as_object_mut().expect("a rule").remove("annotations");
            }
        }
    }
    yaml_serde::to_string(&spec).expect("the groups serialize")
}

fn promtool(dir: &Path, args: &[&str]) -> Output {
    Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool (run `cargo xtask setup`, which provides it): {e}")
        })
}

fn report(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `promtool test rules` on `tests` (the `tests:` list of a promtool test file) against
/// the component's rules.
fn test_rules(tests: &str) -> Output {
    let dir = TempDir::new();
    fs::write(dir.0.join("rules.yaml"), rule_groups(false)).expect("write the rules");
    fs::write(
        dir.0.join("tests.yaml"),
        format!("rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n{tests}"),
    )
    .expect("write the tests");
    promtool(&dir.0, &["test", "rules", "tests.yaml"])
}

#[test]
fn promtool_accepts_the_rules_and_their_templates() {
    let dir = TempDir::new();
    fs::write(dir.0.join("rules.yaml"), rule_groups(true)).expect("write the rules");
    let out = promtool(&dir.0, &["check", "rules", "rules.yaml"]);
    assert!(
        out.status.success(),
        "promtool check rules on deploy/components/monitoring/{RULES_FILE}:\n{}",
        report(&out)
    );
}

/// A route's rule with one mirror: per minute, `won` requests, `selected` of them mirrors
/// selected with `outcome`, the rest not sampled; the configured fraction `p`.
fn route_series(
    route: &str,
    instance: &str,
    won: u32,
    selected: u32,
    outcome: &str,
    p: f64,
) -> String {
    let labels = format!("route=\"default/{route}\",rule=\"0\",instance=\"{instance}\"");
    let mirror = format!("{labels},mirror=\"default/foo-v2:8080\"");
    format!(
        "      - series: 'shadowtap_route_requests_total{{{labels}}}'\n        values: '0+{won}x60'\n\
         \x20     - series: 'shadowtap_route_mirror_requests_total{{{mirror},outcome=\"{outcome}\"}}'\n        values: '0+{selected}x60'\n\
         \x20     - series: 'shadowtap_route_mirror_requests_total{{{mirror},outcome=\"not_sampled\"}}'\n        values: '0+{}x60'\n\
         \x20     - series: 'shadowtap_route_mirror_fraction{{{mirror}}}'\n        values: '{p}x60'\n",
        won - selected
    )
}

#[test]
fn the_fraction_alert_fires_outside_the_band_only() {
    // 40 requests a minute, 1 200 in the alert's 30 minutes: at 42 % the ±3σ band is
    // ±4.3 points. in-band: 16/40 = 40 %, on two nodes; off-band: 12/40 = 30 %; few: one
    // request a minute, never mirrored (30 in 30 minutes, under the 100 the alert waits
    // for); all: 100 % configured and observed (σ = 0).
    let mut series = String::new();
    for instance in ["a", "b"] {
        series += &route_series("in-band", instance, 20, 8, "sent", 0.42);
    }
    series += &route_series("off-band", "a", 40, 12, "sent", 0.42);
    series += &route_series("few", "a", 1, 0, "sent", 0.42);
    series += &route_series("all", "a", 40, 40, "sent", 1.0);
    let out = test_rules(&format!(
        "  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n\
         \x20     - eval_time: 50m\n        alertname: ShadowtapMirrorFractionOutOfBand\n        exp_alerts:\n\
         \x20         - exp_labels: {{severity: warning, route: default/off-band, rule: \"0\", mirror: \"default/foo-v2:8080\"}}\n\
         \x20     - eval_time: 10m\n        alertname: ShadowtapMirrorFractionOutOfBand\n        exp_alerts: []\n"
    ));
    assert!(
        out.status.success(),
        "promtool test rules:\n{}",
        report(&out)
    );
}

#[test]
fn a_fraction_alert_that_should_fire_but_does_not_is_reported() {
    // The check can fail: expecting the alert for a route inside its band is an error.
    let series = route_series("in-band", "a", 40, 17, "sent", 0.42);
    let out = test_rules(&format!(
        "  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n\
         \x20     - eval_time: 50m\n        alertname: ShadowtapMirrorFractionOutOfBand\n        exp_alerts:\n\
         \x20         - exp_labels: {{severity: warning, route: default/in-band, rule: \"0\", mirror: \"default/foo-v2:8080\"}}\n"
    ));
    assert!(
        !out.status.success(),
        "promtool passed a test that expects an alert for an in-band route:\n{}",
        report(&out)
    );
}

#[test]
fn losses_backend_drops_ring_full_problems_and_down_agents_alert() {
    let tests = r#"  - interval: 1m
    input_series:
      - series: 'shadowtap_route_mirror_requests_total{route="default/lossy",rule="0",mirror="default/foo-v2:8080",outcome="queue_full",instance="a"}'
        values: '0+2x60'
      - series: 'shadowtap_route_mirror_requests_total{route="default/fine",rule="0",mirror="default/foo-v2:8080",outcome="sent",instance="a"}'
        values: '0+5x60'
      - series: 'shadowtap_route_mirror_requests_total{route="default/fine",rule="0",mirror="default/foo-v2:8080",outcome="not_sampled",instance="a"}'
        values: '0+5x60'
      - series: 'shadowtap_mirror_requests_total{backend="default/foo-v2:8080",outcome="sent",instance="a"}'
        values: '0+100x60'
      - series: 'shadowtap_mirror_requests_total{backend="default/foo-v2:8080",outcome="backend_down",instance="a"}'
        values: '0+5x60'
      - series: 'shadowtap_mirror_requests_total{backend="default/foo-v3:8080",outcome="sent",instance="a"}'
        values: '0+100x60'
      - series: 'shadowtap_mirror_requests_total{backend="default/foo-v3:8080",outcome="backend_down",instance="a"}'
        values: '0x60'
      - series: 'shadowtap_kernel_packets_total{outcome="ring_full",instance="node-a:19482"}'
        values: '0+3x60'
      - series: 'shadowtap_kernel_packets_total{outcome="ring_full",instance="node-b:19482"}'
        values: '7x60'
      - series: 'shadowtap_plan_problems{route="default/broken",field="spec.rules[0].filters[0]",reason="backend_not_found",instance="a"}'
        values: '1x60'
      - series: 'shadowtap_plan_problems{route="default/broken",field="spec.rules[0].filters[0]",reason="backend_not_found",instance="b"}'
        values: '1x60'
      - series: 'up{job="shadowtap-system/shadowtap",instance="node-a:19482"}'
        values: '0x60'
      - series: 'up{job="shadowtap-system/shadowtap",instance="node-b:19482"}'
        values: '1x60'
      - series: 'up{job="something-else",instance="x:1"}'
        values: '0x60'
    alert_rule_test:
      - eval_time: 30m
        alertname: ShadowtapMirrorLosses
        exp_alerts:
          - exp_labels: {severity: warning, route: default/lossy, rule: "0", mirror: "default/foo-v2:8080", outcome: queue_full}
      - eval_time: 30m
        alertname: ShadowtapMirrorBackendDrops
        exp_alerts:
          - exp_labels: {severity: warning, backend: "default/foo-v2:8080", outcome: backend_down}
      - eval_time: 30m
        alertname: ShadowtapRingBufferFull
        exp_alerts:
          - exp_labels: {severity: warning, instance: "node-a:19482"}
      - eval_time: 30m
        alertname: ShadowtapRouteProblems
        exp_alerts:
          - exp_labels: {severity: warning, route: default/broken, field: "spec.rules[0].filters[0]", reason: backend_not_found}
      - eval_time: 30m
        alertname: ShadowtapAgentDown
        exp_alerts:
          - exp_labels: {severity: critical, job: shadowtap-system/shadowtap, instance: "node-a:19482"}
      - eval_time: 30m
        alertname: ShadowtapAgentAbsent
        exp_alerts: []
  - interval: 1m
    input_series:
      - series: 'up{job="something-else",instance="x:1"}'
        values: '1x60'
    alert_rule_test:
      - eval_time: 30m
        alertname: ShadowtapAgentAbsent
        exp_alerts:
          - exp_labels: {severity: critical}
"#;
    let out = test_rules(tests);
    assert!(
        out.status.success(),
        "promtool test rules:\n{}",
        report(&out)
    );
}
