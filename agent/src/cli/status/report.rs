//! From the agent's samples to the status report: per route, rule and mirror, configured
//! against observed fraction with a ±3σ verdict; per mirror backend, delivery outcomes and
//! latency.

use std::collections::BTreeMap;

use serde::Serialize;

use super::prom_text::Sample;

/// One mirror of one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MirrorRow {
    /// `namespace/name` of the route.
    pub route: String,
    /// Rule index.
    pub rule: String,
    /// `namespace/name:port` of the mirror Service.
    pub mirror: String,
    /// Configured fraction (0–1).
    pub configured: f64,
    /// Requests the rule won on this node.
    pub requests: u64,
    /// Requests selected for this mirror whose outcome is known: sent, or lost (refused at
    /// submission or dropped after queueing). Requests still queued or in flight are not
    /// counted yet.
    pub selected: u64,
    /// Of those, answered by the mirror.
    pub sent: u64,
    /// Of those, lost, by reason.
    pub lost: BTreeMap<String, u64>,
    /// The mirror's final responses by status class.
    pub responses: BTreeMap<String, u64>,
    /// Mirror latency quantiles from this mirror's histogram (bucket upper bounds, seconds).
    pub latency_p50: Option<f64>,
    /// See `latency_p50`.
    pub latency_p99: Option<f64>,
    /// `selected / requests`, when there were requests.
    pub observed: Option<f64>,
    /// The ±3σ band of the selected count around `requests × configured`.
    pub band: Option<(f64, f64)>,
    /// `inside`, `outside`, or `no requests yet`.
    pub verdict: String,
    /// Requests sent per second since the previous report (`--watch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_per_second: Option<f64>,
}

/// Delivery by one mirror backend.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BackendRow {
    /// The backend id (`namespace/name:port`, a `~digest` when the route rewrites requests).
    pub backend: String,
    /// Requests by outcome: `sent` or a drop reason.
    pub outcomes: BTreeMap<String, u64>,
    /// Responses by status class.
    pub responses: BTreeMap<String, u64>,
    /// Latency quantiles from the histogram's buckets (upper bounds, seconds).
    pub latency_p50: Option<f64>,
    /// See `latency_p50`.
    pub latency_p99: Option<f64>,
}

/// HTTP/2 (h2c) decoding on this node, all connections together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct H2Row {
    /// Connections decoded from their start (prior knowledge or an accepted upgrade).
    pub connections: u64,
    /// Connections opened before capture: not decodable, never mirrored (`h2_midstream`).
    pub midstream: u64,
    /// `Upgrade: h2c` requests whose upgrade the server declined.
    pub upgrades_declined: u64,
    /// Requests decoded.
    pub requests: u64,
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// One row per mirror of every rule this node saw in its plan.
    pub mirrors: Vec<MirrorRow>,
    /// One row per mirror backend.
    pub backends: Vec<BackendRow>,
    /// HTTP/2 decoding.
    pub h2: H2Row,
    /// Comparing routes: pairs by outcome and both sides' latency.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<super::comparisons::ComparisonRow>,
    /// What comparison holds against its budgets (pending pairs, connections' pairings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_memory: Option<super::comparisons::CompareMemory>,
}

/// The HTTP/2 row from `shadowtap_h2_events_total`.
fn h2_row(samples: &[Sample]) -> H2Row {
    let mut row = H2Row::default();
    for s in samples
        .iter()
        .filter(|s| s.name == "shadowtap_h2_events_total")
    {
        let v = s.value as u64;
        match s.label("event") {
            Some("h2_connections") => row.connections = v,
            Some("h2_midstream") => row.midstream = v,
            Some("h2c_upgrade_declined") => row.upgrades_declined = v,
            Some("requests_emitted") => row.requests = v,
            _ => {}
        }
    }
    row
}

