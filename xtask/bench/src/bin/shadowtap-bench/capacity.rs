//! `capacity`: mirror capacity at 100 %. For a small GET and a 16 KiB POST, an open-loop
//! load on foo-v1 steps up in rate while shadowtap mirrors every request to foo-v2; a step
//! passes when every request the client sent arrived at foo-v2 and shadowtap counted no
//! loss. Reported per step: the rate the client reached, what arrived at foo-v2, the
//! agent's counted losses, its CPU time per mirrored request and its peak RSS. Then the
//! agent's CPU time per captured request that is not sampled (a route mirroring 1 in 1 000).
//! `SHADOWTAP_BENCH_AGENT_ARGS` adds arguments to `shadowtap agent` (e.g. `--cpu-priority normal`).

use std::{
    fmt::Write as _,
    io::Write as _,
    net::SocketAddr,
    time::{Duration, Instant},
};

use shadowtap_harness::{
    load::{self, Load, Mode},
    privileged,
    scenario::{foo_route_to_v2, metric_sum, metric_value, shadowtap_binary, Rate, Scenario},
};

use crate::{usage::agent_usage, write_result, PORT};

/// Keep-alive client connections.
const CONNECTIONS: usize = 32;
/// Measured time per step.
const STEP: Duration = Duration::from_secs(4);
/// Longest wait for the agent to finish a step's mirrors.
const SETTLE: Duration = Duration::from_secs(20);

/// The agent's cumulative counts and usage at one moment.
#[derive(Clone, Debug, Default)]
struct Totals {
    /// Every loss series (`series value`), to name the reasons of a lossy step.
    losses: Vec<(String, f64)>,
    decoded: f64,
    replay_drops: f64,
    ring_full: f64,
    arrived: u64,
    cpu_s: f64,
    peak_kib: u64,
}

impl Totals {
    fn read(s: &Scenario, pid: u32) -> Self {
        let m = s.metrics();
        let (cpu_s, peak_kib) = agent_usage(pid);
        let losses = m
            .lines()
            .filter(|l| {
                (l.starts_with("shadowtap_mirror_requests_total{") && !l.contains("\"sent\""))
                    || l.starts_with("shadowtap_kernel_packets_total{outcome=\"ring_full\"}")
            })
            .filter_map(|l| {
                let (series, v) = l.rsplit_once(' ')?;
                Some((series.to_owned(), v.parse().ok()?))
            })
            .collect();
        Totals {
            losses,
            decoded: metric_value(
                &m,
                "shadowtap_reconstruct_requests_total{outcome=\"emitted\"}",
            ),
            replay_drops: metric_sum(
                &m,
                "shadowtap_mirror_requests_total",
                &[],
                &["outcome=\"sent\""],
            ),
            ring_full: metric_sum(
                &m,
                "shadowtap_kernel_packets_total",
                &["outcome=\"ring_full\""],
                &[],
            ),
            arrived: s.v2.count(),
            cpu_s,
            peak_kib,
        }
    }
}

