//! `cargo xtask demo`: shadowtap's main job on an embedded example, end to end, on this
//! machine — no cluster needed.
//!
//! It builds a node with network namespaces (client, node, two foo-v1 pods, foo-v2 and foo-v3
//! pods), writes the Gateway API v1.3 announcement's HTTPRoute (42 % of foo-v1's requests
//! mirrored to foo-v2:8080) with its Services, EndpointSlices and Pods, starts
//! `shadowtap agent --routes` in the node, drives real HTTP traffic, and reports.

use std::{
    io::Write,
    net::SocketAddr,
    process::{Command, ExitCode},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use shadowtap_harness::{
    http_server::quantile,
    load::{self, Load, Mode},
    privileged,
    scenario::{foo_route_to_v2, shadowtap_binary, Rate, Scenario, METRICS, NODE, PORT},
};

const CONNECTIONS: usize = 10;
/// Requests per second of the paced traffic, spread evenly over the connections.
const RATE: f64 = 1000.0;
const PER_ROUND: usize = RATE as usize;
const ROUNDS: usize = 10;
const BASELINE_ROUNDS: usize = 3;
const PERCENT: u32 = 42;
/// One round: a second at RATE, every answer awaited (at most 10 s late).
const PACED: Load = Load {
    connections: CONNECTIONS,
    mode: Mode::Open { rate: RATE },
    warmup: Duration::ZERO,
    duration: Duration::from_secs(1),
    drain: Duration::from_secs(10),
};

/// Request `seq` of a round: an order lookup with a unique path.
fn demo_request(seq: u64, out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "GET /orders/{}/{seq}?expand=items HTTP/1.1\r\nHost: foo.example.com\r\nUser-Agent: shadowtap-demo\r\nAccept: application/json\r\n\r\n",
        seq % CONNECTIONS as u64
    );
}

fn main() -> ExitCode {
    if !privileged() {
        eprintln!("the demo creates network namespaces and loads eBPF programs: run it as root");
        return ExitCode::FAILURE;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        eprintln!("warning: Ctrl-C handler not installed: {e}");
    }
    let route = foo_route_to_v2(Rate::Percent(PERCENT));
    println!("shadowtap demo: mirror {PERCENT} % of foo-v1's requests to foo-v2:{PORT}, no sidecar, no proxy\n");
    let mut s = Scenario::new(&route);
    println!(
        "topology: namespaces {} (node), client, 2 x foo-v1, foo-v2, foo-v3",
        s.topo.node.name()
    );
    println!("routes:   {}\n\n{route}", s.routes.display());
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    // One second of traffic at RATE requests/s, open loop: requests are sent on a fixed
    // schedule whatever the answers do, and each latency counts from the request's scheduled
    // time. (Sending each round as a burst of back-to-back requests and timing each from its
    // own send measured queueing at saturation instead, and a late answer delayed the next
    // requests without being charged for them.)
    let paced_round = |s: &Scenario| -> Vec<Duration> {
        let report =
            load::run(&s.topo.client.ns, v1, PACED, demo_request).expect("paced traffic to foo-v1");
        assert!(
            report.failed + report.unfinished == 0,
            "foo-v1 did not answer every paced request: {report:?}"
        );
        report.latencies
    };
    println!(
        "1/3 baseline: {BASELINE_ROUNDS} s at {RATE:.0} requests/s over {CONNECTIONS} connections without shadowtap"
    );
    let mut without = Vec::new();
    for _ in 0..BASELINE_ROUNDS {
        without.extend(paced_round(&s));
    }

    println!(
        "2/3 starting `shadowtap agent --routes {}` in the node",
        s.routes.display()
    );
    let binary = shadowtap_binary();
    s.start_agent(&binary, &[]);
    let plan = Command::new(&binary)
        .args(["plan", "--node", NODE, "--routes"])
        .arg(&s.routes)
        .output();
    if let Ok(out) = plan {
        println!("\n{}", String::from_utf8_lossy(&out.stdout));
    }

    println!(
        "3/3 traffic with shadowtap capturing ({ROUNDS} s at {RATE:.0} requests/s over {CONNECTIONS} connections)"
    );
    let started = Instant::now();
    let mut with = Vec::new();
    for round in 1..=ROUNDS {
        if stop.load(Ordering::SeqCst) {
            println!("interrupted; cleaning up");
            break;
        }
        with.extend(paced_round(&s));
        let sent = (round * PER_ROUND) as u64;
        let decoded = s.metric("shadowtap_reconstruct_requests_total{outcome=\"emitted\"}");
        let mirrored = s.v2.count();
        println!(
            "  {:>5.1}s  sent {sent:>6}  captured {:>6}  mirrored {mirrored:>6}  live fraction {:>5.1} %",
            started.elapsed().as_secs_f64(),
            decoded as u64,
            100.0 * mirrored as f64 / sent as f64
        );
    }
    let sent = with.len() as u64;
    // Let the agent's counters catch up and the last mirrors land (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut submitted;
    loop {
        let decoded = s.metric("shadowtap_reconstruct_requests_total{outcome=\"emitted\"}") as u64;
        submitted = s.metric("shadowtap_mirror_draws_total{outcome=\"submitted\"}") as u64;
        if (decoded >= sent && s.v2.count() >= submitted) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mirrored = s.v2.count();
    let p = f64::from(PERCENT) / 100.0;
    let sigma = (sent as f64 * p * (1.0 - p)).sqrt();
    let expected = sent as f64 * p;
    let within = (mirrored as f64 - expected).abs() <= 3.0 * sigma;
    println!("\nsummary");
    println!("  requests sent                 {sent}");
    println!("  requests mirrored to foo-v2   {mirrored}  (submitted {submitted})");
    println!(
        "  observed fraction             {:.2} %  (configured {PERCENT} %, ±3σ band {:.2}–{:.2} %: {})",
        100.0 * mirrored as f64 / sent.max(1) as f64,
        100.0 * (expected - 3.0 * sigma) / sent.max(1) as f64,
        100.0 * (expected + 3.0 * sigma) / sent.max(1) as f64,
        if within { "inside" } else { "OUTSIDE" }
    );
    println!(
        "  client latency p50 / p99      without {:?} / {:?}   with {:?} / {:?}   ({RATE:.0} requests/s, open loop, from each request's scheduled time)",
        quantile(&mut without, 0.5),
        quantile(&mut without, 0.99),
        quantile(&mut with, 0.5),
        quantile(&mut with, 0.99)
    );
    let status = s.topo.node.exec_unchecked(&[
        binary.to_str().unwrap_or("shadowtap"),
        "status",
        "--metrics-addr",
        METRICS,
    ]);
    println!(
        "\nshadowtap status (on the node)\n{}",
        String::from_utf8_lossy(&status.stdout)
    );
    println!("\nwhere to look");
    println!(
        "  metrics  ip netns exec {} curl -s http://{METRICS}/metrics",
        s.topo.node.name()
    );
    println!(
        "  status   ip netns exec {} {} status --metrics-addr {METRICS} --watch",
        s.topo.node.name(),
        binary.display()
    );
    println!(
        "  plan     {} plan --node {NODE} --routes <dir>   (objects as in the YAML above)",
        binary.display()
    );
    let code = s.stop_agent();
    println!("\nagent stopped (exit {code:?}); namespaces and files removed");
    if within {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