/// Inside the ±3σ binomial band of `n` draws at probability `p`? Returns the band and verdict.
pub fn verdict(n: u64, p: f64, k: u64) -> (Option<(f64, f64)>, &'static str) {
    if n == 0 {
        return (None, "no requests yet");
    }
    let n = n as f64;
    let sigma = (n * p * (1.0 - p)).sqrt();
    let (lo, hi) = ((n * p - 3.0 * sigma).max(0.0), n * p + 3.0 * sigma);
    let k = k as f64;
    let inside = k >= lo.floor() && k <= hi.ceil();
    (
        Some((lo / n, hi / n)),
        if inside { "inside" } else { "outside" },
    )
}

type Key = (String, String, String);

/// Builds the report from one scrape (and the previous one, for rates).
pub fn build(samples: &[Sample], previous: Option<(&[Sample], f64)>) -> Report {
    let label = |s: &Sample, k: &str| s.label(k).unwrap_or_default().to_owned();
    let mut requests: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut fractions: BTreeMap<Key, f64> = BTreeMap::new();
    let mut outcomes: BTreeMap<Key, BTreeMap<String, u64>> = BTreeMap::new();
    let mut responses: BTreeMap<Key, BTreeMap<String, u64>> = BTreeMap::new();
    let mut buckets: BTreeMap<Key, Vec<(f64, f64)>> = BTreeMap::new();
    let key_of = |s: &Sample| (label(s, "route"), label(s, "rule"), label(s, "mirror"));
    let sent_of = |samples: &[Sample]| -> BTreeMap<Key, u64> {
        samples
            .iter()
            .filter(|s| {
                s.name == "shadowtap_route_mirror_requests_total"
                    && s.label("outcome") == Some("sent")
            })
            .map(|s| {
                (
                    (label(s, "route"), label(s, "rule"), label(s, "mirror")),
                    s.value as u64,
                )
            })
            .collect()
    };
    for s in samples {
        match s.name.as_str() {
            "shadowtap_route_requests_total" => {
                requests.insert((label(s, "route"), label(s, "rule")), s.value as u64);
            }
            "shadowtap_route_mirror_fraction" => {
                fractions.insert(
                    (label(s, "route"), label(s, "rule"), label(s, "mirror")),
                    s.value,
                );
            }
            "shadowtap_route_mirror_requests_total" => {
                outcomes
                    .entry(key_of(s))
                    .or_default()
                    .insert(label(s, "outcome"), s.value as u64);
            }
            "shadowtap_route_mirror_responses_total" => {
                responses
                    .entry(key_of(s))
                    .or_default()
                    .insert(label(s, "class"), s.value as u64);
            }
            "shadowtap_route_mirror_latency_seconds_bucket" => {
                if let Some(le) = bucket_bound(s) {
                    buckets.entry(key_of(s)).or_default().push((le, s.value));
                }
            }
            _ => {}
        }
    }
    let now_sent = sent_of(samples);
    let before = previous.map(|(p, secs)| (sent_of(p), secs));
    let mut report = Report::default();
    for (key, configured) in fractions {
        let n = requests
            .get(&(key.0.clone(), key.1.clone()))
            .copied()
            .unwrap_or(0);
        let by = outcomes.remove(&key).unwrap_or_default();
        let lost: BTreeMap<String, u64> = by
            .iter()
            .filter(|(o, _)| !matches!(o.as_str(), "sent" | "not_sampled"))
            .map(|(o, v)| (o.clone(), *v))
            .collect();
        let sent = by.get("sent").copied().unwrap_or(0);
        let selected = sent + lost.values().sum::<u64>();
        let (band, verdict) = verdict(n, configured, selected);
        let mut latency = buckets.remove(&key).unwrap_or_default();
        latency.sort_by(|x, y| x.0.total_cmp(&y.0));
        let sent_per_second = before.as_ref().map(|(b, secs)| {
            let was = b.get(&key).copied().unwrap_or(0);
            now_sent.get(&key).copied().unwrap_or(0).saturating_sub(was) as f64 / secs
        });
        report.mirrors.push(MirrorRow {
            responses: responses.remove(&key).unwrap_or_default(),
            route: key.0,
            rule: key.1,
            mirror: key.2,
            configured,
            requests: n,
            selected,
            sent,
            lost,
            latency_p50: quantile(&latency, 0.5),
            latency_p99: quantile(&latency, 0.99),
            observed: (n > 0).then(|| selected as f64 / n as f64),
            band,
            verdict: verdict.to_owned(),
            sent_per_second,
        });
    }
    report.backends = backends(samples);
    report.h2 = h2_row(samples);
    report.comparisons = super::comparisons::rows(samples);
    report.compare_memory = super::comparisons::memory(samples);
    report
}

