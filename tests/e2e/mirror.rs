//! End to end: `shadowtap agent --routes` in a node namespace mirrors real client traffic to
//! foo-v1's pods to the mirror backends, over the real kernel data path.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use shadowtap_harness::{
    http_server::send_requests,
    require_privileges,
    scenario::{foo_route_to_v2, shadowtap_binary, strip_marker, Rate, Scenario, PORT},
    wait,
};

const MARKER: &str = "x-shadowtap-mirrored";

fn multiset(reqs: Vec<Vec<u8>>) -> HashMap<Vec<u8>, usize> {
    let mut m = HashMap::new();
    for r in reqs {
        *m.entry(r).or_default() += 1;
    }
    m
}

#[test]
fn every_request_is_mirrored_byte_for_byte_at_100_percent() {
    if !require_privileges("every_request_is_mirrored_byte_for_byte_at_100_percent") {
        return;
    }
    let mut s = Scenario::new(&foo_route_to_v2(Rate::Percent(100)));
    s.start_agent(&shadowtap_binary(), &[]);
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let v1_6 = SocketAddr::new(s.v1_ip(true), PORT);
    let client = &s.topo.client.ns;

    // Keep-alive, pipelined (all written before any response is read), odd header case.
    let gets: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("GET /items/{i}?q={i} HTTP/1.1\r\nHost: foo.example\r\nX-Trace-ID: t{i}\r\naccept: */*\r\n\r\n").into_bytes())
        .collect();
    send_requests(client, v1, gets);
    // Chunked upload with an extension and a trailer.
    let chunked = b"POST /upload HTTP/1.1\r\nHost: foo.example\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n".to_vec();
    send_requests(client, v1, vec![chunked]);
    // A 4 MiB body.
    let body: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut big = format!(
        "POST /big HTTP/1.1\r\nHost: foo.example\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    big.extend_from_slice(&body);
    send_requests(client, v1, vec![big]);
    // IPv6.
    send_requests(
        client,
        v1_6,
        vec![b"GET /v6 HTTP/1.1\r\nHost: foo.example\r\n\r\n".to_vec()],
    );
    // Expect: 100-continue from curl (the server answers 100 Continue, then curl sends).
    let url = format!("http://{v1}/continue");
    client.exec(&[
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "some body bytes",
        &url,
    ]);

    let sent = s.v1_count();
    assert_eq!(sent, 24);
    wait::until(
        "every request to reach the mirror",
        Duration::from_secs(30),
        || (s.v2.count() >= sent).then_some(()),
    );
    let originals = multiset(s.v1_requests());
    let mirrored = s.v2.requests();
    assert!(
        mirrored.iter().all(|r| String::from_utf8_lossy(r)
            .to_ascii_lowercase()
            .contains(&format!("\r\n{MARKER}: 1\r\n"))),
        "every replayed request carries the marker"
    );
    let mirrored = multiset(mirrored.iter().map(|r| strip_marker(r, MARKER)).collect());
    assert_eq!(mirrored.len(), originals.len());
    assert!(
        mirrored == originals,
        "mirrored requests differ from what foo-v1 received"
    );
    assert_eq!(s.v3.count(), 0);
    // Counters are published a few times a second: wait for the snapshot to catch up.
    wait::until(
        "the agent to count every request",
        Duration::from_secs(30),
        || {
            (s.metric("shadowtap_reconstruct_requests_total{outcome=\"emitted\"}") == 24.0)
                .then_some(())
        },
    );
    assert_eq!(s.stop_agent(), Some(0), "clean exit on SIGTERM");
}

#[test]
fn pod_side_attach_mode_mirrors_too() {
    if !require_privileges("pod_side_attach_mode_mirrors_too") {
        return;
    }
    // The agent finds the namespace that owns each pod IP (`ip netns` bind mounts and
    // /proc/<pid>/ns/net) and attaches TC ingress to the pod's own interface.
    let mut s = Scenario::new(&foo_route_to_v2(Rate::Percent(100)));
    s.start_agent(&shadowtap_binary(), &["--attach", "pod"]);
    let client = &s.topo.client.ns;
    for v6 in [false, true] {
        let v1 = SocketAddr::new(s.v1_ip(v6), PORT);
        let reqs: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("GET /pod-side/{v6}/{i} HTTP/1.1\r\nHost: foo\r\n\r\n").into_bytes())
            .collect();
        send_requests(client, v1, reqs);
    }
    wait::until(
        "every request to reach the mirror",
        Duration::from_secs(30),
        || (s.v2.count() == 20).then_some(()),
    );
    let originals = multiset(s.v1_requests());
    let mirrored = multiset(
        s.v2.requests()
            .iter()
            .map(|r| strip_marker(r, MARKER))
            .collect(),
    );
    assert!(
        mirrored == originals,
        "mirrored requests differ from what foo-v1 received"
    );
    assert!(
        s.metric("shadowtap_attached_interfaces") >= 2.0,
        "both foo-v1 pods attached"
    );
    assert_eq!(s.stop_agent(), Some(0));
}
