//! `h2-capacity`: mirror capacity for 200 B gRPC unary calls at 100 %. `h2load` sends
//! gRPC-framed unary calls (POST `/shadowtap.test.Echo/Unary`, `content-type:
//! application/grpc`, `te: trailers`, a 5-byte prefix and a 200 B message) to foo-grpc's pod
//! at a fixed rate over 4 connections with up to 32 streams each; an HTTPRoute mirrors every
//! call to foo-grpc-v2. Both backends are gRPC-shaped `h2` servers that count the calls
//! they read ([`crate::h2_server`]). The rate steps up until a step loses a call.
//!
//! A step passes with zero loss when every call foo-grpc read was decoded by the agent and
//! arrived at foo-grpc-v2, nothing was counted lost, and the client kept the rate. The
//! reference is what the primary read, not what h2load completed: calls still in flight
//! when h2load stops at the end of a step reached the primary (and are mirrored) without
//! being counted done. "Silent loss" is what neither arrived nor was counted by any of the
//! agent's loss series (kernel ring full, HTTP/2 streams dropped or connections stopped, mirrors
//! dropped): it must be 0 at every step, passing or not. Reported per step: the rate
//! reached, calls sent, decoded and arrived, counted and silent losses, and the agent's CPU
//! time per mirrored call. The machine's 2 cores are shared by h2load, both backends, the
//! agent (and, here, other builds): figures are noisy.

use std::{
    fmt::Write as _,
    net::SocketAddr,
    time::{Duration, Instant},
};

use shadowtap_harness::{
    nghttp2::require_tools,
    privileged,
    scenario::{
        metric_sum, route_yaml_for, service_yaml_port, shadowtap_binary, Mirror, Rate, Scenario,
        NODE,
    },
    topology::Netns,
};

use crate::{h2_server::CountingGrpc, usage::agent_usage, write_result};

/// Where both gRPC backends listen.
const GRPC_PORT: u16 = 50051;
/// The marker header the agent adds.
const MARKER: &str = "x-shadowtap-mirrored";
/// h2load connections, and streams in flight on each.
const CONNECTIONS: u32 = 4;
const STREAMS: u32 = 32;
/// Measured time per step.
const STEP: Duration = Duration::from_secs(4);
/// Longest wait for the agent to finish a step's mirrors.
const SETTLE: Duration = Duration::from_secs(20);
/// Call rates tried, in order.
const RATES: [f64; 7] = [
    5_000.0, 10_000.0, 15_000.0, 20_000.0, 25_000.0, 30_000.0, 40_000.0,
];

/// The agent's and the backends' cumulative counts at one moment.
#[derive(Clone, Debug, Default)]
struct Totals {
    decoded: f64,
    /// HTTP/2 streams dropped and connections stopped (midstream included).
    h2_losses: f64,
    ring_full: f64,
    mirror_drops: f64,
    primary: u64,
    arrived: u64,
    cpu_s: f64,
}

impl Totals {
    fn read(s: &Scenario, pid: u32, v1: &CountingGrpc, v2: &CountingGrpc) -> Self {
        let m = s.metrics();
        let h2 = |with: &str| metric_sum(&m, "shadowtap_h2_events_total", &[with], &[]);
        Totals {
            decoded: h2("event=\"requests_emitted\""),
            h2_losses: h2("event=\"dropped_")
                + h2("event=\"stopped_")
                + h2("event=\"h2_midstream\""),
            ring_full: metric_sum(
                &m,
                "shadowtap_kernel_packets_total",
                &["outcome=\"ring_full\""],
                &[],
            ),
            mirror_drops: metric_sum(
                &m,
                "shadowtap_mirror_requests_total",
                &[],
                &["outcome=\"sent\""],
            ),
            primary: v1.calls(),
            arrived: v2.marked(),
            cpu_s: agent_usage(pid).0,
        }
    }
}

/// One rate step.
struct Step {
    target: f64,
    reached: f64,
    sent: u64,
    primary: u64,
    decoded: u64,
    arrived: u64,
    counted: f64,
    silent: i64,
    cpu_us: f64,
}

impl Step {
    fn zero_loss(&self) -> bool {
        self.primary > 0
            && self.decoded == self.primary
            && self.arrived == self.primary
            && self.counted == 0.0
            && self.reached >= 0.97 * self.target
    }
}