fn backends(samples: &[Sample]) -> Vec<BackendRow> {
    let mut rows: BTreeMap<String, BackendRow> = BTreeMap::new();
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples {
        let Some(backend) = s.label("backend") else {
            continue;
        };
        let row = rows
            .entry(backend.to_owned())
            .or_insert_with(|| BackendRow {
                backend: backend.to_owned(),
                ..BackendRow::default()
            });
        match s.name.as_str() {
            "shadowtap_mirror_requests_total" => {
                if let Some(o) = s.label("outcome") {
                    row.outcomes.insert(o.to_owned(), s.value as u64);
                }
            }
            "shadowtap_mirror_responses_total" => {
                if let Some(c) = s.label("class") {
                    row.responses.insert(c.to_owned(), s.value as u64);
                }
            }
            "shadowtap_mirror_latency_seconds_bucket" => {
                let Some(le) = bucket_bound(s) else {
                    continue;
                };
                buckets
                    .entry(backend.to_owned())
                    .or_default()
                    .push((le, s.value));
            }
            _ => {}
        }
    }
    for (backend, mut b) in buckets {
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        if let Some(row) = rows.get_mut(&backend) {
            row.latency_p50 = quantile(&b, 0.5);
            row.latency_p99 = quantile(&b, 0.99);
        }
    }
    rows.into_values().collect()
}

/// A histogram bucket's upper bound (`le`).
pub(super) fn bucket_bound(s: &Sample) -> Option<f64> {
    match s.label("le")? {
        "+Inf" => Some(f64::INFINITY),
        v => Some(v.parse().unwrap_or(f64::INFINITY)),
    }
}

/// The upper bound of the first cumulative bucket holding `q` of the observations.
pub(super) fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    buckets
        .iter()
        .find(|(_, count)| *count >= q * total)
        .map(|(le, _)| *le)
}

#[cfg(test)]
mod tests {
    use super::super::prom_text::parse;
    use super::*;

    const SCRAPE: &str = r#"
shadowtap_route_requests_total{route="default/foo",rule="0"} 1000
shadowtap_route_mirror_fraction{route="default/foo",rule="0",mirror="default/foo-v2:8080"} 0.42
shadowtap_route_mirror_requests_total{route="default/foo",rule="0",mirror="default/foo-v2:8080",outcome="sent"} 415
shadowtap_route_mirror_requests_total{route="default/foo",rule="0",mirror="default/foo-v2:8080",outcome="not_sampled"} 580
shadowtap_route_mirror_requests_total{route="default/foo",rule="0",mirror="default/foo-v2:8080",outcome="queue_full"} 5
shadowtap_route_mirror_fraction{route="default/bar",rule="1",mirror="default/bar-v2:80"} 0.5
shadowtap_route_requests_total{route="default/bar",rule="1"} 100
shadowtap_route_mirror_requests_total{route="default/bar",rule="1",mirror="default/bar-v2:80",outcome="sent"} 88
shadowtap_route_mirror_requests_total{route="default/bar",rule="1",mirror="default/bar-v2:80",outcome="connect_refused"} 2
shadowtap_route_mirror_responses_total{route="default/foo",rule="0",mirror="default/foo-v2:8080",class="2xx"} 415
shadowtap_route_mirror_latency_seconds_bucket{route="default/foo",rule="0",mirror="default/foo-v2:8080",le="0.001"} 400
shadowtap_route_mirror_latency_seconds_bucket{route="default/foo",rule="0",mirror="default/foo-v2:8080",le="0.002"} 410
shadowtap_route_mirror_latency_seconds_bucket{route="default/foo",rule="0",mirror="default/foo-v2:8080",le="+Inf"} 415
shadowtap_mirror_requests_total{backend="default/foo-v2:8080",outcome="sent"} 410
shadowtap_mirror_latency_seconds_bucket{backend="default/foo-v2:8080",le="0.001"} 300
shadowtap_mirror_latency_seconds_bucket{backend="default/foo-v2:8080",le="0.01"} 409
shadowtap_mirror_latency_seconds_bucket{backend="default/foo-v2:8080",le="+Inf"} 410
shadowtap_h2_events_total{event="h2_connections"} 12
shadowtap_h2_events_total{event="h2_midstream"} 3
shadowtap_h2_events_total{event="h2c_upgrade_declined"} 1
shadowtap_h2_events_total{event="requests_emitted"} 900
shadowtap_h2_events_total{event="frames"} 2000
"#;

