//! shadowtap's benchmarks that need the real kernel (run by `cargo xtask bench ...`).
//!
//! `kernel`: per-packet run time of the no-op TC program, of the capture program on traffic
//! that misses the endpoint map, and of the capture program on captured traffic — measured
//! side by side in one run over the same kind of traffic, in interleaved rounds.

use std::{
    net::SocketAddr,
    process::ExitCode,
    time::{Duration, Instant},
};

use aya::programs::{SchedClassifier, TestRun, TestRunOptions};
use shadowtap_agent::datapath::{
    AttachPoint, Datapath, Hook, LoadConfig, MapHandles, NetnsPath, ProgramKind, RingReader,
};
use shadowtap_common::{Counter, EndpointValue, SAMPLE_ALL};
use shadowtap_tests::{
    http_server::{concurrent_lockstep, lockstep, RecordingServer},
    packets::{self, Tcp},
    privileged,
    scenario::{metric_sum, metric_value, route_yaml, shadowtap_binary, Mirror, Rate, Scenario},
    topology::{Leg, Topology},
};

const PORT: u16 = 8080;

fn main() -> ExitCode {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "kernel" => kernel(),
        "capacity" => capacity(),
        _ => {
            eprintln!("usage: shadowtap-bench kernel|capacity");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

struct BpfStats;

impl BpfStats {
    fn enable() -> Self {
        std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1").expect("enable bpf stats");
        BpfStats
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "0");
    }
}

fn value() -> EndpointValue {
    EndpointValue {
        route_set: 1,
        _pad: 0,
        threshold: SAMPLE_ALL,
    }
}

fn point(topo: &Topology, leg: &Leg) -> AttachPoint {
    AttachPoint {
        iface: leg.host_iface.clone(),
        netns: Some(NetnsPath(topo.node.path())),
        hook: Hook::TcEgress,
    }
}

fn kernel() {
    assert!(
        privileged(),
        "the kernel benchmark needs root (CAP_BPF, CAP_NET_ADMIN)"
    );
    let rounds = 10;
    let per_round = 2000;
    let topo = Topology::new(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();

    // Object 1: the no-op baseline and the capture program on map misses.
    let mut miss = Datapath::load(&LoadConfig::default()).expect("load");
    miss.load_noop().expect("load noop");
    let mut miss_maps = MapHandles::take(&mut miss).expect("maps");
    // An unrelated endpoint, so the map is not empty.
    miss_maps
        .upsert_endpoint("192.0.2.1".parse().expect("ip"), PORT, value())
        .expect("endpoint");
    let noop_leg = &topo.pod;
    let miss_leg = &topo.extra[0];
    let hit_leg = &topo.extra[1];
    let mut noop_point = point(&topo, noop_leg);
    noop_point.hook = Hook::TcEgressNoop;
    let _a = miss.attach(&noop_point).expect("attach noop");
    let _b = miss.attach(&point(&topo, miss_leg)).expect("attach miss");

    // Object 2: the capture program on captured traffic. Wake-ups are left to the drain
    // timer (as in production below the fill threshold): the hot test-run below has no
    // reader, and forced wake-ups of an absent reader would be measured instead of capture.
    let mut hit = Datapath::load(&LoadConfig {
        wakeup_threshold: u64::MAX,
        ..LoadConfig::default()
    })
    .expect("load");
    let mut hit_maps = MapHandles::take(&mut hit).expect("maps");
    let mut ring = RingReader::take(&mut hit).expect("ring");
    hit_maps
        .upsert_endpoint(hit_leg.ip4.into(), PORT, value())
        .expect("endpoint");
    let _c = hit.attach(&point(&topo, hit_leg)).expect("attach hit");

    let servers: Vec<RecordingServer> = [noop_leg, miss_leg, hit_leg]
        .iter()
        .map(|l| RecordingServer::start(&l.ns, SocketAddr::new(l.ip4.into(), PORT)))
        .collect();
    let request =
        b"GET /bench HTTP/1.1\r\nHost: foo\r\nUser-Agent: shadowtap-bench\r\n\r\n".to_vec();

    let _stats = BpfStats::enable();
    let before = [
        miss.run_stats(ProgramKind::TcNoop).expect("stats"),
        miss.run_stats(ProgramKind::Tc).expect("stats"),
        hit.run_stats(ProgramKind::Tc).expect("stats"),
    ];
    let started = Instant::now();
    let mut events = Vec::new();
    let mut records = 0usize;
    for _ in 0..rounds {
        for leg in [noop_leg, miss_leg, hit_leg] {
            lockstep(
                &topo.client.ns,
                SocketAddr::new(leg.ip4.into(), PORT),
                request.clone(),
                per_round,
            );
            records += ring.drain(&mut events);
            events.clear();
        }
    }
    let after = [
        miss.run_stats(ProgramKind::TcNoop).expect("stats"),
        miss.run_stats(ProgramKind::Tc).expect("stats"),
        hit.run_stats(ProgramKind::Tc).expect("stats"),
    ];
    let elapsed = started.elapsed();
    drop(servers);
    let counters = hit_maps.counters().expect("counters");

    let mut table = String::new();
    table.push_str(&format!(
        "kernel per-packet cost, TC egress on a pod's host-side veth ({rounds} interleaved rounds \
         x {per_round} lock-step requests per program, {:.1} s)\n\n",
        elapsed.as_secs_f64()
    ));
    table.push_str("| program | packets | ns/packet | vs no-op |\n|---|---:|---:|---:|\n");
    let per_packet: Vec<f64> = before
        .iter()
        .zip(after.iter())
        .map(|(b, a)| (a.0 - b.0) as f64 / (a.1 - b.1).max(1) as f64)
        .collect();
    for (i, name) in ["no-op", "shadowtap, map miss", "shadowtap, captured flow"]
        .iter()
        .enumerate()
    {
        table.push_str(&format!(
            "| {name} | {} | {:.0} | {:.2}x |\n",
            after[i].1 - before[i].1,
            per_packet[i],
            per_packet[i] / per_packet[0]
        ));
    }
    table.push_str(&format!(
        "\ncaptured flow: {} records copied ({} bytes), {} pure ACKs skipped, ring full {}; \
         ring records read {records}\n",
        counters.get(Counter::Copied),
        counters.get(Counter::BytesCopied),
        counters.get(Counter::PureAck),
        counters.get(Counter::RingFull),
    ));
    table.push_str(&hot(&mut miss, &mut hit, hit_leg.ip4, &mut ring));
    print!("{table}");
    write_result("kernel", &table);
    // Keep the objects alive until measured.
    drop((miss_maps, hit_maps));
    let _ = Duration::ZERO;
}

/// The same three programs on one crafted packet repeated through `BPF_PROG_TEST_RUN`:
/// the hot-cache cost, without the network stack around it.
fn hot(
    miss: &mut Datapath,
    hit: &mut Datapath,
    hit_ip: std::net::Ipv4Addr,
    ring: &mut RingReader,
) -> String {
    let client = std::net::Ipv4Addr::new(10, 77, 1, 2);
    let request = b"GET /bench HTTP/1.1\r\nHost: foo\r\nUser-Agent: shadowtap-bench\r\n\r\n";
    let pkt = packets::ipv4(client, hit_ip, &Tcp::new(40000, PORT, 1), request);
    let repeat = 20_000;
    let run = |prog: &SchedClassifier| -> f64 {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let r = prog
                .test_run(TestRunOptions {
                    data_in: Some(&pkt),
                    repeat,
                    ..Default::default()
                })
                .expect("test run");
            best = best.min(r.duration.as_nanos() as f64);
        }
        best
    };
    let noop = run(miss.classifier(ProgramKind::TcNoop).expect("noop"));
    let miss_ns = run(miss.classifier(ProgramKind::Tc).expect("tc"));
    let mut events = Vec::new();
    let mut hit_ns = f64::MAX;
    for _ in 0..5 {
        hit_ns = hit_ns.min(run(hit.classifier(ProgramKind::Tc).expect("tc")));
        ring.drain(&mut events);
        events.clear();
    }
    format!(
        "\nhot (BPF_PROG_TEST_RUN, {repeat} repeats of one {}-byte packet, best of 5):\n\n\
         | program | ns/packet | vs no-op |\n|---|---:|---:|\n\
         | no-op | {noop:.0} | 1.00x |\n\
         | shadowtap, map miss | {miss_ns:.0} | {:.2}x |\n\
         | shadowtap, captured | {hit_ns:.0} | {:.2}x |\n",
        pkt.len(),
        miss_ns / noop,
        hit_ns / noop,
    )
}

/// The agent's CPU seconds (user + system) and peak RSS in KiB, from /proc.
fn agent_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Fields after the command: state is index 0, utime 11, stime 12 (clock ticks).
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let hz = 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    ((ticks(11) + ticks(12)) / hz, hwm)
}

