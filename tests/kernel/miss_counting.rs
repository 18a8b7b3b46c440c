//! Every packet is counted in exactly one outcome, misses included: the kernel does not
//! count `packets_seen` (user space derives it as the sum of the outcomes), so a path that
//! forgot its outcome would go unseen in `kernel_packets_total` — these tests run each kind
//! of miss through the programs and check that exactly one outcome moved by exactly the
//! packets run, and that the derived `packets_seen` equals the packets run.

use std::net::{Ipv4Addr, Ipv6Addr};

use aya::programs::{TestRun, TestRunOptions};
use shadowtap_agent::datapath::{CounterSnapshot, ProgramKind};
use shadowtap_common::{addr_from_ip, endpoint_slot, Counter, SAMPLE_ALL};
use shadowtap_harness::{
    packets::{self, Tcp},
    require_privileges,
};

use crate::{endpoint_filter::sharing_bit_with, test_run::Harness};

const TC_ACT_UNSPEC: u32 = u32::MAX; // -1
const XDP_PASS: u32 = 2;
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const UNCAPTURED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const UNCAPTURED6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3);
const PORT: u16 = 8080;
const REQUEST: &[u8] = b"GET /m HTTP/1.1\r\nHost: foo\r\n\r\n";
/// Runs of each packet, in one `BPF_PROG_TEST_RUN` call.
const REPEAT: u32 = 1000;

fn to(dst: Ipv4Addr) -> Vec<u8> {
    packets::ipv4(CLIENT, dst, &Tcp::new(40000, PORT, 1), REQUEST)
}

/// Run `kind` on `pkt` `REPEAT` times in one call; assert pass and an unchanged packet.
fn run(h: &Harness, kind: ProgramKind, pkt: &[u8]) {
    let mut out = vec![0u8; pkt.len() + 64];
    let opts = TestRunOptions {
        data_in: Some(pkt),
        data_out: Some(&mut out),
        repeat: REPEAT,
        ..Default::default()
    };
    let size = if kind == ProgramKind::Xdp {
        let r = h.dp.xdp().expect("xdp").test_run(opts).expect("test run");
        assert_eq!(r.return_value, XDP_PASS, "XDP verdict must be PASS");
        r.data_size_out
    } else {
        let r =
            h.dp.classifier(kind)
                .expect("classifier")
                .test_run(opts)
                .expect("test run");
        assert_eq!(r.return_value, TC_ACT_UNSPEC, "TC verdict must be UNSPEC");
        r.data_size_out
    };
    assert_eq!(&out[..size as usize], pkt, "packet modified");
}

/// The outcome counters that moved between two snapshots, with how much.
fn moved(after: &CounterSnapshot, before: &CounterSnapshot) -> Vec<(Counter, u64)> {
    after
        .since(before)
        .iter()
        .filter(|(c, v)| c.is_outcome() && *v != 0)
        .collect()
}

#[test]
fn each_miss_is_counted_once_in_its_outcome_and_in_packets_seen() {
    if !require_privileges("each_miss_is_counted_once_in_its_outcome_and_in_packets_seen") {
        return;
    }
    let mut h = Harness::new();
    // A captured endpoint that does not compare, and an address sharing its pre-filter
    // bit, whose packets get past the pre-filter and miss in the endpoint map.
    h.capture(SERVER.into(), PORT, SAMPLE_ALL);
    let past_filter = sharing_bit_with(SERVER);
    let slot = |a: Ipv4Addr| endpoint_slot(&addr_from_ip(a.into()), PORT.to_be_bytes());
    assert_ne!(slot(UNCAPTURED), slot(SERVER), "UNCAPTURED's bit is clear");
    // A VLAN tag: the pre-filter leaves the frame to the full parser.
    let vlan = packets::ipv4_with(
        CLIENT,
        UNCAPTURED,
        &Tcp::new(40000, PORT, 1),
        REQUEST,
        Some(7),
        6,
    );
    let cases: Vec<(&str, ProgramKind, Vec<u8>, Counter)> = vec![
        (
            "IPv4, stopped by the pre-filter (TC)",
            ProgramKind::Tc,
            to(UNCAPTURED),
            Counter::NotMatched,
        ),
        (
            "IPv4, stopped by the pre-filter (XDP)",
            ProgramKind::Xdp,
            to(UNCAPTURED),
            Counter::NotMatched,
        ),
        (
            "IPv6, stopped by the pre-filter",
            ProgramKind::Tc,
            packets::ipv6(
                CLIENT6,
                UNCAPTURED6,
                &Tcp::new(40000, PORT, 1),
                REQUEST,
                &[],
            ),
            Counter::NotMatched,
        ),
        (
            "IPv4 sharing a captured endpoint's bit: looked up and missed",
            ProgramKind::Tc,
            to(past_filter),
            Counter::NotMatched,
        ),
        (
            "VLAN-tagged, not read by the pre-filter: parsed and missed",
            ProgramKind::Tc,
            vlan,
            Counter::NotMatched,
        ),
        (
            "UDP",
            ProgramKind::Tc,
            packets::ipv4_with(CLIENT, UNCAPTURED, &Tcp::new(1, PORT, 1), REQUEST, None, 17),
            Counter::NotTcp,
        ),
        (
            "response from an address nobody captures",
            ProgramKind::TcResponse,
            packets::ipv4(
                UNCAPTURED,
                CLIENT,
                &Tcp::new(PORT, 40000, 1),
                b"HTTP/1.1 200",
            ),
            Counter::ResponsesNotMatched,
        ),
        (
            "response from a captured endpoint that does not compare",
            ProgramKind::TcResponse,
            packets::ipv4(SERVER, CLIENT, &Tcp::new(PORT, 40000, 1), b"HTTP/1.1 200"),
            Counter::ResponsesNotMatched,
        ),
    ];
    let start = h.maps.counters().expect("counters");
    assert_eq!(start.get(Counter::PacketsSeen), 0);
    let mut runs = 0u64;
    for (what, kind, pkt, outcome) in &cases {
        let before = h.maps.counters().expect("counters");
        run(&h, *kind, pkt);
        runs += u64::from(REPEAT);
        let after = h.maps.counters().expect("counters");
        assert_eq!(
            moved(&after, &before),
            vec![(*outcome, u64::from(REPEAT))],
            "{what}: exactly one outcome per packet"
        );
        assert_eq!(
            after.get(Counter::PacketsSeen),
            runs,
            "{what}: packets_seen is every packet run"
        );
        assert_eq!(after.get(Counter::Copied), 0, "{what}: nothing copied");
    }
    // A captured packet is one packet too, and a copied record.
    let before = h.maps.counters().expect("counters");
    assert_eq!(h.tc(&to(SERVER)).len(), 1);
    let after = h.maps.counters().expect("counters");
    assert_eq!(moved(&after, &before), vec![(Counter::Copied, 1)]);
    assert_eq!(after.get(Counter::PacketsSeen), runs + 1);
}
