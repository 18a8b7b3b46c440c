//! `compare`: the primary path's cost of shadow comparison, side by side in one run: no
//! agent, shadowtap mirroring 42 % without comparison, and the same route annotated
//! `shadowtap.dev/compare: status` and `body` (the kernel then also copies the pod→client
//! direction: a 4 KiB prefix per segment, or everything). Fixed-rate (open loop) latency and
//! saturating (closed loop) throughput, in interleaved rounds; medians across rounds, ratios
//! against no agent. `SHADOWTAP_BENCH_ROUNDS` changes the number of rounds (3).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use shadowtap_harness::{
    load::{self, get_request, Load, Mode, Report},
    privileged,
    scenario::{
        foo_route_to_v2, foo_route_to_v2_annotated, metric_sum, shadowtap_binary, Rate, Scenario,
    },
    wait,
};

use crate::{metrics_text::sum_by_outcome, usage::agent_usage, write_result, PORT};

const ROUNDS: usize = 3;
const PERCENT: u32 = 42;
const OPEN_RATE: f64 = 2000.0;

const OPEN: Load = Load {
    connections: 16,
    mode: Mode::Open { rate: OPEN_RATE },
    warmup: Duration::from_millis(500),
    duration: Duration::from_secs(5),
    drain: Duration::from_secs(20),
};

const CLOSED: Load = Load {
    connections: 32,
    mode: Mode::Closed,
    warmup: Duration::from_millis(500),
    duration: Duration::from_secs(4),
    drain: Duration::from_secs(10),
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Config {
    NoAgent,
    Mirror,
    CompareStatus,
    CompareBody,
}

impl Config {
    const ALL: [Config; 4] = [
        Config::NoAgent,
        Config::Mirror,
        Config::CompareStatus,
        Config::CompareBody,
    ];

    fn label(self) -> &'static str {
        match self {
            Config::NoAgent => "(a) no agent",
            Config::Mirror => "(b) shadowtap, mirror 42 %, no comparison",
            Config::CompareStatus => "(c) + compare: status",
            Config::CompareBody => "(d) + compare: body",
        }
    }

    fn route(self) -> String {
        match self {
            Config::CompareStatus => foo_route_to_v2_annotated(
                Rate::Percent(PERCENT),
                &[("shadowtap.dev/compare", "status")],
            ),
            Config::CompareBody => foo_route_to_v2_annotated(
                Rate::Percent(PERCENT),
                &[("shadowtap.dev/compare", "body")],
            ),
            Config::NoAgent | Config::Mirror => foo_route_to_v2(Rate::Percent(PERCENT)),
        }
    }
}

struct Slot {
    open: Report,
    closed: Report,
    /// Comparison pairs finished, by outcome.
    outcomes: std::collections::BTreeMap<String, f64>,
    /// Agent CPU seconds over the slot, and requests it decoded.
    agent_cpu_s: f64,
    decoded: f64,
}

