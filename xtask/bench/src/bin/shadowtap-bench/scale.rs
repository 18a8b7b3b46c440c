//! `scale`: the agent's memory and CPU with many idle keep-alive flows being captured.
//!
//! Per step (0, 1 000 and 10 000 flows whose one request was small, then 1 000 flows whose one
//! request was ~60 KB; each with a fresh scenario and agent): a route captures a foo-v1 pod
//! and mirrors 42 % to foo-v2; the client opens N keep-alive connections to the pod, sends
//! one request on each and reads its response, and keeps them open and idle. The last row
//! shows that an idle flow costs the same whatever its last request was (nothing of a
//! decoded request stays pinned by the flow). Once the agent has decoded every request, its resident memory (minus the
//! BPF map mappings: the heap estimate) and its CPU time over a fixed idle window are read
//! from /proc, beside its own flow and budget gauges.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use shadowtap_harness::{
    idle_flows::{open_idle, raise_nofile, IdleServer},
    privileged,
    scenario::{
        metric_sum, metric_value, route_yaml_for, service_yaml_port, shadowtap_binary, Mirror,
        Rate, Scenario, NODE,
    },
};
use shadowtap_reconstruct::Config as ReconstructConfig;

use crate::{
    usage::{agent_memory, agent_usage, Memory},
    write_result,
};

/// The port the idle-flow server listens on in the foo-v1-a pod (8080 is the scenario's
/// recording server).
const IDLE_PORT: u16 = 8081;
/// Live flows per step, and the request each flow sends.
const STEPS: [(usize, Size); 4] = [
    (0, Size::Small),
    (1_000, Size::Small),
    (10_000, Size::Small),
    (1_000, Size::Large),
];

/// The request of a step's flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Size {
    /// ~160 bytes.
    Small,
    /// ~60 KB (a 60 000-byte header field: one request head under the 64 KiB limit).
    Large,
}

impl Size {
    fn label(self) -> &'static str {
        match self {
            Size::Small => "~160 B",
            Size::Large => "~60 KB",
        }
    }

    fn request(self) -> fn(usize) -> Vec<u8> {
        match self {
            Size::Small => request,
            Size::Large => large_request,
        }
    }
}
/// Connections being set up at a time.
const BATCH: usize = 256;
/// The idle measurement window.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// Longest wait for the agent to decode every request after the last response.
const DECODE_WAIT: Duration = Duration::from_secs(60);
/// The decoded-requests counter.
const DECODED: &str = "shadowtap_reconstruct_requests_total{outcome=\"emitted\"}";

/// What one step measured.
struct Row {
    flows: usize,
    size: Size,
    opened: usize,
    failed: usize,
    first_error: Option<String>,
    decoded: u64,
    flows_live: u64,
    budget_bytes: u64,
    server_open: u64,
    mem: Memory,
    cpu_open_ms: f64,
    open_secs: f64,
    cpu_idle_ms_per_s: f64,
    conntrack: String,
    losses: f64,
    evicted_idle: u64,
    evicted_cap: u64,
    mirrored: u64,
}

const MIB: f64 = 1024.0;

/// The request sent on connection `i`.
fn request(i: usize) -> Vec<u8> {
    format!(
        "GET /idle/{i} HTTP/1.1\r\nHost: foo.example.com\r\nUser-Agent: shadowtap-bench/1.0\r\nAccept: */*\r\nX-Request-Id: idle-{i:06}-0123456789abcdef\r\n\r\n"
    )
    .into_bytes()
}

/// The ~60 KB request sent on connection `i` of the large-request step.
fn large_request(i: usize) -> Vec<u8> {
    let mut r = request(i);
    let pad = format!("X-Pad: {}\r\n\r\n", "p".repeat(60_000));
    r.truncate(r.len() - 2);
    r.extend_from_slice(pad.as_bytes());
    r
}

/// Ring and kernel losses the agent counted (requests the capture may have missed).
fn losses(metrics: &str) -> f64 {
    metric_sum(
        metrics,
        "shadowtap_kernel_packets_total",
        &["outcome=\"ring_full\""],
        &[],
    ) + metric_sum(
        metrics,
        "shadowtap_ring_records_total",
        &["outcome=\"malformed\""],
        &[],
    )
}

/// The series of one flow-eviction reason.
fn eviction(reason: &str) -> String {
    format!("shadowtap_reconstruct_flow_evictions_total{{reason=\"{reason}\"}}")
}