/// The loss series that grew from `before` to `after`, with how much.
fn grown(before: &Totals, after: &Totals) -> String {
    after
        .losses
        .iter()
        .filter_map(|(series, v)| {
            let was = before
                .losses
                .iter()
                .find(|(s, _)| s == series)
                .map_or(0.0, |(_, w)| *w);
            (*v > was).then(|| format!("{series} +{}", v - was))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One rate step.
struct Step {
    /// The agent's loss series that grew during the step.
    reasons: String,
    target: f64,
    reached: f64,
    sent: u64,
    p99: Duration,
    arrived: u64,
    counted_losses: f64,
    cpu_us_per_mirror: f64,
    peak_mib: f64,
}

impl Step {
    /// Every request sent arrived at the mirror, nothing was counted lost, and the client
    /// kept the rate.
    fn zero_loss(&self) -> bool {
        self.sent > 0
            && self.arrived == self.sent
            && self.counted_losses == 0.0
            && self.reached >= 0.97 * self.target
    }
}

fn request_maker(body: usize) -> impl FnMut(u64, &mut Vec<u8>) + Send + 'static {
    let payload = vec![b'x'; body];
    move |seq, out| {
        if body == 0 {
            load::get_request(seq, out);
        } else {
            let _ = write!(
                out,
                "POST /api/v1/uploads/{seq} HTTP/1.1\r\nHost: foo.default.svc.cluster.local\r\n\
                 User-Agent: shadowtap-load/1.0\r\nContent-Type: application/octet-stream\r\n\
                 Content-Length: {body}\r\n\r\n"
            );
            out.extend_from_slice(&payload);
        }
    }
}

/// Runs one step at `rate` and waits (bounded) for the agent to settle its mirrors.
fn step(s: &Scenario, pid: u32, v1: SocketAddr, rate: f64, body: usize) -> Step {
    let before = Totals::read(s, pid);
    let report = load::run(
        &s.topo.client.ns,
        v1,
        Load {
            connections: CONNECTIONS,
            mode: Mode::Open { rate },
            warmup: Duration::ZERO,
            duration: STEP,
            drain: Duration::from_secs(2),
        },
        request_maker(body),
    )
    .expect("load generator");
    let sent = report.sent;
    let deadline = Instant::now() + SETTLE;
    let mut after = Totals::read(s, pid);
    // Settled: every request sent is decoded and either arrived or was counted dropped;
    // or the kernel counted ring losses (those requests are never decoded).
    while Instant::now() < deadline {
        let decoded = (after.decoded - before.decoded) as u64;
        let ended =
            (after.arrived - before.arrived) as f64 + after.replay_drops - before.replay_drops;
        let ring_lost = after.ring_full > before.ring_full;
        if (decoded >= sent || ring_lost) && ended >= decoded as f64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = Totals::read(s, pid);
    }
    let arrived = after.arrived - before.arrived;
    Step {
        reasons: grown(&before, &after),
        target: rate,
        reached: report.sent as f64 / STEP.as_secs_f64(),
        sent,
        p99: report.quantile(0.99),
        arrived,
        counted_losses: (after.replay_drops - before.replay_drops)
            + (after.ring_full - before.ring_full),
        cpu_us_per_mirror: (after.cpu_s - before.cpu_s) * 1e6 / arrived.max(1) as f64,
        peak_mib: after.peak_kib as f64 / 1024.0,
    }
}

/// Steps up through `rates` until a step loses requests, then tries the midpoint between
/// the last passing rate and the failing one.
fn search(
    label: &str,
    body: usize,
    rates: &[f64],
    out: &mut String,
    notes: &mut Vec<String>,
) -> Option<Step> {
    let route = foo_route_to_v2(Rate::Unset);
    let mut s = Scenario::counting(&route);
    start_agent(&mut s);
    let pid = s.agent_pid().expect("agent pid");
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let mut best: Option<Step> = None;
    let mut failed_at = None;
    let row = |st: &Step, out: &mut String, notes: &mut Vec<String>| {
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.0} | {} | {} | {:.0} | {:.2} | {:.1} | {:.1} | {} |",
            st.target,
            st.reached,
            st.sent,
            st.arrived,
            st.counted_losses,
            st.p99.as_secs_f64() * 1e3,
            st.cpu_us_per_mirror,
            st.peak_mib,
            if st.zero_loss() { "yes" } else { "no" },
        );
        eprintln!(
            "capacity: {label} at {:.0}/s: {}",
            st.target,
            st.zero_loss()
        );
        if !st.reasons.is_empty() {
            notes.push(format!("{label} at {:.0}/s: {}", st.target, st.reasons));
        }
    };
    for &rate in rates {
        let st = step(&s, pid, v1, rate, body);
        row(&st, out, notes);
        if !st.zero_loss() {
            failed_at = Some(rate);
            break;
        }
        best = Some(st);
    }
    if let (Some(fail), Some(pass)) = (failed_at, best.as_ref().map(|b| b.target)) {
        let mid = ((pass + fail) / 2.0 / 500.0).round() * 500.0;
        if mid > pass && mid < fail {
            let st = step(&s, pid, v1, mid, body);
            row(&st, out, notes);
            if st.zero_loss() {
                best = Some(st);
            }
        }
    }
    s.stop_agent();
    best
}

/// Runs the benchmark and writes `target/bench-results/capacity.md`.
/// Rates of the captured-but-not-sampled measurement.
const NOT_SAMPLED_RATES: [f64; 2] = [10_000.0, 20_000.0];

/// Starts the agent in `s`, with the arguments of `SHADOWTAP_BENCH_AGENT_ARGS`.
fn start_agent(s: &mut Scenario) {
    let args = crate::agent_args_from_env();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    s.start_agent(&shadowtap_binary(), &args);
}

