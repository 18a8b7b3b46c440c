//! The kernel programs run on crafted packets through `BPF_PROG_TEST_RUN`: every verdict is
//! "pass", every packet comes out unchanged, and exactly the expected bytes are copied and
//! counted.

use std::net::{Ipv4Addr, Ipv6Addr};

use aya::programs::{TestRun, TestRunOptions};
use shadowtap_agent::datapath::CaptureEvent;
use shadowtap_common::{addr_from_ip, threshold_for_fraction, Counter, SAMPLE_ALL, SAMPLE_NONE};
use shadowtap_harness::{
    loaded::Loaded,
    packets::{self, flags, Tcp},
    require_privileges,
};

const TC_ACT_UNSPEC: u32 = u32::MAX; // -1
const XDP_PASS: u32 = 2;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: foo\r\n\r\n";

pub(crate) struct Harness(Loaded);

impl std::ops::Deref for Harness {
    type Target = Loaded;
    fn deref(&self) -> &Loaded {
        &self.0
    }
}

impl std::ops::DerefMut for Harness {
    fn deref_mut(&mut self) -> &mut Loaded {
        &mut self.0
    }
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self(Loaded::new())
    }

    /// Run the TC program on `pkt`; assert pass + unchanged; return the records it wrote.
    pub(crate) fn tc(&mut self, pkt: &[u8]) -> Vec<CaptureEvent> {
        let mut out = vec![0u8; pkt.len() + 64];
        let res = self
            .dp
            .tc()
            .expect("tc program")
            .test_run(TestRunOptions {
                data_in: Some(pkt),
                data_out: Some(&mut out),
                ..Default::default()
            })
            .expect("test run");
        assert_eq!(res.return_value, TC_ACT_UNSPEC, "TC verdict must be UNSPEC");
        assert_eq!(&out[..res.data_size_out as usize], pkt, "packet modified");
        self.events()
    }

    /// Run the XDP program on `pkt`; assert pass + unchanged.
    pub(crate) fn xdp(&mut self, pkt: &[u8]) -> Vec<CaptureEvent> {
        let mut out = vec![0u8; pkt.len() + 64];
        let res = self
            .dp
            .xdp()
            .expect("xdp program")
            .test_run(TestRunOptions {
                data_in: Some(pkt),
                data_out: Some(&mut out),
                ..Default::default()
            })
            .expect("test run");
        assert_eq!(res.return_value, XDP_PASS, "XDP verdict must be PASS");
        assert_eq!(&out[..res.data_size_out as usize], pkt, "packet modified");
        self.events()
    }

    fn events(&mut self) -> Vec<CaptureEvent> {
        let mut v = Vec::new();
        self.ring.drain(&mut v);
        v
    }

    pub(crate) fn count(&self, c: Counter) -> u64 {
        self.maps.counters().expect("counters").get(c)
    }
}

fn v4(payload: &[u8], dport: u16) -> Vec<u8> {
    packets::ipv4(CLIENT, SERVER, &Tcp::new(40000, dport, 1000), payload)
}

#[test]
fn ipv4_payload_is_copied_with_its_header() {
    if !require_privileges("ipv4_payload_is_copied_with_its_header") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let ev = h.tc(&v4(REQUEST, 80));
    assert_eq!(ev.len(), 1);
    let r = &ev[0];
    assert_eq!(&r.payload[..], REQUEST);
    assert_eq!(r.header.saddr, addr_from_ip(CLIENT.into()));
    assert_eq!(r.header.daddr, addr_from_ip(SERVER.into()));
    assert_eq!((r.header.src_port(), r.header.dst_port()), (40000, 80));
    assert_eq!(r.header.seq, 1000);
    assert_eq!(r.header.ip_version, 4);
    assert_eq!(r.header.payload_len as usize, REQUEST.len());
    assert_eq!(r.header.truncated, 0);
    assert_eq!(h.count(Counter::Copied), 1);
    assert_eq!(h.count(Counter::BytesCopied), REQUEST.len() as u64);
    assert_eq!(h.count(Counter::PacketsSeen), 1);
}