    #[test]
    fn verdicts_against_the_band() {
        let r = build(&parse(SCRAPE), None);
        let foo = r
            .mirrors
            .iter()
            .find(|m| m.route == "default/foo")
            .expect("foo");
        assert_eq!((foo.requests, foo.selected), (1000, 420));
        assert_eq!(foo.lost.get("queue_full"), Some(&5));
        assert_eq!(foo.sent, 415);
        assert_eq!(foo.responses.get("2xx"), Some(&415));
        assert_eq!(
            (foo.latency_p50, foo.latency_p99),
            (Some(0.001), Some(f64::INFINITY))
        );
        assert_eq!(foo.verdict, "inside");
        let bar = r
            .mirrors
            .iter()
            .find(|m| m.route == "default/bar")
            .expect("bar");
        assert_eq!(bar.verdict, "outside", "90 of 100 at 50 %");
        assert_eq!((bar.sent, bar.lost.get("connect_refused")), (88, Some(&2)));
        let b = &r.backends[0];
        assert_eq!(b.outcomes.get("sent"), Some(&410));
        assert_eq!(b.latency_p50, Some(0.001));
        assert_eq!(b.latency_p99, Some(0.01));
        assert_eq!(verdict(0, 0.5, 0).1, "no requests yet");
        assert_eq!(
            r.h2,
            H2Row {
                connections: 12,
                midstream: 3,
                upgrades_declined: 1,
                requests: 900,
            }
        );
    }

    /// A GRPCRoute and an HTTPRoute of the same name have rows of their own: the
    /// GRPCRoute's series name it `grpcroute:namespace/name`.
    #[test]
    fn a_grpcroute_and_an_httproute_of_one_name_are_told_apart() {
        let scrape = r#"shadowtap_route_mirror_fraction{route="default/foo",rule="0",mirror="default/v2:80"} 1
shadowtap_route_requests_total{route="default/foo",rule="0"} 10
shadowtap_route_mirror_requests_total{route="default/foo",rule="0",mirror="default/v2:80",outcome="sent"} 10
shadowtap_route_mirror_fraction{route="grpcroute:default/foo",rule="0",mirror="default/v2:80"} 1
shadowtap_route_requests_total{route="grpcroute:default/foo",rule="0"} 30
shadowtap_route_mirror_requests_total{route="grpcroute:default/foo",rule="0",mirror="default/v2:80",outcome="sent"} 29
shadowtap_route_mirror_requests_total{route="grpcroute:default/foo",rule="0",mirror="default/v2:80",outcome="protocol_mismatch"} 1
"#;
        let r = build(&parse(scrape), None);
        let row = |route: &str| {
            r.mirrors
                .iter()
                .find(|m| m.route == route)
                .unwrap_or_else(|| panic!("no row for {route}"))
        };
        assert_eq!(
            (row("default/foo").requests, row("default/foo").sent),
            (10, 10)
        );
        let grpc = row("grpcroute:default/foo");
        assert_eq!((grpc.requests, grpc.sent), (30, 29));
        assert_eq!(grpc.lost.get("protocol_mismatch"), Some(&1));
        assert_eq!(r.mirrors.len(), 2);
    }
}
