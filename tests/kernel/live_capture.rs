//! Real traffic over veth pairs in namespaces the tests create: the bytes the kernel copies,
//! reassembled by sequence number, equal exactly the bytes the server received — for the
//! host-side (TC egress on the node's veth) and the pod-side (TC ingress inside the pod's
//! namespace) attach points, IPv4 and IPv6, small requests, a 1 MiB POST, and curl.

use std::{net::SocketAddr, time::Duration};

use aya::programs::{tc::TcAttachType, SchedClassifier};
use shadowtap_agent::datapath::{
    in_netns, AttachPoint, CaptureEvent, Hook, LoadConfig, NetnsPath, TcLinks,
};
use shadowtap_common::{Counter, SAMPLE_ALL};
use shadowtap_harness::{
    http_server::{send_requests, RecordingServer},
    loaded::Loaded,
    reassemble, require_privileges,
    topology::Topology,
    wait,
};

const CAPTURED_PORT: u16 = 8080;
const OTHER_PORT: u16 = 9090;

struct Agent {
    loaded: Loaded,
    events: Vec<CaptureEvent>,
}

impl std::ops::Deref for Agent {
    type Target = Loaded;
    fn deref(&self) -> &Loaded {
        &self.loaded
    }
}

impl std::ops::DerefMut for Agent {
    fn deref_mut(&mut self) -> &mut Loaded {
        &mut self.loaded
    }
}

impl Agent {
    fn load() -> Self {
        Self::load_with(TcLinks::Auto)
    }

    fn load_with(tc_links: TcLinks) -> Self {
        Self {
            loaded: Loaded::with(&LoadConfig {
                tc_links,
                ..LoadConfig::default()
            }),
            events: Vec::new(),
        }
    }

    /// Drain the ring until the captured streams equal what the server received.
    fn expect_streams_equal(&mut self, server: &RecordingServer) {
        let received = server.received.clone();
        let events = &mut self.events;
        let ring = &mut self.loaded.ring;
        wait::until(
            "captured bytes to equal received bytes",
            Duration::from_secs(20),
            || {
                ring.drain(events);
                let got = reassemble::streams(events);
                let want = received.lock().expect("lock").clone();
                (!want.is_empty()
                    && want
                        .iter()
                        .all(|(peer, bytes)| got.get(peer) == Some(bytes)))
                .then_some(())
            },
        );
    }
}

/// Capture real traffic at `hook`, attached the way `tc_links` says, and check the bytes.
pub(crate) fn run_capture(v6: bool, hook: Hook, tc_links: TcLinks) {
    let topo = Topology::new(0);
    let mut agent = Agent::load_with(tc_links);
    let point = match hook {
        Hook::TcEgress => AttachPoint {
            iface: topo.pod.host_iface.clone(),
            netns: Some(NetnsPath(topo.node.path())),
            hook,
        },
        _ => AttachPoint {
            iface: topo.pod.iface.clone(),
            netns: Some(NetnsPath(topo.pod.ns.path())),
            hook,
        },
    };
    let _attachment = agent.dp.attach(&point).expect("attach");
    let pod_ip = topo.pod.ip(v6);
    agent.capture(pod_ip, CAPTURED_PORT, SAMPLE_ALL);
    let server = RecordingServer::start(&topo.pod.ns, SocketAddr::new(pod_ip, CAPTURED_PORT));
    let other = RecordingServer::start(&topo.pod.ns, SocketAddr::new(pod_ip, OTHER_PORT));

    let small: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("GET /item/{i} HTTP/1.1\r\nHost: foo\r\nX-Seq: {i}\r\n\r\n").into_bytes())
        .collect();
    send_requests(
        &topo.client.ns,
        SocketAddr::new(pod_ip, CAPTURED_PORT),
        small.clone(),
    );
    let body: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 253) as u8).collect();
    let mut post = format!(
        "POST /upload HTTP/1.1\r\nHost: foo\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    post.extend_from_slice(&body);
    send_requests(
        &topo.client.ns,
        SocketAddr::new(pod_ip, CAPTURED_PORT),
        vec![post],
    );
    send_requests(&topo.client.ns, SocketAddr::new(pod_ip, OTHER_PORT), small);

    agent.expect_streams_equal(&server);
    assert_eq!(*server.requests.lock().expect("lock"), 21);
    assert!(other.total_bytes() > 0);
    assert!(
        agent
            .events
            .iter()
            .all(|e| e.header.dst_port() == CAPTURED_PORT),
        "traffic to an endpoint not in the map was copied"
    );
    let counters = agent.maps.counters().expect("counters");
    assert_eq!(counters.get(Counter::Copied), agent.events.len() as u64);
    let copied: u64 = agent.events.iter().map(|e| e.payload.len() as u64).sum();
    assert_eq!(counters.get(Counter::BytesCopied), copied);
    // TCP may retransmit (a tail-loss probe, a spurious timeout on a loaded machine): every
    // byte is copied at least once — the reassembled streams above are exact — never fewer.
    assert!(copied as usize >= server.total_bytes(), "bytes missed");
    assert!(counters.get(Counter::NotMatched) > 0);
    assert_eq!(counters.get(Counter::RingFull), 0);
    assert_eq!(counters.get(Counter::Truncated), 0);
}

