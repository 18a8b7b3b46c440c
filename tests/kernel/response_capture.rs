//! The response direction of comparing endpoints: the response program copies what a pod
//! sends only for endpoints whose comparison mode asks for it, flags each record as a
//! response, copies a prefix of each segment in the status and headers modes (the rest
//! reported as not copied) and everything in the body mode; it never changes a packet. Live:
//! the pod→client bytes reassembled from the response records equal what the server sent.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use aya::programs::{TestRun, TestRunOptions};
use shadowtap_agent::datapath::{AttachPoint, CaptureEvent, Hook, NetnsPath, ProgramKind};
use shadowtap_common::{
    addr_from_ip, compare_mode, ip_from_addr,
    record::{direction, tcp_flags},
    Counter, SAMPLE_ALL,
};
use shadowtap_harness::{
    http_server::{send_requests, RecordingServer},
    loaded::Loaded,
    packets::{self, Tcp},
    require_privileges,
    topology::Topology,
    wait,
};

const TC_ACT_UNSPEC: u32 = u32::MAX; // -1
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const REQUEST: &[u8] = b"GET /hello HTTP/1.1\r\nHost: foo\r\n\r\n";

/// Run one TC program on `pkt`; assert pass + unchanged; return the records it wrote.
fn run(l: &mut Loaded, kind: ProgramKind, pkt: &[u8]) -> Vec<CaptureEvent> {
    let mut out = vec![0u8; pkt.len() + 64];
    let res =
        l.dp.classifier(kind)
            .expect("program")
            .test_run(TestRunOptions {
                data_in: Some(pkt),
                data_out: Some(&mut out),
                ..Default::default()
            })
            .expect("test run");
    assert_eq!(res.return_value, TC_ACT_UNSPEC, "TC verdict must be UNSPEC");
    assert_eq!(&out[..res.data_size_out as usize], pkt, "packet modified");
    let mut v = Vec::new();
    l.ring.drain(&mut v);
    v
}

fn response(payload: &[u8]) -> Vec<u8> {
    packets::ipv4(SERVER, CLIENT, &Tcp::new(80, 40000, 5000), payload)
}

fn count(l: &Loaded, c: Counter) -> u64 {
    l.maps.counters().expect("counters").get(c)
}

fn big_response(len: usize) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", len).into_bytes();
    r.extend((0..len).map(|i| (i % 251) as u8));
    r
}

#[test]
fn body_mode_copies_whole_responses_with_the_flag() {
    if !require_privileges("body_mode_copies_whole_responses_with_the_flag") {
        return;
    }
    let mut l = Loaded::new();
    l.capture_comparing(SERVER.into(), 80, SAMPLE_ALL, compare_mode::BODY);
    // BPF_PROG_TEST_RUN takes packets of at most a page: longer ones are tested live.
    let resp = big_response(3_000);
    let ev = run(&mut l, ProgramKind::TcResponse, &response(&resp));
    assert_eq!(ev.len(), 1);
    let h = &ev[0].header;
    assert_eq!(h.direction, direction::RESPONSE);
    assert_eq!(&ev[0].payload[..], &resp[..]);
    assert_eq!(h.saddr, addr_from_ip(SERVER.into()));
    assert_eq!((h.src_port(), h.dst_port()), (80, 40000));
    assert_eq!((h.payload_len as usize, h.truncated), (resp.len(), 0));
    assert_eq!(count(&l, Counter::ResponsesMatched), 1);
    assert_eq!(count(&l, Counter::ResponsesPrefixOnly), 0);
    // The request program still copies requests, flagged as requests, and does not copy
    // what the pod sends.
    let req = packets::ipv4(CLIENT, SERVER, &Tcp::new(40000, 80, 1000), REQUEST);
    let ev = run(&mut l, ProgramKind::Tc, &req);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].header.direction, direction::REQUEST);
    assert!(run(&mut l, ProgramKind::Tc, &response(&resp)).is_empty());
    // The response program does not copy requests.
    assert!(run(&mut l, ProgramKind::TcResponse, &req).is_empty());
    assert_eq!(count(&l, Counter::ResponsesNotMatched), 1);
}

