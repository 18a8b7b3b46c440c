//! `kernel`: per-packet run time of the no-op TC program, of the capture program on traffic
//! that misses the endpoint map (stopped by the endpoint pre-filter, and — the path every
//! miss took before the pre-filter — past it, to the endpoint lookup), and of the capture
//! program on captured traffic, measured side by side in one run over the same kind of
//! traffic.
//!
//! The shared 2-core machine's load moves single figures by tens of percent, and so does
//! where a load happens to put the programs' code and maps (the same object measured 1.3x
//! or 1.6x the no-op live from one load to the next). So the programs are loaded afresh
//! several times, each load measured in short interleaved rounds (the programs' order
//! rotating from round to round), each program's cost in a round is divided by the no-op's
//! in the same round, and the median of those per-round ratios over every load is reported
//! with its interquartile range. The load average at the start and the end is printed
//! beside the table.

use std::{net::SocketAddr, time::Instant};

use aya::programs::{SchedClassifier, TestRun, TestRunOptions};
use shadowtap_agent::datapath::{
    AttachPoint, Attachment, Datapath, Hook, LoadConfig, MapHandles, NetnsPath, ProgramKind,
    RingReader,
};
use shadowtap_common::{addr_from_ip, endpoint_slot, Counter, EndpointValue, SAMPLE_ALL};
use shadowtap_harness::{
    http_server::{lockstep, RecordingServer},
    packets::{self, Tcp},
    privileged,
    topology::{Leg, Topology},
};

use crate::{write_result, PORT};

/// Fresh loads of the programs; each is measured in the rounds below.
const LAYOUTS: usize = 8;
/// Live rounds per load; each runs `LIVE_PER_ROUND` lock-step requests through every
/// program.
const LIVE_ROUNDS_PER_LAYOUT: usize = 5;
const LIVE_PER_ROUND: usize = 1000;
/// Hot rounds per load; each runs every program on one packet `HOT_REPEAT` times.
const HOT_ROUNDS_PER_LAYOUT: usize = 2;
const HOT_REPEAT: u32 = 20_000;