/// Agent CPU per captured request that is decoded and routed but not sampled: foo-v1's
/// route mirrors 1 in 1 000 requests, so nearly every request is captured, reassembled,
/// decoded, matched and drawn, and then dropped (the few mirrored ones add about a
/// thousandth of a mirror's cost). One table row per rate.
fn not_sampled(out: &mut String) {
    let route = foo_route_to_v2(Rate::Fraction(1, 1000));
    let mut s = Scenario::counting(&route);
    start_agent(&mut s);
    let pid = s.agent_pid().expect("agent pid");
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    for rate in NOT_SAMPLED_RATES {
        let before = Totals::read(&s, pid);
        let report = load::run(
            &s.topo.client.ns,
            v1,
            Load {
                connections: CONNECTIONS,
                mode: Mode::Open { rate },
                warmup: Duration::ZERO,
                duration: STEP,
                drain: Duration::from_secs(2),
            },
            request_maker(0),
        )
        .expect("load generator");
        let deadline = Instant::now() + SETTLE;
        let mut after = Totals::read(&s, pid);
        while Instant::now() < deadline && ((after.decoded - before.decoded) as u64) < report.sent {
            std::thread::sleep(Duration::from_millis(100));
            after = Totals::read(&s, pid);
        }
        let decoded = after.decoded - before.decoded;
        let mirrored = after.arrived - before.arrived;
        let _ = writeln!(
            out,
            "| {rate:.0} | {:.0} | {} | {decoded:.0} | {mirrored} | {:.2} |",
            report.sent as f64 / STEP.as_secs_f64(),
            report.sent,
            (after.cpu_s - before.cpu_s) * 1e6 / decoded.max(1.0),
        );
        eprintln!("capacity: not sampled at {rate:.0}/s done");
    }
    s.stop_agent();
}

pub fn run() {
    assert!(privileged(), "the capacity benchmark needs root");
    let mut steps = String::from(
        "| request | target req/s | client req/s | sent | arrived at foo-v2 | counted losses | client p99 ms | agent CPU µs/mirrored | agent peak RSS MiB | zero loss |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let cases: [(&str, usize, &[f64]); 2] = [
        (
            "200 B GET",
            0,
            &[
                5_000.0, 10_000.0, 15_000.0, 20_000.0, 25_000.0, 30_000.0, 35_000.0, 40_000.0,
            ],
        ),
        (
            "16 KiB POST",
            16 * 1024,
            &[
                2_500.0, 5_000.0, 7_500.0, 10_000.0, 12_500.0, 15_000.0, 17_500.0, 20_000.0,
                25_000.0,
            ],
        ),
    ];
    let mut notes = Vec::new();
    let mut summary = String::from(
        "| request | highest zero-loss rate (req/s, all mirrored) | agent CPU µs per mirrored request | agent peak RSS MiB |\n\
         |---|---:|---:|---:|\n",
    );
    // `SHADOWTAP_CAPACITY_ONLY=get|post|not-sampled` runs one part (a quicker look).
    let only = std::env::var("SHADOWTAP_CAPACITY_ONLY").unwrap_or_default();
    let wanted = |part: &str| only.is_empty() || only == part;
    for ((label, body, rates), part) in cases.into_iter().zip(["get", "post"]) {
        if !wanted(part) {
            continue;
        }
        match search(label, body, rates, &mut steps, &mut notes) {
            Some(best) => {
                let _ = writeln!(
                    summary,
                    "| {label} | {:.0} | {:.1} | {:.1} |",
                    best.target, best.cpu_us_per_mirror, best.peak_mib
                );
            }
            None => {
                let _ = writeln!(summary, "| {label} | none of the rates tried | | |");
            }
        }
    }
    let mut skipped = String::from(
        "| target req/s | client req/s | sent | decoded | mirrored | agent CPU µs per decoded request |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
    if wanted("not-sampled") {
        not_sampled(&mut skipped);
    }
    let text = format!(
        "mirror capacity at 100 % (open loop, {CONNECTIONS} keep-alive connections, {} s per \
         step; load generator, foo-v1, foo-v2 and the agent share the machine's 2 cores)\n\n\
         {summary}\n(target: at most 4 µs per mirrored 200 B GET, replay included)\n\n\
         captured but not sampled (200 B GETs, the route mirrors 1 in 1 000):\n\n{skipped}\n\
         (target: at most 1.5 µs per captured request that is not sampled)\n\n\
         steps:\n\n{steps}\nlosses counted by the agent, by series:\n\n{}\n",
        STEP.as_secs(),
        notes
            .iter()
            .map(|n| format!("- {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    print!("{text}");
    write_result("capacity", &text);
}