#[test]
fn short_responses_are_copied_whole_in_every_mode() {
    if !require_privileges("short_responses_are_copied_whole_in_every_mode") {
        return;
    }
    for mode in [
        compare_mode::STATUS,
        compare_mode::HEADERS,
        compare_mode::BODY,
    ] {
        let mut l = Loaded::new();
        l.capture_comparing(SERVER.into(), 80, SAMPLE_ALL, mode);
        let small = b"HTTP/1.1 204 No Content\r\n\r\n";
        let ev = run(&mut l, ProgramKind::TcResponse, &response(small));
        assert_eq!(ev.len(), 1, "mode {mode}");
        assert_eq!(&ev[0].payload[..], small);
        assert_eq!(ev[0].header.truncated, 0);
        assert_eq!(ev[0].header.direction, direction::RESPONSE);
    }
}

/// Status mode, live: a 200 KiB response leaves in segments (GSO super-packets on a veth)
/// of which only the first `RESPONSE_PREFIX` bytes are copied; the rest is reported.
#[test]
fn status_mode_copies_a_prefix_of_long_responses_live() {
    if !require_privileges("status_mode_copies_a_prefix_of_long_responses_live") {
        return;
    }
    const PORT: u16 = 8082;
    const BODY: usize = 200 * 1024;
    let topo = Topology::new(0);
    let mut l = Loaded::new();
    let _a =
        l.dp.attach(&AttachPoint {
            iface: topo.pod.host_iface.clone(),
            netns: Some(NetnsPath(topo.node.path())),
            hook: Hook::TcIngressResponse,
        })
        .expect("attach");
    let pod_ip = topo.pod.ip(false);
    l.capture_comparing(pod_ip, PORT, SAMPLE_ALL, compare_mode::STATUS);
    let listener = topo
        .pod
        .ns
        .spawn(move || std::net::TcpListener::bind((pod_ip, PORT)).expect("bind"))
        .join()
        .expect("bind thread");
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).expect("read request");
        s.write_all(&big_response(BODY)).expect("write response");
    });
    let got = topo
        .client
        .ns
        .spawn(move || {
            let mut s = std::net::TcpStream::connect((pod_ip, PORT)).expect("connect");
            s.write_all(REQUEST).expect("write");
            let mut all = Vec::new();
            s.read_to_end(&mut all).expect("read");
            all.len()
        })
        .join()
        .expect("client");
    server.join().expect("server");
    assert!(got > BODY);
    let prefix = compare_mode::RESPONSE_PREFIX;
    let mut events = Vec::new();
    wait::until(
        "response records covering the whole response",
        Duration::from_secs(20),
        || {
            l.ring.drain(&mut events);
            let wire: u64 = events.iter().map(|e| u64::from(e.header.payload_len)).sum();
            (wire >= got as u64).then_some(())
        },
    );
    for e in events.iter().filter(|e| e.header.payload_len > 0) {
        let h = &e.header;
        assert_eq!(h.direction, direction::RESPONSE);
        assert_eq!(h.captured_len, h.payload_len.min(prefix), "{h:?}");
        assert_eq!(h.truncated, u8::from(h.payload_len > prefix));
    }
    assert!(
        events.iter().any(|e| e.header.truncated == 1),
        "no segment longer than the prefix"
    );
    assert!(count(&l, Counter::ResponsesPrefixOnly) > 0);
    let copied: u64 = events.iter().map(|e| e.payload.len() as u64).sum();
    assert!(
        copied < got as u64 / 2,
        "{copied} of {got} bytes copied in status mode"
    );
}

#[test]
fn endpoints_that_do_not_compare_copy_no_response() {
    if !require_privileges("endpoints_that_do_not_compare_copy_no_response") {
        return;
    }
    let mut l = Loaded::new();
    l.capture(SERVER.into(), 80, SAMPLE_ALL);
    assert!(run(
        &mut l,
        ProgramKind::TcResponse,
        &response(b"HTTP/1.1 200 OK\r\n")
    )
    .is_empty());
    // An endpoint not in the map at all.
    let other = packets::ipv4(
        SERVER,
        CLIENT,
        &Tcp::new(81, 40000, 5),
        b"HTTP/1.1 200 OK\r\n",
    );
    assert!(run(&mut l, ProgramKind::TcResponse, &other).is_empty());
    assert_eq!(count(&l, Counter::ResponsesNotMatched), 2);
    assert_eq!(count(&l, Counter::ResponsesMatched), 0);
    assert_eq!(count(&l, Counter::Copied), 0);
}