/// Entries in the node namespace's connection tracking table ("not tracked" when the
/// namespace has no conntrack).
fn conntrack(s: &Scenario) -> String {
    let out = s
        .topo
        .node
        .exec_unchecked(&["cat", "/proc/sys/net/netfilter/nf_conntrack_count"]);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !text.is_empty() {
        text
    } else {
        "n/a".into()
    }
}

/// One step: a fresh scenario and agent, `n` idle flows, the measurements.
fn step(n: usize, size: Size) -> Row {
    let route = route_yaml_for(
        "foo-idle-route",
        "foo-idle",
        true,
        None,
        &[Mirror {
            service: "foo-v2",
            rate: Rate::Percent(42),
        }],
    );
    let mut s = Scenario::new(&route);
    let pod_ip = s.topo.pod.ip4;
    // foo-idle: the foo-v1-a pod's idle-flow port, as a Service the route captures.
    s.write_routes(
        "foo-idle.yaml",
        &service_yaml_port("foo-idle", &[("foo-v1-a", pod_ip.into())], NODE, IDLE_PORT),
    );
    let addr = SocketAddr::new(pod_ip.into(), IDLE_PORT);
    let server = IdleServer::start(&s.topo.pod.ns, addr, 4096);
    s.start_agent(&shadowtap_binary(), &[]);
    let pid = s.agent_pid().expect("agent pid");
    let before = s.metrics();
    for problem in before
        .lines()
        .filter(|l| l.starts_with("shadowtap_plan_problems{"))
    {
        eprintln!("scale: route problem: {problem}");
    }
    let decoded0 = metric_value(&before, DECODED) as u64;

    let (cpu0, _) = agent_usage(pid);
    let started = Instant::now();
    let flows = open_idle(&s.topo.client.ns, addr, n, BATCH, size.request());
    let opened = flows.streams.len();
    let open_secs = started.elapsed().as_secs_f64();
    // Bounded wait for every request to be decoded; a shortfall is reported, not hidden.
    let deadline = Instant::now() + DECODE_WAIT;
    while Instant::now() < deadline {
        let decoded = metric_value(&s.metrics(), DECODED) as u64;
        if decoded.saturating_sub(decoded0) >= opened as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (cpu1, _) = agent_usage(pid);

    std::thread::sleep(IDLE_WINDOW);
    let (cpu2, _) = agent_usage(pid);
    let mem = agent_memory(pid);
    let m = s.metrics();
    let row = Row {
        flows: n,
        size,
        opened,
        failed: flows.failed,
        first_error: flows.first_error.clone(),
        decoded: (metric_value(&m, DECODED) as u64).saturating_sub(decoded0),
        flows_live: metric_value(&m, "shadowtap_flows_live") as u64,
        budget_bytes: metric_sum(&m, "shadowtap_budget_bytes", &[], &[]) as u64,
        server_open: server.open(),
        mem,
        cpu_open_ms: (cpu1 - cpu0) * 1e3,
        open_secs,
        cpu_idle_ms_per_s: (cpu2 - cpu1) * 1e3 / IDLE_WINDOW.as_secs_f64(),
        conntrack: conntrack(&s),
        losses: losses(&m),
        evicted_idle: metric_value(&m, &eviction("idle")) as u64,
        evicted_cap: metric_value(&m, &eviction("cap")) as u64,
        mirrored: metric_sum(
            &m,
            "shadowtap_mirror_requests_total",
            &["outcome=\"sent\""],
            &[],
        ) as u64,
    };
    drop(flows);
    drop(server);
    s.stop_agent();
    row
}

/// The benchmark: one step per entry of [`STEPS`], printed as a table.
pub fn run() {
    assert!(privileged(), "the scale benchmark needs root");
    let max = STEPS.iter().map(|(n, _)| *n).max().unwrap_or(0) as u64;
    // The client's ends of the flows live in this process's descriptor table, the server's
    // in a table of its own (see IdleServer); each needs room for `max` plus some slack.
    let nofile = raise_nofile(max + 1024);
    let rows: Vec<Row> = STEPS
        .iter()
        .map(|&(n, size)| {
            eprintln!("scale: {n} flows, {} requests ...", size.label());
            step(n, size)
        })
        .collect();
    let cfg = ReconstructConfig::default();
    let mut table = format!(
        "agent memory and CPU with N idle keep-alive flows captured (one request decoded per flow, then idle; route mirrors 42 % to foo-v2; fresh agent per row; idle window {} s)\n\n\
         | flows | request | requests decoded | flows live (agent gauge) | agent RSS MiB | BPF maps RSS MiB | heap estimate MiB | anon RSS MiB | peak RSS MiB | CPU ms while opening | CPU ms/s idle |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        IDLE_WINDOW.as_secs()
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} |\n",
            r.flows,
            r.size.label(),
            r.decoded,
            r.flows_live,
            r.mem.rss as f64 / MIB,
            r.mem.bpf_maps as f64 / MIB,
            r.mem.heap_estimate() as f64 / MIB,
            r.mem.anon as f64 / MIB,
            r.mem.hwm as f64 / MIB,
            r.cpu_open_ms,
            r.cpu_idle_ms_per_s,
        ));
    }
    table.push('\n');
    let small = || rows.iter().filter(|r| r.size == Size::Small);
    if let (Some(base), Some(top)) = (small().next(), small().next_back()) {
        let extra = top.flows.saturating_sub(base.flows).max(1) as f64;
        let heap = top.mem.heap_estimate() as f64 - base.mem.heap_estimate() as f64;
        let anon = top.mem.anon as f64 - base.mem.anon as f64;
        table.push_str(&format!(
            "- per flow ({} vs {} flows): heap estimate {:+.0} B/flow, anon RSS {:+.0} B/flow; agent CPU while opening {:.1} µs/flow\n",
            top.flows,
            base.flows,
            heap * 1024.0 / extra,
            anon * 1024.0 / extra,
            (top.cpu_open_ms - base.cpu_open_ms) * 1e3 / extra,
        ));
    }
    let same = |r: &&Row| r.size == Size::Small;
    for large in rows.iter().filter(|r| r.size == Size::Large) {
        if let Some(small) = rows.iter().filter(same).find(|r| r.flows == large.flows) {
            table.push_str(&format!(
                "- {} flows whose last request was {} against {}: peak RSS {:.1} vs {:.1} MiB, heap estimate {:.1} vs {:.1} MiB ({:+.0} B/flow)\n",
                large.flows,
                large.size.label(),
                small.size.label(),
                large.mem.hwm as f64 / MIB,
                small.mem.hwm as f64 / MIB,
                large.mem.heap_estimate() as f64 / MIB,
                small.mem.heap_estimate() as f64 / MIB,
                (large.mem.heap_estimate() as f64 - small.mem.heap_estimate() as f64) * 1024.0
                    / large.flows.max(1) as f64,
            ));
        }
    }
    for r in &rows {
        table.push_str(&format!(
            "- {} flows ({}): opened {} ({} failed{}) in {:.1} s; server connections still open after the idle window: {}; flows evicted idle / over the cap: {} / {}; mirrored (sent): {}; agent budget gauges (reassembly + bodies in flight): {} B; ring/kernel losses counted: {}; node-namespace conntrack entries: {}\n",
            r.flows,
            r.size.label(),
            r.opened,
            r.failed,
            r.first_error
                .as_deref()
                .map(|e| format!(", first: {e}"))
                .unwrap_or_default(),
            r.open_secs,
            r.server_open,
            r.evicted_idle,
            r.evicted_cap,
            r.mirrored,
            r.budget_bytes,
            r.losses,
            r.conntrack,
        ));
    }
    let names: Vec<String> = rows
        .iter()
        .flat_map(|r| r.mem.bpf_names.iter().cloned())
        .fold(Vec::new(), |mut acc, n| {
            if !acc.contains(&n) {
                acc.push(n);
            }
            acc
        });
    table.push_str(&format!(
        "- BPF map mappings (smaps names): {}; RLIMIT_NOFILE of the benchmark: {nofile}\n\
         - reassembly defaults: idle eviction {} s (longer than the idle window), max live flows {}\n\
         - heap estimate = VmRSS - RSS of the BPF map mappings (the ring is mapped twice); it still holds the binary's resident text, which anon RSS (RssAnon) leaves out. CPU is utime+stime at clock-tick resolution (10 ms: ±1 ms/s over the window); \"while opening\" runs from the first connect until every request is decoded and includes the agent answering the benchmark's metrics polls\n",
        if names.is_empty() {
            "none found".to_owned()
        } else {
            names.join(", ")
        },
        cfg.timeouts.idle_ns / 1_000_000_000,
        cfg.max_flows,
    ));
    print!("{table}");
    write_result("scale", &table);
}
