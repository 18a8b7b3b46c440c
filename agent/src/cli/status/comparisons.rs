//! The comparison section of `shadowtap status`: per comparing route, rule and mirror, the
//! pairs by outcome and both sides' latency, from `shadowtap_route_comparisons_total`,
//! `shadowtap_route_primary_latency_seconds` and
//! `shadowtap_route_compared_mirror_latency_seconds`; and the memory comparison holds
//! against its two budgets, from `shadowtap_compare_budget_bytes` (pending pairs),
//! `shadowtap_compare_pairing_bytes` (the connections' pairings) and
//! `shadowtap_compare_connections_total{reason="over_budget"}`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::prom_text::Sample;
use super::report::{bucket_bound, quantile};

/// One comparing mirror of one rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ComparisonRow {
    /// `namespace/name` of the route.
    pub route: String,
    /// Rule index.
    pub rule: String,
    /// `namespace/name:port` of the mirror.
    pub mirror: String,
    /// Finished pairs by outcome (`same`, `status_differs`, ..., `pair_timeout`).
    pub outcomes: BTreeMap<String, u64>,
    /// Pairs whose responses were both compared.
    pub compared: u64,
    /// Of those, the ones that differ.
    pub divergent: u64,
    /// Primary latency quantiles of the compared pairs (bucket upper bounds, seconds).
    pub primary_p50: Option<f64>,
    /// See `primary_p50`.
    pub primary_p99: Option<f64>,
    /// Mirror latency quantiles of the same pairs.
    pub mirror_p50: Option<f64>,
    /// See `mirror_p50`.
    pub mirror_p99: Option<f64>,
}

/// What comparison holds on the node, against its two byte budgets.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CompareMemory {
    /// Bytes the pending pairs hold (`--compare-budget`).
    pub pending_pair_bytes: u64,
    /// Bytes the connections' pairings hold together (`--compare-pairing-budget`).
    pub pairing_bytes: u64,
    /// Connections stopped to keep the pairings within their budget.
    pub connections_over_budget: u64,
}

/// The comparison memory of a scrape (none when the agent exports no comparison gauges).
pub fn memory(samples: &[Sample]) -> Option<CompareMemory> {
    let mut m = CompareMemory::default();
    let mut seen = false;
    for s in samples {
        let v = s.value.max(0.0) as u64;
        match s.name.as_str() {
            "shadowtap_compare_budget_bytes" => (m.pending_pair_bytes, seen) = (v, true),
            "shadowtap_compare_pairing_bytes" => (m.pairing_bytes, seen) = (v, true),
            "shadowtap_compare_connections_total" if s.label("reason") == Some("over_budget") => {
                m.connections_over_budget = v;
            }
            _ => {}
        }
    }
    seen.then_some(m)
}

const COMPARED: &[&str] = &[
    "same",
    "status_class_differs",
    "status_differs",
    "headers_differ",
    "body_differs",
];

type Key = (String, String, String);

/// The comparison rows of a scrape (none when no route compares).
pub fn rows(samples: &[Sample]) -> Vec<ComparisonRow> {
    let key = |s: &Sample| {
        let l = |k| s.label(k).unwrap_or_default().to_owned();
        (l("route"), l("rule"), l("mirror"))
    };
    let mut rows: BTreeMap<Key, ComparisonRow> = BTreeMap::new();
    let mut primary: BTreeMap<Key, Vec<(f64, f64)>> = BTreeMap::new();
    let mut mirror: BTreeMap<Key, Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples {
        match s.name.as_str() {
            "shadowtap_route_comparisons_total" => {
                let k = key(s);
                let row = rows.entry(k.clone()).or_insert_with(|| ComparisonRow {
                    route: k.0,
                    rule: k.1,
                    mirror: k.2,
                    ..ComparisonRow::default()
                });
                let outcome = s.label("outcome").unwrap_or_default();
                let n = s.value as u64;
                if COMPARED.contains(&outcome) {
                    row.compared += n;
                    if outcome != "same" {
                        row.divergent += n;
                    }
                }
                row.outcomes.insert(outcome.to_owned(), n);
            }
            "shadowtap_route_primary_latency_seconds_bucket" => {
                if let Some(le) = bucket_bound(s) {
                    primary.entry(key(s)).or_default().push((le, s.value));
                }
            }
            "shadowtap_route_compared_mirror_latency_seconds_bucket" => {
                if let Some(le) = bucket_bound(s) {
                    mirror.entry(key(s)).or_default().push((le, s.value));
                }
            }
            _ => {}
        }
    }
    for (k, row) in rows.iter_mut() {
        if let Some(b) = primary.get_mut(k) {
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            row.primary_p50 = quantile(b, 0.5);
            row.primary_p99 = quantile(b, 0.99);
        }
        if let Some(b) = mirror.get_mut(k) {
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            row.mirror_p50 = quantile(b, 0.5);
            row.mirror_p99 = quantile(b, 0.99);
        }
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::super::prom_text::parse;
    use super::*;

    #[test]
    fn outcomes_and_latencies_per_mirror() {
        let text = r#"
shadowtap_route_comparisons_total{route="default/foo",rule="0",mirror="default/foo-v2:8080",outcome="same"} 90
shadowtap_route_comparisons_total{route="default/foo",rule="0",mirror="default/foo-v2:8080",outcome="status_differs"} 7
shadowtap_route_comparisons_total{route="default/foo",rule="0",mirror="default/foo-v2:8080",outcome="pair_timeout"} 3
shadowtap_route_primary_latency_seconds_bucket{route="default/foo",rule="0",mirror="default/foo-v2:8080",le="0.001"} 96
shadowtap_route_primary_latency_seconds_bucket{route="default/foo",rule="0",mirror="default/foo-v2:8080",le="+Inf"} 97
shadowtap_route_compared_mirror_latency_seconds_bucket{route="default/foo",rule="0",mirror="default/foo-v2:8080",le="0.05"} 10
shadowtap_route_compared_mirror_latency_seconds_bucket{route="default/foo",rule="0",mirror="default/foo-v2:8080",le="0.1"} 97
"#;
        let r = rows(&parse(text));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].compared, r[0].divergent), (97, 7));
        assert_eq!(r[0].outcomes["pair_timeout"], 3);
        assert_eq!(r[0].primary_p50, Some(0.001));
        assert_eq!(r[0].primary_p99, Some(f64::INFINITY));
        assert_eq!(r[0].mirror_p50, Some(0.1));
        assert!(rows(&parse(
            "shadowtap_route_requests_total{route=\"a\",rule=\"0\"} 1"
        ))
        .is_empty());
    }

    #[test]
    fn memory_against_both_budgets() {
        let text = r#"
shadowtap_compare_budget_bytes 2048
shadowtap_compare_pairing_bytes 65536
shadowtap_compare_connections_total{reason="idle"} 4
shadowtap_compare_connections_total{reason="over_budget"} 3
"#;
        assert_eq!(
            memory(&parse(text)),
            Some(CompareMemory {
                pending_pair_bytes: 2048,
                pairing_bytes: 65536,
                connections_over_budget: 3,
            })
        );
        assert_eq!(memory(&parse("shadowtap_flows_live 1")), None);
    }
}
