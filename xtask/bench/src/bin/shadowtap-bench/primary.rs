//! `primary`: what the client of a mirrored route sees, side by side in one run: no agent,
//! shadowtap (capturing every flow, or pre-sampling flows in the kernel) mirroring 42 %, and
//! an nginx `mirror` proxy in the path mirroring 42 %. Fixed-rate (open loop) latency and
//! saturating (closed loop) throughput, in interleaved rounds; medians across rounds, ratios
//! against no agent. `SHADOWTAP_BENCH_ROUNDS` changes the number of rounds (5);
//! `SHADOWTAP_BENCH_METRICS` prints the agent's metrics after each of its measurements.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use shadowtap_harness::{
    load::{self, get_request, Load, Mode, Report},
    nginx::{MirrorProxy, Nginx},
    privileged,
    scenario::{foo_route_to_v2, metric_sum, shadowtap_binary, Rate, Scenario},
    wait,
};

use crate::{write_result, PORT};

/// Rounds of (a, b, b2, c), unless `SHADOWTAP_BENCH_ROUNDS` says otherwise.
const ROUNDS: usize = 5;

fn rounds() -> usize {
    std::env::var("SHADOWTAP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(ROUNDS)
}
/// Mirrored percentage for shadowtap and nginx alike.
const PERCENT: u32 = 42;
/// The fixed rate of the open-loop measurement.
const OPEN_RATE: f64 = 2000.0;
/// Where nginx listens (in the node namespace, on the client's gateway address).
const PROXY_PORT: u16 = 8081;

const OPEN: Load = Load {
    connections: 16,
    mode: Mode::Open { rate: OPEN_RATE },
    warmup: Duration::from_millis(500),
    duration: Duration::from_secs(6),
    drain: Duration::from_secs(20),
};

const CLOSED: Load = Load {
    connections: 32,
    mode: Mode::Closed,
    warmup: Duration::from_millis(500),
    duration: Duration::from_secs(4),
    drain: Duration::from_secs(10),
};

/// The configurations compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Config {
    NoAgent,
    Shadowtap,
    FlowSampling,
    Nginx,
}

impl Config {
    const ALL: [Config; 4] = [
        Config::NoAgent,
        Config::Shadowtap,
        Config::FlowSampling,
        Config::Nginx,
    ];

    fn label(self) -> &'static str {
        match self {
            Config::NoAgent => "(a) no agent",
            Config::Shadowtap => "(b) shadowtap, capture 100 %, mirror 42 %",
            Config::FlowSampling => "(b2) shadowtap --flow-sampling 42 %",
            Config::Nginx => "(c) nginx `mirror` proxy, 42 %",
        }
    }

    fn agent_args(self) -> Option<&'static [&'static str]> {
        match self {
            Config::Shadowtap => Some(&[]),
            Config::FlowSampling => Some(&["--flow-sampling"]),
            Config::NoAgent | Config::Nginx => None,
        }
    }
}

/// One configuration's measurements in one round.
struct Slot {
    open: Report,
    closed: Report,
    /// Requests the client sent (warm-ups included).
    sent: u64,
    /// Requests foo-v2 received meanwhile.
    mirrored: u64,
    /// Losses the agent counted, by reason.
    lost: BTreeMap<String, f64>,
}

/// What the agent counted as lost, by reason: mirror requests not sent (by drop reason)
/// and packets the kernel could not put in the ring (`ring_full`).
fn agent_losses(metrics: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        let Some(labels) = line.strip_prefix("shadowtap_mirror_requests_total{") else {
            continue;
        };
        let outcome = labels
            .split_once("outcome=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(o, _)| o);
        let value = line
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse::<f64>().ok());
        if let (Some(outcome), Some(value)) = (outcome, value) {
            if outcome != "sent" && value > 0.0 {
                *out.entry(outcome.to_owned()).or_default() += value;
            }
        }
    }
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

