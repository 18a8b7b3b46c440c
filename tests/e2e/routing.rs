//! End to end: only requests won by a labelled rule with a RequestMirror filter are
//! mirrored; mirrored requests are never mirrored again; route edits apply live.

use std::{net::SocketAddr, time::Duration};

use shadowtap_harness::{
    http_server::send_requests,
    require_privileges,
    scenario::{route_yaml, route_yaml_for, shadowtap_binary, Mirror, Rate, Scenario, PORT},
    wait,
};

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: foo\r\n\r\n").into_bytes()
}

fn all(service: &'static str) -> Vec<Mirror> {
    vec![Mirror {
        service,
        rate: Rate::Unset,
    }]
}

#[test]
fn only_requests_won_by_a_labelled_mirroring_rule_are_mirrored() {
    if !require_privileges("only_requests_won_by_a_labelled_mirroring_rule_are_mirrored") {
        return;
    }
    // Labelled: /api mirrors everything to foo-v2. Unlabelled, more specific: /api/private
    // (its own mirror to foo-v3 is not shadowtap's and must be ignored).
    let mut s = Scenario::new(&route_yaml("foo-route", true, Some("/api"), &all("foo-v2")));
    s.write_routes(
        "private.yaml",
        &route_yaml("private-route", false, Some("/api/private"), &all("foo-v3")),
    );
    s.start_agent(&shadowtap_binary(), &[]);
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let paths = [
        "/api/a",
        "/api",
        "/apix",
        "/other",
        "/api/private/x",
        "/api/b",
    ];
    send_requests(
        &s.topo.client.ns,
        v1,
        paths.iter().map(|p| get(p)).collect(),
    );
    wait::until(
        "the agent to decode every request",
        Duration::from_secs(30),
        || {
            (s.metric("shadowtap_reconstruct_requests_total{outcome=\"emitted\"}") as u64 == 6)
                .then_some(())
        },
    );
    wait::until("the mirrors", Duration::from_secs(30), || {
        (s.v2.count() == 3).then_some(())
    });
    let mirrored: Vec<String> =
        s.v2.requests()
            .iter()
            .map(|r| {
                String::from_utf8_lossy(r)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
    for p in ["/api/a", "/api", "/api/b"] {
        assert!(
            mirrored.contains(&format!("GET {p} HTTP/1.1")),
            "{p} not mirrored: {mirrored:?}"
        );
    }
    assert_eq!(
        s.v3.count(),
        0,
        "an unlabelled route's mirror is not shadowtap's"
    );
    assert_eq!(
        s.metric("shadowtap_requests_total{outcome=\"no_rule\"}"),
        2.0
    );
    assert_eq!(
        s.metric("shadowtap_requests_total{outcome=\"won_by_unlabelled\"}"),
        1.0
    );
}

#[test]
fn mirrored_requests_are_never_mirrored_again() {
    if !require_privileges("mirrored_requests_are_never_mirrored_again") {
        return;
    }
    // foo-v2 runs on this node and has its own labelled route mirroring to foo-v3: the
    // agent captures foo-v2 too. Replayed requests reach foo-v2 over the agent's own
    // connections (skipped in the kernel) and carry the marker (skipped in user space).
    let mut s = Scenario::with_v2_node(
        &route_yaml("foo-route", true, None, &all("foo-v2")),
        "node-a",
    );
    s.write_routes(
        "v2.yaml",
        &route_yaml_for("foo-v2-route", "foo-v2", true, None, &all("foo-v3")),
    );
    s.start_agent(&shadowtap_binary(), &[]);
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    send_requests(
        &s.topo.client.ns,
        v1,
        (0..10).map(|i| get(&format!("/{i}"))).collect(),
    );
    wait::until("the mirrors", Duration::from_secs(30), || {
        (s.v2.count() == 10).then_some(())
    });
    wait::until("own flows to be skipped", Duration::from_secs(30), || {
        (s.metric("shadowtap_kernel_packets_total{outcome=\"own_flow\"}") > 0.0).then_some(())
    });
    // A client that itself sends a request with the marker to foo-v2 (as an agent on
    // another node would): captured, decoded, recognised, not mirrored.
    let v2 = SocketAddr::new(s.topo.extra[1].ip4.into(), PORT);
    send_requests(
        &s.topo.client.ns,
        v2,
        vec![
            b"GET /from-another-node HTTP/1.1\r\nHost: foo\r\nX-Shadowtap-Mirrored: 1\r\n\r\n"
                .to_vec(),
        ],
    );
    wait::until(
        "the marked request to be decoded",
        Duration::from_secs(30),
        || (s.metric("shadowtap_requests_total{outcome=\"marked\"}") == 1.0).then_some(()),
    );
    assert_eq!(s.v3.count(), 0, "a mirrored request was mirrored again");
    // Traffic from a client to foo-v2 without the marker is mirrored to foo-v3.
    send_requests(&s.topo.client.ns, v2, vec![get("/direct")]);
    wait::until(
        "the direct request's mirror",
        Duration::from_secs(30),
        || (s.v3.count() == 1).then_some(()),
    );
}

#[test]
fn route_edits_apply_while_traffic_flows() {
    if !require_privileges("route_edits_apply_while_traffic_flows") {
        return;
    }
    let mut s = Scenario::new(&route_yaml("foo-route", true, None, &all("foo-v2")));
    s.start_agent(&shadowtap_binary(), &[]);
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    send_requests(
        &s.topo.client.ns,
        v1,
        (0..20).map(|i| get(&format!("/a{i}"))).collect(),
    );
    wait::until("mirrors at 100 %", Duration::from_secs(30), || {
        (s.v2.count() == 20).then_some(())
    });

    // Switch the mirror to foo-v3 at 100 %: later requests go there.
    s.write_routes(
        "route.yaml",
        &route_yaml("foo-route", true, None, &all("foo-v3")),
    );
    wait::until("the new plan", Duration::from_secs(30), || {
        send_requests(&s.topo.client.ns, v1, vec![get("/probe")]);
        (s.v3.count() > 0).then_some(())
    });
    let v2_before = s.v2.count();
    send_requests(
        &s.topo.client.ns,
        v1,
        (0..20).map(|i| get(&format!("/b{i}"))).collect(),
    );
    wait::until("mirrors to foo-v3", Duration::from_secs(30), || {
        (s.v3
            .requests()
            .iter()
            .filter(|r| r.starts_with(b"GET /b"))
            .count()
            == 20)
            .then_some(())
    });
    assert_eq!(
        s.v2.count(),
        v2_before,
        "the old mirror still received requests"
    );

    // A broken edit (a misspelt field) is rejected; the previous routes stay in force.
    s.write_routes(
        "route.yaml",
        &route_yaml("foo-route", true, None, &all("foo-v3"))
            .replace("port: 8080\n      ", "port: 8080\n      percnt: 42\n      "),
    );
    send_requests(
        &s.topo.client.ns,
        v1,
        (0..5).map(|i| get(&format!("/c{i}"))).collect(),
    );
    wait::until(
        "mirrors under the previous routes",
        Duration::from_secs(30),
        || {
            (s.v3
                .requests()
                .iter()
                .filter(|r| r.starts_with(b"GET /c"))
                .count()
                == 5)
                .then_some(())
        },
    );
    assert_eq!(s.stop_agent(), Some(0));
}

#[test]
fn route_annotations_rewrite_host_and_remove_headers() {
    if !require_privileges("route_annotations_rewrite_host_and_remove_headers") {
        return;
    }
    let route = route_yaml("foo-route", true, None, &all("foo-v2")).replacen(
        "  namespace: default\n",
        "  namespace: default\n  annotations:\n    shadowtap.dev/mirror-host: shadow.example\n    shadowtap.dev/mirror-remove-headers: Authorization, Cookie\n",
        1,
    );
    let mut s = Scenario::new(&route);
    s.start_agent(&shadowtap_binary(), &[]);
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    send_requests(
        &s.topo.client.ns,
        v1,
        vec![b"GET /secret HTTP/1.1\r\nHost: foo.example\r\nAuthorization: Bearer x\r\nX-Keep: 1\r\nCookie: a=b\r\n\r\n".to_vec()],
    );
    wait::until("the mirror", Duration::from_secs(30), || {
        (s.v2.count() == 1).then_some(())
    });
    let got = String::from_utf8_lossy(&s.v2.requests()[0]).into_owned();
    assert!(
        got.starts_with("GET /secret HTTP/1.1\r\nHost: shadow.example\r\n"),
        "{got}"
    );
    assert!(got.contains("\r\nX-Keep: 1\r\n"), "{got}");
    let lower = got.to_ascii_lowercase();
    assert!(
        !lower.contains("authorization") && !lower.contains("cookie"),
        "{got}"
    );
    // The client's own request is untouched.
    let original = String::from_utf8_lossy(&s.v1_requests()[0]).into_owned();
    assert!(original.contains("Authorization: Bearer x") && original.contains("Host: foo.example"));
}