#[test]
fn host_side_egress_ipv4() {
    if require_privileges("host_side_egress_ipv4") {
        run_capture(false, Hook::TcEgress, TcLinks::Auto);
    }
}

#[test]
fn host_side_egress_ipv6() {
    if require_privileges("host_side_egress_ipv6") {
        run_capture(true, Hook::TcEgress, TcLinks::Auto);
    }
}

#[test]
fn pod_side_ingress_ipv4() {
    if require_privileges("pod_side_ingress_ipv4") {
        run_capture(false, Hook::TcIngress, TcLinks::Auto);
    }
}

#[test]
fn pod_side_ingress_ipv6() {
    if require_privileges("pod_side_ingress_ipv6") {
        run_capture(true, Hook::TcIngress, TcLinks::Auto);
    }
}

#[test]
fn curl_requests_are_captured_exactly() {
    if !require_privileges("curl_requests_are_captured_exactly") {
        return;
    }
    let topo = Topology::new(0);
    let mut agent = Agent::load();
    let _a = agent
        .dp
        .attach(&AttachPoint {
            iface: topo.pod.host_iface.clone(),
            netns: Some(NetnsPath(topo.node.path())),
            hook: Hook::TcEgress,
        })
        .expect("attach");
    agent.capture(topo.pod.ip4.into(), CAPTURED_PORT, SAMPLE_ALL);
    let server = RecordingServer::start(
        &topo.pod.ns,
        SocketAddr::new(topo.pod.ip4.into(), CAPTURED_PORT),
    );
    let dir = std::env::temp_dir().join(format!("shadowtap-curl-{}", topo.tag()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("body");
    std::fs::write(&file, vec![b'x'; 300 * 1024]).expect("body file");
    let url = format!("http://{}:{CAPTURED_PORT}/upload", topo.pod.ip4);
    let data = format!("@{}", file.display());
    topo.client.ns.exec(&[
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-H",
        "Expect:",
        "--data-binary",
        &data,
        &url,
    ]);
    topo.client
        .ns
        .exec(&["curl", "-sS", "-o", "/dev/null", &url, &url]);
    agent.expect_streams_equal(&server);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(*server.requests.lock().expect("lock"), 3);
}

#[test]
fn detach_leaves_nothing_of_ours_and_keeps_others() {
    if !require_privileges("detach_leaves_nothing_of_ours_and_keeps_others") {
        return;
    }
    let topo = Topology::new(0);
    let iface = topo.pod.host_iface.clone();
    let node = NetnsPath(topo.node.path());
    // Someone else's state on the interface: a root qdisc and a TCX program of another
    // loaded object.
    topo.node.exec(&[
        "tc", "qdisc", "add", "dev", &iface, "root", "handle", "1:", "htb",
    ]);
    let mut theirs = Agent::load();
    if !theirs.dp.uses_tcx() {
        // clsact::detach_leaves_nothing_of_ours_and_keeps_others checks the same on this
        // kernel's attach path.
        eprintln!("no TCX on this kernel: the TCX order and detach checks do not apply");
        return;
    }
    let point = AttachPoint {
        iface: iface.clone(),
        netns: Some(node.clone()),
        hook: Hook::TcEgress,
    };
    let _their_link = theirs.dp.attach(&point).expect("their attach");
    let their_id = theirs.dp.tc().expect("tc").info().expect("info").id();

    let mut ours = Agent::load();
    let our_id = ours.dp.tc().expect("tc").info().expect("info").id();
    let attached = |iface: &str| -> Vec<u32> {
        in_netns(Some(&node), || {
            SchedClassifier::query_tcx(iface, TcAttachType::Egress)
                .expect("query tcx")
                .1
                .iter()
                .map(|p| p.id())
                .collect()
        })
        .expect("netns")
    };
    let link = ours.dp.attach(&point).expect("attach");
    let before = attached(&iface);
    assert_eq!(before.first(), Some(&our_id), "ours runs first: {before:?}");
    assert!(before.contains(&their_id));
    link.detach();
    // The link goes when its last descriptor closes; a process forked by a concurrent test
    // may hold a copy until it execs (close-on-exec), so wait for it, bounded.
    wait::until("our link to be released", Duration::from_secs(10), || {
        (attached(&iface) == vec![their_id]).then_some(())
    });
    let qdiscs = topo.node.exec(&["tc", "qdisc", "show", "dev", &iface]);
    assert!(String::from_utf8_lossy(&qdiscs.stdout).contains("htb"));
    // Dropping the loaded object also leaves theirs alone.
    drop(ours);
    assert_eq!(attached(&iface), vec![their_id]);
}
