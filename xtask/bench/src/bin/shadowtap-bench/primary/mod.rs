//! `primary`: what the client of a mirrored route sees, side by side in one run, with nginx
//! as foo-v1 and foo-v2 (one worker each; `SHADOWTAP_BENCH_BACKEND=own` for shadowtap's own
//! test server): no agent, shadowtap capturing every flow and mirroring 42 %, shadowtap
//! capturing every flow and mirroring almost nothing (the captured-but-not-sampled cost),
//! and an nginx `mirror` proxy in the path mirroring 42 %.
//!
//! Load as a user would make it: `oha` open loop at fixed rates over 10 connections (latency
//! from each request's scheduled time) at 1/8, 1/4 and 1/2 of the no-agent saturation rate
//! (calibrated with `wrk` first, or `SHADOWTAP_BENCH_RATES=5000,10000`), then `wrk` closed
//! loop (saturation). Interleaved rounds (`SHADOWTAP_BENCH_ROUNDS`, default and minimum 5
//! unless `SHADOWTAP_BENCH_QUICK=1`), medians with their spread, ratios against no agent of
//! the same round, CPU per request of the agent, the proxy and the backends from /proc, and
//! the targets next to the figures. `SHADOWTAP_BENCH_SECS` sets each load's length (5 s);
//! `SHADOWTAP_BENCH_AGENT_ARGS` adds arguments to `shadowtap agent` (e.g. the ring's drain
//! cadence, `--ring-drain-us 1000 --ring-wakeup-bytes 16384`).

mod report;
mod tools;
mod world;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use shadowtap_harness::{
    privileged,
    scenario::{foo_route_to_v2, metric_sum, shadowtap_binary, Rate},
    wait,
};

use crate::write_result;
use tools::Measured;
use world::{Backends, Reading, World, PERCENT};

/// Rounds unless `SHADOWTAP_BENCH_ROUNDS` says otherwise; the issue asks for at least 5.
const ROUNDS: usize = 5;
/// Connections of the open-loop runs (as the measurement).
const OPEN_CONNECTIONS: usize = 10;
/// Connections of the closed-loop runs.
const CLOSED_CONNECTIONS: usize = 32;
/// Fractions of the no-agent saturation rate the fixed rates are set at.
const RATE_FRACTIONS: [f64; 3] = [0.125, 0.25, 0.5];

/// The configurations compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    /// Nothing between client and foo-v1.
    NoAgent,
    /// shadowtap capturing every flow of foo-v1, mirroring 42 %.
    Shadowtap,
    /// shadowtap capturing every flow, mirroring 1 in a million: the cost of a captured,
    /// decoded, matched request that is not sampled.
    NotSampled,
    /// An nginx `mirror` proxy in the path, mirroring 42 %.
    Nginx,
}

impl Config {
    const ALL: [Config; 4] = [
        Config::NoAgent,
        Config::Shadowtap,
        Config::NotSampled,
        Config::Nginx,
    ];

    /// The row's name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Config::NoAgent => "(a) no agent",
            Config::Shadowtap => "(b) shadowtap, capture 100 %, mirror 42 %",
            Config::NotSampled => "(b0) shadowtap, capture 100 %, mirror 1/1 000 000",
            Config::Nginx => "(c) nginx `mirror` proxy, 42 %",
        }
    }

    /// The route the agent reads in this configuration (None: no agent runs).
    fn route(self) -> Option<String> {
        match self {
            Config::Shadowtap => Some(foo_route_to_v2(Rate::Percent(PERCENT))),
            Config::NotSampled => Some(foo_route_to_v2(Rate::Fraction(1, 1_000_000))),
            Config::NoAgent | Config::Nginx => None,
        }
    }
}

/// The run's settings, printed with the figures.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Interleaved rounds.
    pub rounds: usize,
    /// Length of each load.
    pub secs: Duration,
    /// The fixed rates (req/s).
    pub rates: Vec<f64>,
    /// The no-agent saturation the rates were derived from (None: rates given).
    pub calibrated: Option<f64>,
    /// Which backends.
    pub backends: Backends,
    /// Extra arguments of `shadowtap agent` (`SHADOWTAP_BENCH_AGENT_ARGS`, split on spaces).
    pub agent_args: Vec<String>,
}