#[test]
fn other_endpoints_are_not_copied() {
    if !require_privileges("other_endpoints_are_not_copied") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    assert!(h.tc(&v4(REQUEST, 81)).is_empty());
    let other = packets::ipv4(
        SERVER,
        CLIENT,
        &Tcp::new(80, 40000, 5),
        b"HTTP/1.1 200 OK\r\n",
    );
    assert!(
        h.tc(&other).is_empty(),
        "responses (to the client) are not copied"
    );
    assert_eq!(h.count(Counter::NotMatched), 2);
    assert_eq!(h.count(Counter::Copied), 0);
}

#[test]
fn ipv6_with_extension_headers_is_copied() {
    if !require_privileges("ipv6_with_extension_headers_is_copied") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER6.into(), 8080, SAMPLE_ALL);
    let tcp = Tcp::new(40000, 8080, 7);
    let plain = packets::ipv6(CLIENT6, SERVER6, &tcp, REQUEST, &[]);
    let ev = h.tc(&plain);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].header.ip_version, 6);
    assert_eq!(&ev[0].payload[..], REQUEST);
    let ext = vec![
        (0u8, packets::ipv6_options(1)),
        (60u8, packets::ipv6_options(2)),
    ];
    let with_ext = packets::ipv6(CLIENT6, SERVER6, &tcp, REQUEST, &ext);
    let ev = h.tc(&with_ext);
    assert_eq!(ev.len(), 1, "hop-by-hop + destination options are walked");
    assert_eq!(&ev[0].payload[..], REQUEST);
    // Too long a chain is skipped and counted, never misparsed.
    let long: Vec<(u8, Vec<u8>)> = (0..8).map(|_| (60u8, packets::ipv6_options(1))).collect();
    assert!(h
        .tc(&packets::ipv6(CLIENT6, SERVER6, &tcp, REQUEST, &long))
        .is_empty());
    assert_eq!(h.count(Counter::Ipv6ExtSkipped), 1);
}

#[test]
fn vlan_tagged_frames_are_parsed() {
    if !require_privileges("vlan_tagged_frames_are_parsed") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let pkt = packets::ipv4_with(CLIENT, SERVER, &Tcp::new(1, 80, 9), REQUEST, Some(42), 6);
    let ev = h.tc(&pkt);
    assert_eq!(ev.len(), 1);
    assert_eq!(&ev[0].payload[..], REQUEST);
}

#[test]
fn tcp_options_are_skipped_by_data_offset() {
    if !require_privileges("tcp_options_are_skipped_by_data_offset") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let mut tcp = Tcp::new(1, 80, 9);
    tcp.doff = 32;
    let ev = h.tc(&packets::ipv4(CLIENT, SERVER, &tcp, REQUEST));
    assert_eq!(ev.len(), 1);
    assert_eq!(&ev[0].payload[..], REQUEST);
}

#[test]
fn non_tcp_and_malformed_packets_pass_uncopied() {
    if !require_privileges("non_tcp_and_malformed_packets_pass_uncopied") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let tcp = Tcp::new(1, 80, 9);
    // UDP.
    assert!(h
        .tc(&packets::ipv4_with(CLIENT, SERVER, &tcp, REQUEST, None, 17))
        .is_empty());
    assert_eq!(h.count(Counter::NotTcp), 1);
    // Bad IHL (4 words < 5).
    let mut bad_ihl = v4(REQUEST, 80);
    bad_ihl[14] = 0x44;
    assert!(h.tc(&bad_ihl).is_empty());
    // Data offset past the end of the packet.
    let mut doff = tcp.clone();
    doff.doff = 60;
    let short = packets::ipv4(CLIENT, SERVER, &doff, b"");
    let mut cut = short.clone();
    cut.truncate(14 + 20 + 24);
    let tot = (cut.len() - 14) as u16;
    cut[16..18].copy_from_slice(&tot.to_be_bytes());
    assert!(h.tc(&cut).is_empty());
    // Data offset below the minimum.
    let mut tiny = tcp.clone();
    tiny.doff = 12;
    assert!(h
        .tc(&packets::ipv4(CLIENT, SERVER, &tiny, REQUEST))
        .is_empty());
    // IPv4 header cut short, and an Ethernet header alone. The kernel refuses to build a test
    // skb without a whole IP header, so these go through the XDP entry point, which shares
    // the parser.
    let mut trunc = v4(REQUEST, 80);
    trunc.truncate(14 + 10);
    assert!(h.xdp(&trunc).is_empty());
    let mut eth_only = v4(REQUEST, 80);
    eth_only.truncate(14);
    assert!(h.xdp(&eth_only).is_empty());
    assert_eq!(h.count(Counter::ParseError), 5);
    assert_eq!(h.count(Counter::Copied), 0);
    assert_eq!(h.count(Counter::PacketsSeen), 6);
}