/// The programs measured, in table order; the first is the baseline.
const NAMES: [&str; 4] = [
    "no-op",
    "shadowtap, map miss (stopped by the pre-filter)",
    "shadowtap, map miss past the pre-filter (endpoint lookup)",
    "shadowtap, captured",
];

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
        compare: 0,
        _pad: [0; 3],
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

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Median and interquartile range (25th and 75th percentiles, nearest rank).
fn quartiles(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

/// Per-round figures of each program: ns/packet, and ratios to the baseline's in the same
/// round.
struct Rounds {
    ns: Vec<Vec<f64>>,
}

impl Rounds {
    fn new(programs: usize) -> Self {
        Self {
            ns: vec![Vec::new(); programs],
        }
    }

    fn push(&mut self, program: usize, ns: f64) {
        self.ns[program].push(ns);
    }

    fn ratios(&self, program: usize) -> Vec<f64> {
        self.ns[program]
            .iter()
            .zip(&self.ns[0])
            .map(|(p, base)| p / base)
            .collect()
    }

    /// One table row per program: median ns/packet [IQR], median ratio [IQR].
    fn rows(&self) -> String {
        let mut out = String::new();
        for (i, name) in NAMES.iter().enumerate() {
            let (m, q1, q3) = quartiles(&self.ns[i]);
            let (r, r1, r3) = quartiles(&self.ratios(i));
            out.push_str(&format!(
                "| {name} | {m:.0} ({q1:.0}–{q3:.0}) | {r:.2}x ({r1:.2}–{r3:.2}) |\n"
            ));
        }
        out
    }
}

/// An address in 10.200.0.0/13 (no test topology uses it) whose pre-filter bit is the one
/// of `ip:PORT`: an endpoint there lets `ip:PORT`'s packets past the pre-filter to the
/// endpoint lookup, where they miss. About 65 536 candidates are tried on average.
fn sharing_bit_with(ip: std::net::Ipv4Addr) -> std::net::IpAddr {
    let slot = |a: std::net::IpAddr| endpoint_slot(&addr_from_ip(a), PORT.to_be_bytes());
    let target = slot(ip.into());
    (0..1u32 << 19)
        .map(|i| std::net::IpAddr::from((0x0ac8_0000 | i).to_be_bytes()))
        .find(|a| *a != std::net::IpAddr::from(ip) && slot(*a) == target)
        .expect("an address sharing the pre-filter bit")
}

/// The four loaded objects of one layout, one per program measured, attached to their legs:
/// the no-op, the miss program (stopped by the pre-filter), the miss past the pre-filter,
/// the captured flow.
struct Loaded {
    /// In table order.
    objects: [Datapath; 4],
    miss_maps: MapHandles,
    hit_maps: MapHandles,
    ring: RingReader,
    _maps: [MapHandles; 2],
    _attached: Vec<Attachment>,
}

/// The measured program of object `i` (table order).
fn measured(i: usize) -> ProgramKind {
    if i == 0 {
        ProgramKind::TcNoop
    } else {
        ProgramKind::Tc
    }
}

/// Load one object (with the no-op program too for the baseline) and take its maps.
fn load_one(i: usize) -> (Datapath, MapHandles) {
    // The captured flow's wake-ups are left to the drain timer (as in production below
    // the fill threshold): the hot test-run has no reader, and forced wake-ups of an
    // absent reader would be measured instead of capture.
    let cfg = LoadConfig {
        wakeup_threshold: if i == 3 { u64::MAX } else { 256 * 1024 },
        ..LoadConfig::default()
    };
    let mut dp = Datapath::load(&cfg).expect("load");
    if i == 0 {
        dp.load_noop().expect("load noop");
    }
    let maps = MapHandles::take(&mut dp).expect("maps");
    (dp, maps)
}

impl Loaded {
    /// Load and attach everything afresh, each program from its own object, the objects
    /// loaded in an order rotated by `layout`: where a load puts the programs' code and
    /// maps moves a live figure by up to a third here (the object loaded first, or beside
    /// the no-op, measured slowest), so every program takes every place in turn.
    fn new(topo: &Topology, legs: [&Leg; 4], layout: usize) -> Self {
        let mut loaded: [Option<(Datapath, MapHandles)>; 4] = Default::default();
        for k in 0..legs.len() {
            let i = (k + layout) % legs.len();
            loaded[i] = Some(load_one(i));
        }
        let [noop, miss, unfiltered, hit] = loaded.map(|o| o.expect("loaded"));
        let (mut noop, noop_maps) = noop;
        let (mut miss, mut miss_maps) = miss;
        let (mut unfiltered, mut unfiltered_maps) = unfiltered;
        let (mut hit, mut hit_maps) = hit;
        // An unrelated endpoint, so the miss program's map is not empty.
        miss_maps
            .upsert_endpoint("192.0.2.1".parse().expect("ip"), PORT, value())
            .expect("endpoint");
        // An endpoint sharing the pre-filter bit of the unfiltered leg's address: its
        // packets get past the pre-filter and miss in the map, as every miss did before
        // the pre-filter existed.
        unfiltered_maps
            .upsert_endpoint(sharing_bit_with(legs[2].ip4), PORT, value())
            .expect("endpoint");
        hit_maps
            .upsert_endpoint(legs[3].ip4.into(), PORT, value())
            .expect("endpoint");
        let ring = RingReader::take(&mut hit).expect("ring");
        let mut noop_point = point(topo, legs[0]);
        noop_point.hook = Hook::TcEgressNoop;
        let attached = vec![
            noop.attach(&noop_point).expect("attach noop"),
            miss.attach(&point(topo, legs[1])).expect("attach miss"),
            unfiltered
                .attach(&point(topo, legs[2]))
                .expect("attach unfiltered miss"),
            hit.attach(&point(topo, legs[3])).expect("attach hit"),
        ];
        Self {
            objects: [noop, miss, unfiltered, hit],
            miss_maps,
            hit_maps,
            ring,
            _maps: [noop_maps, unfiltered_maps],
            _attached: attached,
        }
    }

    /// (total run time in ns, run count) of program `i` in table order.
    fn stats(&self, i: usize) -> (u64, u64) {
        self.objects[i].run_stats(measured(i)).expect("stats")
    }
}

pub fn run() {
    assert!(
        privileged(),
        "the kernel benchmark needs root (CAP_BPF, CAP_NET_ADMIN)"
    );
    let load_before = load_average();
    let topo = Topology::new(3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();

    // In table order: no-op, miss stopped by the pre-filter, miss past it, captured.
    let legs = [&topo.pod, &topo.extra[0], &topo.extra[2], &topo.extra[1]];
    let _servers: Vec<RecordingServer> = legs
        .iter()
        .map(|l| RecordingServer::start(&l.ns, SocketAddr::new(l.ip4.into(), PORT)))
        .collect();
    let request =
        b"GET /bench HTTP/1.1\r\nHost: foo\r\nUser-Agent: shadowtap-bench\r\n\r\n".to_vec();

    let _stats = BpfStats::enable();
    let started = Instant::now();
    let mut live = Rounds::new(legs.len());
    let mut hot = Rounds::new(legs.len());
    let mut packets = [0u64; NAMES.len()];
    let mut total_ns = [0u64; NAMES.len()];
    let mut seen = (0u64, 0u64);
    // Copied records, bytes copied, pure ACKs, ring full: of the captured flow.
    let mut captured = [0u64; 4];
    let mut events = Vec::new();
    let mut records = 0usize;
    let mut round = 0;
    for layout in 0..LAYOUTS {
        let mut l = Loaded::new(&topo, legs, layout);
        for _ in 0..LIVE_ROUNDS_PER_LAYOUT {
            // Rotate the order, so no program always runs right after the same other one.
            for k in 0..legs.len() {
                let i = (k + round) % legs.len();
                let before = l.stats(i);
                lockstep(
                    &topo.client.ns,
                    SocketAddr::new(legs[i].ip4.into(), PORT),
                    request.clone(),
                    LIVE_PER_ROUND,
                );
                let after = l.stats(i);
                let (ns, n) = (after.0 - before.0, after.1 - before.1);
                packets[i] += n;
                total_ns[i] += ns;
                live.push(i, ns as f64 / n.max(1) as f64);
                records += l.ring.drain(&mut events);
                events.clear();
            }
            round += 1;
        }
        let m = l.miss_maps.counters().expect("counters");
        seen.0 += m.get(Counter::PacketsSeen);
        seen.1 += m.get(Counter::NotMatched);
        let c = l.hit_maps.counters().expect("counters");
        for (total, counter) in captured.iter_mut().zip([
            Counter::Copied,
            Counter::BytesCopied,
            Counter::PureAck,
            Counter::RingFull,
        ]) {
            *total += c.get(counter);
        }
        hot_rounds(&mut l, [legs[3].ip4, legs[2].ip4], &mut hot);
    }
    let elapsed = started.elapsed();

    let mut table = String::new();
    table.push_str(&format!(
        "kernel per-packet cost, TC egress on a pod's host-side veth: {LAYOUTS} fresh loads x \
         {LIVE_ROUNDS_PER_LAYOUT} interleaved rounds x {LIVE_PER_ROUND} lock-step requests \
         per program ({:.1} s), load average {load_before} at the start\n\n\
         live (kernel bpf stats): median of the rounds (interquartile range); ratio = the \
         program's ns/packet over the no-op's in the same round\n\n",
        elapsed.as_secs_f64()
    ));
    table.push_str("| program | ns/packet | vs no-op |\n|---|---:|---:|\n");
    table.push_str(&live.rows());
    table.push_str("\n| program | packets | pooled ns/packet |\n|---|---:|---:|\n");
    for (i, name) in NAMES.iter().enumerate() {
        table.push_str(&format!(
            "| {name} | {} | {:.0} |\n",
            packets[i],
            total_ns[i] as f64 / packets[i].max(1) as f64
        ));
    }
    table.push_str(&format!(
        "\nmiss program: {} packets seen, {} not matched; captured flow: {} records copied \
         ({} bytes), {} pure ACKs skipped, ring full {}; ring records read {records}\n",
        seen.0, seen.1, captured[0], captured[1], captured[2], captured[3],
    ));
    table.push_str(&format!(
        "\nhot (BPF_PROG_TEST_RUN, {HOT_REPEAT} repeats of one packet per round, \
         {} interleaved rounds): median (interquartile range)\n\n\
         | program | ns/packet | vs no-op |\n|---|---:|---:|\n{}",
        LAYOUTS * HOT_ROUNDS_PER_LAYOUT,
        hot.rows()
    ));
    table.push_str(&format!(
        "\nload average at the end: {}\n\
         targets (issue 17): map miss ≤ 1.2x no-op, hot and live; captured ≤ 400 ns hot\n",
        load_average()
    ));
    print!("{table}");
    write_result("kernel", &table);
}

/// The same programs on one crafted packet repeated through `BPF_PROG_TEST_RUN`: the
/// hot-cache cost, without the network stack around it, in interleaved rounds as live.
fn hot_rounds(
    l: &mut Loaded,
    [hit_ip, unfiltered_ip]: [std::net::Ipv4Addr; 2],
    rounds: &mut Rounds,
) {
    let client = std::net::Ipv4Addr::new(10, 77, 1, 2);
    let request = b"GET /bench HTTP/1.1\r\nHost: foo\r\nUser-Agent: shadowtap-bench\r\n\r\n";
    let pkt = packets::ipv4(client, hit_ip, &Tcp::new(40000, PORT, 1), request);
    // To the address whose bit an endpoint of `unfiltered` shares.
    let past = packets::ipv4(client, unfiltered_ip, &Tcp::new(40000, PORT, 1), request);
    let run = |prog: &SchedClassifier, pkt: &[u8]| -> f64 {
        let r = prog
            .test_run(TestRunOptions {
                data_in: Some(pkt),
                repeat: HOT_REPEAT,
                ..Default::default()
            })
            .expect("test run");
        r.duration.as_nanos() as f64
    };
    let Loaded { objects, ring, .. } = l;
    let prog = |i: usize| objects[i].classifier(measured(i)).expect("program");
    let programs: [(&SchedClassifier, &[u8]); 4] = [
        (prog(0), &pkt),
        (prog(1), &pkt),
        (prog(2), &past),
        (prog(3), &pkt),
    ];
    let mut events = Vec::new();
    for round in 0..HOT_ROUNDS_PER_LAYOUT {
        for k in 0..programs.len() {
            let i = (k + round) % programs.len();
            let (prog, pkt) = programs[i];
            rounds.push(i, run(prog, pkt));
            // Each captured run fills the ring with HOT_REPEAT records: empty it.
            ring.drain(&mut events);
            events.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quartiles;

    #[test]
    fn quartiles_by_nearest_rank() {
        assert_eq!(quartiles(&[3.0, 1.0, 2.0]), (2.0, 2.0, 3.0));
        assert_eq!(quartiles(&[5.0, 1.0, 4.0, 2.0, 3.0]), (3.0, 2.0, 4.0));
        assert!(quartiles(&[]).0.is_nan());
    }
}