/// All losses, whatever the reason.
fn total(losses: &BTreeMap<String, f64>) -> f64 {
    losses.values().sum()
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

fn measure(s: &mut Scenario, config: Config, proxy: SocketAddr) -> Slot {
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let t = Instant::now();
    if let Some(args) = config.agent_args() {
        s.start_agent(&shadowtap_binary(), args);
    }
    let ready = t.elapsed();
    let target = if config == Config::Nginx { proxy } else { v1 };
    let v2_before = s.v2.count();
    let open = load::run(&s.topo.client.ns, target, OPEN, get_request).expect("open-loop load");
    let closed =
        load::run(&s.topo.client.ns, target, CLOSED, get_request).expect("closed-loop load");
    let sent = open.sent + closed.sent;
    let loaded = t.elapsed();
    let lost = if config.agent_args().is_some() {
        settle("shadowtap's mirroring to settle", || {
            let m = s.metrics();
            (s.v2.count(), total(&agent_losses(&m)))
        });
        let metrics = s.metrics();
        if std::env::var_os("SHADOWTAP_BENCH_METRICS").is_some() {
            eprintln!("{metrics}");
        }
        let lost = agent_losses(&metrics);
        s.stop_agent();
        lost
    } else {
        settle("the mirror backend to settle", || s.v2.count());
        BTreeMap::new()
    };
    let mirrored = s.v2.count() - v2_before;
    if config.agent_args().is_some() {
        eprintln!("  agent ready after {ready:.1?}");
    }
    eprintln!(
        "  load done after {loaded:.1?}, mirroring settled after {:.1?}",
        t.elapsed()
    );
    // The servers keep every request; forget them between measurements.
    for server in s.v1.iter().chain([&s.v2, &s.v3]) {
        server.log.lock().expect("lock").clear();
        server.received.lock().expect("lock").clear();
    }
    Slot {
        open,
        closed,
        sent,
        mirrored,
        lost,
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

fn fmt_us(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

/// `value (ratio×)`, the ratio against the no-agent median.
fn with_ratio(text: String, value: f64, base: f64, is_base: bool) -> String {
    if is_base || base <= 0.0 {
        text
    } else {
        format!("{text} ({:.2}×)", value / base)
    }
}

/// The medians across rounds of one configuration: open p50, p90, p99 (µs), closed req/s,
/// p50, p99 (µs).
fn medians(slots: &[Slot]) -> [f64; 6] {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let m = |f: &dyn Fn(&Slot) -> f64| median(slots.iter().map(f).collect());
    [
        m(&|s| us(s.open.quantile(0.50))),
        m(&|s| us(s.open.quantile(0.90))),
        m(&|s| us(s.open.quantile(0.99))),
        m(&|s| s.closed.throughput()),
        m(&|s| us(s.closed.quantile(0.50))),
        m(&|s| us(s.closed.quantile(0.99))),
    ]
}

fn table(results: &[(Config, Vec<Slot>)], elapsed: Duration) -> String {
    let base = medians(&results[0].1);
    let mut out = format!(
        "primary path: the client's view of foo-v1 (HTTP/1.1 GET, ~200 B, keep-alive) with each configuration in the path; \
         {} interleaved rounds (a, b, b2, c, ...), median per configuration across rounds, ratios against (a) of the same run; \
         the load generator (one thread), both servers, the agent or proxy and the mirror backend share the machine's {} cores; run took {:.0} s\n\n\
         * fixed rate: open loop, {OPEN_RATE:.0} req/s over {} connections for {:.0} s, latency from each request's scheduled send time (no coordinated omission)\n\
         * saturation: closed loop, {} connections, next request as soon as the answer arrives, {:.0} s\n\
         * mirrored: requests foo-v2 received / requests the client sent, over all rounds; lost: losses shadowtap counted (mirror requests not sent, by any reason, + ring full)\n\
         * nginx: `mirror` to an internal location, `split_clients` on `$request_id`, keep-alive upstreams, worker_processes auto; its mirror subrequests are header-only, so it closes each mirror connection whose response has a body (one new connection to foo-v2 per mirrored request; tcp_tw_reuse=1 in its namespace)\n\n\
         | configuration | fixed p50 | fixed p90 | fixed p99 | saturation req/s | saturation p50 | saturation p99 | mirrored | lost (counted) | client errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        results[0].1.len(),
        std::thread::available_parallelism().map_or(0, usize::from),
        elapsed.as_secs_f64(),
        OPEN.connections,
        OPEN.duration.as_secs_f64(),
        CLOSED.connections,
        CLOSED.duration.as_secs_f64(),
    );
    for (config, slots) in results {
        let m = medians(slots);
        let is_base = *config == Config::NoAgent;
        let cell = |i: usize| with_ratio(fmt_us(m[i]), m[i], base[i], is_base);
        let sent: u64 = slots.iter().map(|s| s.sent).sum();
        let mirrored: u64 = slots.iter().map(|s| s.mirrored).sum();
        let mut lost = BTreeMap::<String, f64>::new();
        for (reason, n) in slots.iter().flat_map(|s| &s.lost) {
            *lost.entry(reason.clone()).or_default() += n;
        }
        let errors: u64 = slots
            .iter()
            .flat_map(|s| [&s.open, &s.closed])
            .map(|r| r.failed + r.unfinished + r.non_2xx)
            .sum();
        let (mirrored, lost) = match config {
            Config::NoAgent => (format!("— ({mirrored})"), "—".to_owned()),
            Config::Nginx => (
                format!(
                    "{:.1} % ({mirrored} / {sent})",
                    100.0 * mirrored as f64 / sent as f64
                ),
                "—".to_owned(),
            ),
            _ => (
                format!(
                    "{:.1} % ({mirrored} / {sent})",
                    100.0 * mirrored as f64 / sent as f64
                ),
                if lost.is_empty() {
                    "0".to_owned()
                } else {
                    let reasons: Vec<String> =
                        lost.iter().map(|(r, n)| format!("{r} {n:.0}")).collect();
                    format!("{:.0} ({})", total(&lost), reasons.join(", "))
                },
            ),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {mirrored} | {lost} | {errors} |\n",
            config.label(),
            cell(0),
            cell(1),
            cell(2),
            with_ratio(format!("{:.0}", m[3]), m[3], base[3], is_base),
            cell(4),
            cell(5),
        ));
    }
    out
}

/// The client leg's gateway: the node's address on the client's link.
fn client_gateway(s: &Scenario) -> IpAddr {
    let [a, b, c, _] = s.topo.client.ip4.octets();
    IpAddr::V4(Ipv4Addr::new(a, b, c, 1))
}

/// Run the benchmark and write `primary.md`.
pub fn run() {
    assert!(privileged(), "the primary-path benchmark needs root");
    let started = Instant::now();
    let route = foo_route_to_v2(Rate::Percent(PERCENT));
    let mut s = Scenario::new(&route);
    // nginx's mirror subrequests are header-only: it closes every mirror connection whose
    // response has a body, so each mirrored request opens a new connection to foo-v2. Let the
    // node namespace reuse TIME_WAIT ports, or it runs out of them within a round.
    s.topo
        .node
        .exec(&["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"]);
    let proxy = MirrorProxy {
        listen: SocketAddr::new(client_gateway(&s), PROXY_PORT),
        primary: SocketAddr::new(s.v1_ip(false), PORT),
        mirror: SocketAddr::new(s.topo.extra[1].ip4.into(), PORT),
        percent: PERCENT,
        workers: 0,
    };
    let nginx = Nginx::start(&s.topo.node, proxy, &s.topo.client.ns);
    let mut results: Vec<(Config, Vec<Slot>)> =
        Config::ALL.iter().map(|c| (*c, Vec::new())).collect();
    let rounds = rounds();
    for round in 1..=rounds {
        for (config, slots) in results.iter_mut() {
            eprintln!("primary: round {round}/{rounds}: {}", config.label());
            let slot = measure(&mut s, *config, proxy.listen);
            eprintln!(
                "  fixed p50 {:?} p99 {:?}, saturation {:.0} req/s, mirrored {} / {}, lost {:?}",
                slot.open.quantile(0.5),
                slot.open.quantile(0.99),
                slot.closed.throughput(),
                slot.mirrored,
                slot.sent,
                slot.lost
            );
            slots.push(slot);
        }
    }
    let errors = nginx.error_log();
    if !errors.trim().is_empty() {
        eprintln!("nginx error log:\n{errors}");
    }
    drop(nginx);
    let text = table(&results, started.elapsed());
    print!("{text}");
    write_result("primary", &text);
}