/// Mirror capacity at 100 %: closed-loop load on foo-v1 with shadowtap mirroring every
/// request to foo-v2; per request size, the rate reached, mirrored vs sent (losses counted by
/// reason by the agent), agent CPU per mirrored request and peak RSS.
fn capacity() {
    assert!(privileged(), "the capacity benchmark needs root");
    let mut table = String::from(
        "mirror capacity, 100 % mirrored, closed loop (the load generator, both servers and the agent share the machine's cores)\n\n\
         | request | connections | sent | req/s | mirrored | lost (counted) | agent CPU µs/mirrored | agent peak RSS MiB |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (label, body) in [("200 B GET", 0usize), ("16 KiB POST", 16 * 1024)] {
        let route = route_yaml(
            "foo-route",
            true,
            None,
            &[Mirror {
                service: "foo-v2",
                rate: Rate::Unset,
            }],
        );
        let mut s = Scenario::new(&route);
        s.start_agent(&shadowtap_binary(), &[]);
        let pid = s.agent_pid().expect("agent pid");
        let v1 = SocketAddr::new(s.v1_ip(false), PORT);
        let connections = 16;
        let per_connection = 1500;
        let payload = vec![b'x'; body];
        let make = move |c: usize, i: usize| {
            let mut r = if body == 0 {
                format!("GET /bench/{c}/{i} HTTP/1.1\r\nHost: foo.example.com\r\nUser-Agent: shadowtap-bench/1.0\r\nAccept: */*\r\nX-Request-Id: {c}-{i}-0123456789abcdef\r\n\r\n").into_bytes()
            } else {
                format!("POST /bench/{c}/{i} HTTP/1.1\r\nHost: foo.example.com\r\nContent-Type: application/octet-stream\r\nContent-Length: {body}\r\n\r\n").into_bytes()
            };
            r.extend_from_slice(&payload);
            r
        };
        let (cpu0, _) = agent_usage(pid);
        let started = Instant::now();
        concurrent_lockstep(&s.topo.client.ns, v1, connections, per_connection, make);
        let elapsed = started.elapsed();
        let sent = (connections * per_connection) as u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lost = 0.0;
        while Instant::now() < deadline {
            let m = s.metrics();
            lost = metric_sum(
                &m,
                "shadowtap_mirror_requests_total",
                &[],
                &["outcome=\"sent\""],
            ) + metric_sum(
                &m,
                "shadowtap_kernel_packets_total",
                &["outcome=\"ring_full\""],
                &[],
            );
            let decoded = metric_value(&m, "shadowtap_requests_total{outcome=\"decoded\"}");
            if decoded as u64 >= sent && s.v2.count() as f64 + lost >= sent as f64 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (cpu1, hwm) = agent_usage(pid);
        let mirrored = s.v2.count();
        table.push_str(&format!(
            "| {label} | {connections} | {sent} | {:.0} | {mirrored} | {lost} | {:.1} | {:.1} |\n",
            sent as f64 / elapsed.as_secs_f64(),
            (cpu1 - cpu0) * 1e6 / mirrored.max(1) as f64,
            hwm as f64 / 1024.0,
        ));
        s.stop_agent();
    }
    print!("{table}");
    write_result("capacity", &table);
}

fn write_result(name: &str, text: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("bench-results");
    if std::fs::create_dir_all(&dir).is_ok() {
        let path = dir.join(format!("{name}.md"));
        if std::fs::write(&path, text).is_ok() {
            println!("written to {}", path.display());
        }
    }
}