#[test]
fn own_flows_yield_no_record() {
    if !require_privileges("own_flows_yield_no_record") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let local = std::net::SocketAddr::new(CLIENT.into(), 40000);
    let remote = std::net::SocketAddr::new(SERVER.into(), 80);
    h.maps.add_own_flow(local, remote).expect("own flow");
    assert!(h.tc(&v4(REQUEST, 80)).is_empty());
    assert_eq!(h.count(Counter::OwnFlow), 1);
    // Another client port of the same host is still captured.
    let other = packets::ipv4(CLIENT, SERVER, &Tcp::new(40001, 80, 1), REQUEST);
    assert_eq!(h.tc(&other).len(), 1);
    // Once removed, the flow is captured again.
    h.maps.remove_own_flow(local, remote).expect("remove");
    assert_eq!(h.tc(&v4(REQUEST, 80)).len(), 1);
}

#[test]
fn pre_sample_threshold_edges() {
    if !require_privileges("pre_sample_threshold_edges") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_NONE);
    assert!(h.tc(&v4(REQUEST, 80)).is_empty());
    assert_eq!(h.count(Counter::PresampledOut), 1);
    // The kernel agrees with the shared hash: a threshold just above this flow's hash
    // captures it, one equal to it does not.
    let hash = shadowtap_common::flow_hash(
        &addr_from_ip(CLIENT.into()),
        40000,
        &addr_from_ip(SERVER.into()),
        80,
    );
    h.capture(SERVER.into(), 80, u64::from(hash));
    assert!(h.tc(&v4(REQUEST, 80)).is_empty());
    h.capture(SERVER.into(), 80, u64::from(hash) + 1);
    assert_eq!(h.tc(&v4(REQUEST, 80)).len(), 1);
    h.capture(SERVER.into(), 80, threshold_for_fraction(1, 1));
    assert_eq!(h.tc(&v4(REQUEST, 80)).len(), 1);
}

#[test]
fn syn_fin_rst_are_events_and_pure_acks_are_not() {
    if !require_privileges("syn_fin_rst_are_events_and_pure_acks_are_not") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    for f in [flags::SYN, flags::FIN | flags::ACK, flags::RST] {
        let mut tcp = Tcp::new(40000, 80, 99);
        tcp.flags = f;
        let ev = h.tc(&packets::ipv4(CLIENT, SERVER, &tcp, b""));
        assert_eq!(ev.len(), 1, "flags {f:#x}");
        assert_eq!(ev[0].header.tcp_flags, f);
        assert!(ev[0].payload.is_empty());
    }
    let mut ack = Tcp::new(40000, 80, 99);
    ack.flags = flags::ACK;
    assert!(h.tc(&packets::ipv4(CLIENT, SERVER, &ack, b"")).is_empty());
    assert_eq!(h.count(Counter::PureAck), 1);
}

#[test]
fn xdp_shares_the_capture_core() {
    if !require_privileges("xdp_shares_the_capture_core") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let ev = h.xdp(&v4(REQUEST, 80));
    assert_eq!(ev.len(), 1);
    assert_eq!(&ev[0].payload[..], REQUEST);
    assert!(h.xdp(&v4(REQUEST, 81)).is_empty());
    let mut bad = v4(REQUEST, 80);
    bad[14] = 0x41;
    assert!(h.xdp(&bad).is_empty());
    assert_eq!(h.count(Counter::ParseError), 1);
}

#[test]
fn large_payload_is_copied_whole() {
    if !require_privileges("large_payload_is_copied_whole") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let body: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let ev = h.tc(&v4(&body, 80));
    assert_eq!(ev.len(), 1);
    assert_eq!(&ev[0].payload[..], &body[..]);
}