fn measure(s: &mut Scenario, config: Config) -> Slot {
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    if config != Config::NoAgent {
        s.write_routes("route.yaml", &config.route());
        s.start_agent(&shadowtap_binary(), &[]);
    }
    let cpu_before = s.agent_pid().map_or(0.0, |p| agent_usage(p).0);
    let open = load::run(&s.topo.client.ns, v1, OPEN, get_request).expect("open-loop load");
    let closed = load::run(&s.topo.client.ns, v1, CLOSED, get_request).expect("closed-loop load");
    let (mut pairs, mut agent_cpu_s, mut decoded) = (Default::default(), 0.0, 0.0);
    if config != Config::NoAgent {
        // Mirrors still in flight land; comparisons finish with them.
        let mut last = (u64::MAX, -1.0);
        let mut since = Instant::now();
        wait::until("mirroring to settle", Duration::from_secs(30), || {
            let now = (
                s.v2.count(),
                metric_sum(&s.metrics(), "shadowtap_route_comparisons_total", &[], &[]),
            );
            if now != last {
                last = now;
                since = Instant::now();
                return None;
            }
            (since.elapsed() >= Duration::from_millis(500)).then_some(())
        });
        let m = s.metrics();
        pairs = sum_by_outcome(&m, "shadowtap_route_comparisons_total");
        decoded = metric_sum(
            &m,
            "shadowtap_reconstruct_requests_total",
            &["outcome=\"emitted\""],
            &[],
        );
        agent_cpu_s = s.agent_pid().map_or(0.0, |p| agent_usage(p).0) - cpu_before;
        s.stop_agent();
    }
    for server in s.v1.iter().chain([&s.v2, &s.v3]) {
        server.log.lock().expect("lock").clear();
        server.received.lock().expect("lock").clear();
    }
    Slot {
        open,
        closed,
        outcomes: pairs,
        agent_cpu_s,
        decoded,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Open p50, p99 (µs), closed req/s, closed p99 (µs).
fn medians(slots: &[Slot]) -> [f64; 4] {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let m = |f: &dyn Fn(&Slot) -> f64| median(slots.iter().map(f).collect());
    [
        m(&|s| us(s.open.quantile(0.50))),
        m(&|s| us(s.open.quantile(0.99))),
        m(&|s| s.closed.throughput()),
        m(&|s| us(s.closed.quantile(0.99))),
    ]
}

fn cell(v: f64, base: f64, is_base: bool, unit: &str) -> String {
    let text = format!("{v:.0}{unit}");
    if is_base || base <= 0.0 {
        text
    } else {
        format!("{text} ({:.2}×)", v / base)
    }
}

/// Run the benchmark and write `compare.md`.
pub fn run() {
    assert!(privileged(), "the comparison benchmark needs root");
    let started = Instant::now();
    let rounds = std::env::var("SHADOWTAP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(ROUNDS);
    let mut s = Scenario::new(&foo_route_to_v2(Rate::Percent(PERCENT)));
    let mut results: Vec<(Config, Vec<Slot>)> =
        Config::ALL.iter().map(|c| (*c, Vec::new())).collect();
    for round in 1..=rounds {
        for (config, slots) in results.iter_mut() {
            eprintln!("compare: round {round}/{rounds}: {}", config.label());
            slots.push(measure(&mut s, *config));
        }
    }
    let base = medians(&results[0].1);
    let mut out = format!(
        "comparison on the primary path: the client's view of foo-v1 (HTTP/1.1 GET, ~200 B, keep-alive; 2-byte answers) \
         with shadowtap mirroring 42 % without and with `shadowtap.dev/compare`; {rounds} interleaved rounds, medians, \
         ratios against (a) of the same run; load generator, servers and agent share {} cores; run took {:.0} s\n\n\
         * fixed rate: open loop, {OPEN_RATE:.0} req/s over {} connections; saturation: closed loop, {} connections\n\
         * pairs: comparisons finished (all rounds), by outcome (foo-v1 and foo-v2 answer alike: \
         anything but `same` is a loss, e.g. `mirror_failed` when the replay queue overflows at saturation)\n\
         * agent CPU: user + system time of the agent over both loads and the settling, per request it decoded (median of rounds)\n\n\
         | configuration | fixed p50 | fixed p99 | saturation req/s | saturation p99 | agent CPU per request | pairs by outcome |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
        std::thread::available_parallelism().map_or(0, usize::from),
        started.elapsed().as_secs_f64(),
        OPEN.connections,
        CLOSED.connections,
    );
    for (config, slots) in &results {
        let m = medians(slots);
        let is_base = *config == Config::NoAgent;
        let mut pairs = std::collections::BTreeMap::<&str, f64>::new();
        for slot in slots {
            for (o, v) in &slot.outcomes {
                *pairs.entry(o).or_insert(0.0) += v;
            }
        }
        let cpu = median(
            slots
                .iter()
                .filter(|s| s.decoded > 0.0)
                .map(|s| s.agent_cpu_s * 1e6 / s.decoded)
                .collect(),
        );
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            config.label(),
            cell(m[0], base[0], is_base, " µs"),
            cell(m[1], base[1], is_base, " µs"),
            cell(m[2], base[2], is_base, ""),
            cell(m[3], base[3], is_base, " µs"),
            if cpu > 0.0 {
                format!("{cpu:.1} µs")
            } else {
                "—".to_owned()
            },
            if pairs.is_empty() {
                "—".to_owned()
            } else {
                pairs
                    .iter()
                    .filter(|(_, v)| **v > 0.0)
                    .map(|(o, v)| format!("{o} {v:.0}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ));
    }
    print!("{out}");
    write_result("compare", &out);
}