/// One configuration's measurements in one round.
#[derive(Clone, Debug)]
pub struct Slot {
    /// One `oha` run per fixed rate, in `Settings::rates` order.
    pub fixed: Vec<Measured>,
    /// The `wrk` run.
    pub saturation: Measured,
    /// Requests foo-v1 served during the measurements.
    pub served: u64,
    /// Requests foo-v2 served meanwhile (mirrors), once they settled.
    pub mirrored: u64,
    /// Requests the agent decoded (0 without an agent).
    pub decoded: u64,
    /// CPU seconds of the agent, the proxy and the backends during the measurements.
    pub cpu: Reading,
    /// Losses the agent counted, by reason.
    pub lost: BTreeMap<String, f64>,
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

/// What the agent counted as lost, by reason: mirror requests not sent (by drop reason)
/// and packets the kernel could not put in the ring (`ring_full`).
fn agent_losses(metrics: &str) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> =
        crate::metrics_text::sum_by_outcome(metrics, "shadowtap_mirror_requests_total")
            .into_iter()
            .filter(|(outcome, value)| outcome != "sent" && *value > 0.0)
            .collect();
    let ring_full = metric_sum(
        metrics,
        "shadowtap_kernel_packets_total",
        &["outcome=\"ring_full\""],
        &[],
    );
    if ring_full > 0.0 {
        out.insert("ring_full".to_owned(), ring_full);
    }
    out
}

/// Requests the agent decoded so far.
fn decoded(metrics: &str) -> u64 {
    metric_sum(
        metrics,
        "shadowtap_reconstruct_requests_total",
        &["outcome=\"emitted\""],
        &[],
    ) as u64
}

/// Wait until `observe` has not changed for half a second (mirrors still in flight land).
fn settle<T: PartialEq + Clone>(what: &str, mut observe: impl FnMut() -> T) -> T {
    let mut last = observe();
    let mut since = Instant::now();
    wait::until(what, Duration::from_secs(30), || {
        let now = observe();
        if now != last {
            last = now;
            since = Instant::now();
            return None;
        }
        (since.elapsed() >= Duration::from_millis(500)).then(|| last.clone())
    })
}

fn measure(w: &mut World, config: Config, settings: &Settings) -> Slot {
    if let Some(route) = config.route() {
        w.s.write_routes("route.yaml", &route);
        let args: Vec<&str> = settings.agent_args.iter().map(String::as_str).collect();
        w.s.start_agent(&shadowtap_binary(), &args);
    }
    let target: SocketAddr = if config == Config::Nginx {
        w.proxy_addr
    } else {
        w.v1()
    };
    let ns = w.s.topo.client.ns.name().to_owned();
    // Warm-up (connections, caches, the agent's first flows), not measured.
    tools::oha(
        &ns,
        target,
        settings.rates[0],
        OPEN_CONNECTIONS,
        Duration::from_secs(1),
    )
    .unwrap_or_else(|e| panic!("warm-up: {e}"));
    let before = w.read();
    let metrics_before = w.s.metrics();
    let fixed = settings
        .rates
        .iter()
        .map(|rate| {
            tools::oha(&ns, target, *rate, OPEN_CONNECTIONS, settings.secs)
                .unwrap_or_else(|e| panic!("{}: {e}", config.label()))
        })
        .collect();
    let saturation = tools::wrk(&ns, target, CLOSED_CONNECTIONS, settings.secs)
        .unwrap_or_else(|e| panic!("{}: {e}", config.label()));
    let lost = if config.route().is_some() {
        settle("shadowtap's mirroring to settle", || {
            (
                w.read().v2,
                agent_losses(&w.s.metrics()).values().sum::<f64>(),
            )
        });
        agent_losses(&w.s.metrics())
    } else {
        settle("the mirror backend to settle", || w.read().v2);
        BTreeMap::new()
    };
    let after = w.read();
    let metrics_after = w.s.metrics();
    if std::env::var_os("SHADOWTAP_BENCH_METRICS").is_some() {
        eprintln!("{metrics_after}");
    }
    let baseline_lost = agent_losses(&metrics_before);
    let lost = lost
        .into_iter()
        .map(|(k, v)| {
            let base = baseline_lost.get(&k).copied().unwrap_or(0.0);
            (k, v - base)
        })
        .filter(|(_, v)| *v > 0.0)
        .collect();
    if config.route().is_some() {
        w.s.stop_agent();
    }
    Slot {
        fixed,
        saturation,
        served: after.v1 - before.v1,
        mirrored: after.v2 - before.v2,
        decoded: decoded(&metrics_after).saturating_sub(decoded(&metrics_before)),
        cpu: Reading {
            v1: 0,
            v2: 0,
            agent_cpu: after.agent_cpu - before.agent_cpu,
            proxy_cpu: after.proxy_cpu - before.proxy_cpu,
            backends_cpu: after.backends_cpu - before.backends_cpu,
        },
        lost,
    }
}