/// `h2load` at `rate` calls/s for `STEP` with `body` as each call's DATA; (calls done,
/// seconds measured).
fn h2load(ns: &Netns, url: &str, body: &std::path::Path, rate: f64) -> (u64, f64) {
    let per_client = (rate / f64::from(CONNECTIONS)).round().max(1.0) as u64;
    let out = ns.exec_unchecked(&[
        "h2load",
        "-c",
        &CONNECTIONS.to_string(),
        "-m",
        &STREAMS.to_string(),
        "--rps",
        &per_client.to_string(),
        "-D",
        &STEP.as_secs().to_string(),
        "-d",
        &body.to_string_lossy(),
        "-H",
        "content-type: application/grpc",
        "-H",
        "te: trailers",
        url,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no requests line in h2load output:\n{text}"));
    let done = line
        .split(", ")
        .find_map(|p| p.strip_suffix(" done"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no done count in {line:?}"));
    (done, STEP.as_secs_f64())
}

fn step(
    s: &Scenario,
    pid: u32,
    backends: (&CountingGrpc, &CountingGrpc),
    url: &str,
    body: &std::path::Path,
    rate: f64,
) -> Step {
    let (v1, v2) = backends;
    let before = Totals::read(s, pid, v1, v2);
    let (sent, secs) = h2load(&s.topo.client.ns, url, body, rate);
    let deadline = Instant::now() + SETTLE;
    let mut after = Totals::read(s, pid, v1, v2);
    // Settled: every call the primary read decoded (or an HTTP/2 or ring loss counted) and every decoded
    // call arrived at foo-grpc-v2 or was counted dropped.
    while Instant::now() < deadline {
        let decoded = (after.decoded - before.decoded) as u64;
        let primary = after.primary - before.primary;
        let ended =
            (after.arrived - before.arrived) as f64 + after.mirror_drops - before.mirror_drops;
        let lost = after.ring_full > before.ring_full || after.h2_losses > before.h2_losses;
        // The primary's count can lag the agent's at high rates: wait for it too.
        if (decoded >= primary.max(sent) || lost) && ended >= decoded as f64 && primary >= decoded {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = Totals::read(s, pid, v1, v2);
    }
    let arrived = after.arrived - before.arrived;
    let counted = (after.ring_full - before.ring_full)
        + (after.h2_losses - before.h2_losses)
        + (after.mirror_drops - before.mirror_drops);
    let primary = after.primary - before.primary;
    Step {
        target: rate,
        reached: sent as f64 / secs,
        sent,
        primary,
        decoded: (after.decoded - before.decoded) as u64,
        arrived,
        counted,
        silent: primary as i64 - arrived as i64 - counted as i64,
        cpu_us: (after.cpu_s - before.cpu_s) * 1e6 / arrived.max(1) as f64,
    }
}

/// Runs the benchmark and writes `target/bench-results/h2-capacity.md`.
pub fn run() {
    assert!(privileged(), "the h2-capacity benchmark needs root");
    if !require_tools("h2-capacity", &["h2load"]) {
        return;
    }
    let route = route_yaml_for(
        "foo-grpc-route",
        "foo-grpc",
        true,
        Some("/shadowtap.test.Echo/"),
        &[Mirror {
            service: "foo-grpc-v2",
            rate: Rate::Unset,
        }],
    );
    let mut s = Scenario::counting(&route);
    let pod = s.topo.pod.ip4;
    let v2_ip = s.topo.extra[1].ip4;
    s.write_routes(
        "grpc.yaml",
        &[
            service_yaml_port("foo-grpc", &[("foo-v1-a", pod.into())], NODE, GRPC_PORT),
            service_yaml_port(
                "foo-grpc-v2",
                &[("foo-v2-a", v2_ip.into())],
                "node-b",
                GRPC_PORT,
            ),
        ]
        .join("---\n"),
    );
    let v1 = CountingGrpc::start(
        &s.topo.pod.ns,
        SocketAddr::new(pod.into(), GRPC_PORT),
        MARKER,
    );
    let v2 = CountingGrpc::start(
        &s.topo.extra[1].ns,
        SocketAddr::new(v2_ip.into(), GRPC_PORT),
        MARKER,
    );
    s.start_agent(&shadowtap_binary(), &[]);
    let pid = s.agent_pid().expect("agent pid");
    let body = std::env::temp_dir().join(format!("shadowtap-h2cap-{}.bin", s.topo.tag()));
    let mut message = vec![0u8];
    message.extend_from_slice(&200u32.to_be_bytes());
    message.extend(std::iter::repeat_n(b'x', 200));
    std::fs::write(&body, &message).expect("write the call body");
    let url = format!("http://{pod}:{GRPC_PORT}/shadowtap.test.Echo/Unary");

    let mut rows = String::new();
    let mut best: Option<Step> = None;
    for rate in RATES {
        let st = step(&s, pid, (&v1, &v2), &url, &body, rate);
        let _ = writeln!(
            rows,
            "| {:.0} | {:.0} | {} | {} | {} | {} | {:.0} | {} | {:.1} | {} |",
            st.target,
            st.reached,
            st.sent,
            st.primary,
            st.decoded,
            st.arrived,
            st.counted,
            st.silent,
            st.cpu_us,
            if st.zero_loss() { "yes" } else { "no" },
        );
        eprintln!(
            "h2-capacity: {:.0}/s: reached {:.0}, sent {}, served {}, arrived {}, counted {}, silent {}",
            st.target, st.reached, st.sent, st.primary, st.arrived, st.counted, st.silent
        );
        if !st.zero_loss() {
            break;
        }
        best = Some(st);
    }
    s.stop_agent();
    let _ = std::fs::remove_file(&body);
    let summary = match &best {
        Some(b) => format!(
            "highest zero-loss rate: {:.0} mirrored calls/s, agent CPU {:.1} µs per mirrored call",
            b.target, b.cpu_us
        ),
        None => "no rate tried passed with zero loss".to_owned(),
    };
    let text = format!(
        "mirror capacity for 200 B gRPC unary calls at 100 % (h2load, {CONNECTIONS} \
         connections × {STREAMS} streams, {} s per step; h2load, both backends and the agent \
         share the machine's 2 cores with whatever else runs: noisy)\n\n{summary}\n\n\
         | target calls/s | client calls/s | sent | served by foo-grpc | decoded | arrived at \
         foo-grpc-v2 | counted losses | silent losses | agent CPU µs/mirrored | zero loss |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n{rows}",
        STEP.as_secs()
    );
    print!("{text}");
    write_result("h2-capacity", &text);
}