/// Pod→client streams keyed by the client's address, from response records, placed by
/// sequence number from the pod's SYN-ACK.
fn response_streams(events: &[CaptureEvent]) -> HashMap<SocketAddr, Vec<u8>> {
    let client =
        |e: &CaptureEvent| SocketAddr::new(ip_from_addr(e.header.daddr), e.header.dst_port());
    let mut isn = HashMap::new();
    for e in events {
        if e.header.tcp_flags & tcp_flags::SYN != 0 {
            isn.insert(client(e), e.header.seq);
        }
    }
    let mut out: HashMap<SocketAddr, Vec<u8>> = HashMap::new();
    for e in events.iter().filter(|e| !e.payload.is_empty()) {
        let Some(start) = isn.get(&client(e)) else {
            continue;
        };
        let off = e.header.seq.wrapping_sub(start.wrapping_add(1)) as usize;
        let buf = out.entry(client(e)).or_default();
        if buf.len() < off + e.payload.len() {
            buf.resize(off + e.payload.len(), 0);
        }
        buf[off..off + e.payload.len()].copy_from_slice(&e.payload);
    }
    out
}

fn live(hook_pod_side: bool) {
    const COMPARED: u16 = 8080;
    const NOT_COMPARED: u16 = 8081;
    let topo = Topology::new(0);
    let mut l = Loaded::new();
    let (iface, netns, req_hook, resp_hook) = if hook_pod_side {
        (
            topo.pod.iface.clone(),
            NetnsPath(topo.pod.ns.path()),
            Hook::TcIngress,
            Hook::TcEgressResponse,
        )
    } else {
        (
            topo.pod.host_iface.clone(),
            NetnsPath(topo.node.path()),
            Hook::TcEgress,
            Hook::TcIngressResponse,
        )
    };
    let mut held = Vec::new();
    for hook in [req_hook, resp_hook] {
        held.push(
            l.dp.attach(&AttachPoint {
                iface: iface.clone(),
                netns: Some(netns.clone()),
                hook,
            })
            .expect("attach"),
        );
    }
    let pod_ip = topo.pod.ip(false);
    l.capture_comparing(pod_ip, COMPARED, SAMPLE_ALL, compare_mode::BODY);
    l.capture(pod_ip, NOT_COMPARED, SAMPLE_ALL);
    let _compared = RecordingServer::start(&topo.pod.ns, SocketAddr::new(pod_ip, COMPARED));
    let _plain = RecordingServer::start(&topo.pod.ns, SocketAddr::new(pod_ip, NOT_COMPARED));
    let requests: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("GET /item/{i} HTTP/1.1\r\nHost: foo\r\n\r\n").into_bytes())
        .collect();
    let client = send_requests(
        &topo.client.ns,
        SocketAddr::new(pod_ip, COMPARED),
        requests.clone(),
    );
    send_requests(
        &topo.client.ns,
        SocketAddr::new(pod_ip, NOT_COMPARED),
        requests,
    );
    let want: Vec<u8> = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".repeat(20);
    let mut events = Vec::new();
    wait::until(
        "the response records to equal what the server sent",
        Duration::from_secs(20),
        || {
            l.ring.drain(&mut events);
            let responses: Vec<CaptureEvent> = events
                .iter()
                .filter(|e| e.header.direction == direction::RESPONSE)
                .cloned()
                .collect();
            (response_streams(&responses).get(&client) == Some(&want)).then_some(())
        },
    );
    for e in &events {
        if e.header.direction == direction::RESPONSE {
            assert_eq!(
                e.header.src_port(),
                COMPARED,
                "a response of a port that does not compare"
            );
            assert_eq!(e.header.truncated, 0);
        } else {
            assert_ne!(
                e.header.src_port(),
                COMPARED,
                "a response flagged as a request"
            );
        }
    }
    assert!(
        events.iter().any(
            |e| e.header.direction == direction::REQUEST && e.header.dst_port() == NOT_COMPARED
        ),
        "requests of the endpoint that does not compare are still copied"
    );
    assert!(count(&l, Counter::ResponsesNotMatched) > 0);
    assert_eq!(count(&l, Counter::RingFull), 0);
}

#[test]
fn host_side_ingress_copies_responses_live() {
    if require_privileges("host_side_ingress_copies_responses_live") {
        live(false);
    }
}

#[test]
fn pod_side_egress_copies_responses_live() {
    if require_privileges("pod_side_egress_copies_responses_live") {
        live(true);
    }
}