/// The fixed rates: from `SHADOWTAP_BENCH_RATES`, else fractions of the no-agent saturation
/// measured now with `wrk` (median of three short runs).
fn rates(w: &World, secs: Duration) -> (Vec<f64>, Option<f64>) {
    if let Ok(list) = std::env::var("SHADOWTAP_BENCH_RATES") {
        let rates: Vec<f64> = list
            .split(',')
            .map(|r| {
                r.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("SHADOWTAP_BENCH_RATES: {r:?} is not a number"))
            })
            .collect();
        assert!(!rates.is_empty(), "SHADOWTAP_BENCH_RATES is empty");
        return (rates, None);
    }
    let ns = w.s.topo.client.ns.name().to_owned();
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            tools::wrk(
                &ns,
                w.v1(),
                CLOSED_CONNECTIONS,
                secs.min(Duration::from_secs(3)),
            )
            .unwrap_or_else(|e| panic!("calibration: {e}"))
            .rps
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let saturation = runs[1];
    let rates = RATE_FRACTIONS
        .iter()
        .map(|f| ((saturation * f / 100.0).round() * 100.0).max(100.0))
        .collect();
    (rates, Some(saturation))
}

/// Run the benchmark and write `primary.md`.
pub fn run() {
    assert!(privileged(), "the primary-path benchmark needs root");
    let started = Instant::now();
    let quick = std::env::var_os("SHADOWTAP_BENCH_QUICK").is_some();
    let rounds = env_usize("SHADOWTAP_BENCH_ROUNDS").unwrap_or(ROUNDS);
    assert!(
        rounds >= ROUNDS || quick,
        "SHADOWTAP_BENCH_ROUNDS={rounds}: medians need at least {ROUNDS} rounds \
         (SHADOWTAP_BENCH_QUICK=1 allows fewer, for trying the command out)"
    );
    let secs = Duration::from_secs(env_usize("SHADOWTAP_BENCH_SECS").unwrap_or(5).max(1) as u64);
    let backends = Backends::from_env();
    let mut w = World::new(&foo_route_to_v2(Rate::Percent(PERCENT)), backends);
    let (rates, calibrated) = rates(&w, secs);
    let settings = Settings {
        rounds,
        secs,
        rates,
        calibrated,
        backends,
        agent_args: crate::agent_args_from_env(),
    };
    eprintln!(
        "primary: rates {:?} req/s, {rounds} rounds of {} configurations",
        settings.rates,
        Config::ALL.len()
    );
    let mut results: Vec<(Config, Vec<Slot>)> =
        Config::ALL.iter().map(|c| (*c, Vec::new())).collect();
    for round in 1..=rounds {
        for (config, slots) in results.iter_mut() {
            eprintln!("primary: round {round}/{rounds}: {}", config.label());
            let slot = measure(&mut w, *config, &settings);
            eprintln!("  {}", report::one_line(&slot, &settings));
            slots.push(slot);
        }
    }
    let errors = w.proxy_errors();
    if !errors.trim().is_empty() {
        eprintln!("nginx proxy error log:\n{errors}");
    }
    drop(w);
    let text = report::render(&results, &settings, started.elapsed());
    print!("{text}");
    write_result("primary", &text);
}
