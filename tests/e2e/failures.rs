//! End to end: mirror backends that are down or black-holed never affect the client; every
//! mirror is sent or dropped with a counted reason; healthy mirrors keep working.

use std::{
    net::{SocketAddr, TcpListener},
    time::Duration,
};

use shadowtap_harness::{
    http_server::send_requests,
    require_privileges,
    scenario::{
        metric_sum, metric_value, route_yaml, service_yaml_port, shadowtap_binary, Mirror, Rate,
        Scenario, PORT,
    },
    wait,
};

const DEAD_PORT: u16 = 9997;
const HOLE_PORT: u16 = 9998;

#[test]
fn dead_and_black_holed_mirrors_drop_and_count_without_touching_clients() {
    if !require_privileges("dead_and_black_holed_mirrors_drop_and_count_without_touching_clients") {
        return;
    }
    let mirrors = [
        Mirror {
            service: "foo-v2",
            rate: Rate::Unset,
        },
        Mirror {
            service: "foo-dead",
            rate: Rate::Unset,
        },
        Mirror {
            service: "foo-hole",
            rate: Rate::Unset,
        },
    ];
    let mut s = Scenario::new(&route_yaml("foo-route", true, None, &mirrors));
    let v3_ip = s.topo.extra[2].ip4;
    // foo-dead: nothing listens. foo-hole: accepts, never reads or answers.
    let hole = SocketAddr::new(v3_ip.into(), HOLE_PORT);
    let (tx, rx) = std::sync::mpsc::channel();
    s.topo.extra[2].ns.spawn(move || {
        let l = TcpListener::bind(hole).expect("bind hole");
        tx.send(()).expect("bound");
        let mut held = Vec::new();
        for c in l.incoming().take(64) {
            held.push(c);
        }
        std::thread::sleep(Duration::from_secs(120));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("hole bound");
    s.write_routes(
        "broken-backends.yaml",
        &[
            service_yaml_port(
                "foo-dead",
                &[("foo-v3-a", v3_ip.into())],
                "node-b",
                DEAD_PORT,
            ),
            service_yaml_port(
                "foo-hole",
                &[("foo-v3-a", v3_ip.into())],
                "node-b",
                HOLE_PORT,
            ),
        ]
        .join("---\n"),
    );
    s.start_agent(&shadowtap_binary(), &["--mirror-timeout-ms", "300"]);
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let n = 60u64;
    for i in 0..n {
        // Every client request succeeds (send_requests reads its response).
        send_requests(
            &s.topo.client.ns,
            v1,
            vec![format!("GET /{i} HTTP/1.1\r\nHost: foo\r\n\r\n").into_bytes()],
        );
    }
    assert_eq!(s.v1_count(), n);
    wait::until(
        "the healthy mirror to get every request",
        Duration::from_secs(30),
        || (s.v2.count() == n).then_some(()),
    );
    let backend = |name: &str| format!("backend=\"default/{name}:{PORT}\"");
    let outcome = wait::until(
        "every broken mirror to be dropped",
        Duration::from_secs(60),
        || {
            let m = s.metrics();
            let dead = metric_sum(
                &m,
                "shadowtap_mirror_requests_total",
                &[&backend("foo-dead")],
                &[],
            );
            let hole = metric_sum(
                &m,
                "shadowtap_mirror_requests_total",
                &[&backend("foo-hole")],
                &[],
            );
            (dead as u64 == n && hole as u64 == n).then_some(m)
        },
    );
    let dead_ok = metric_sum(
        &outcome,
        "shadowtap_mirror_requests_total",
        &[&backend("foo-dead"), "outcome=\"sent\""],
        &[],
    );
    let hole_ok = metric_sum(
        &outcome,
        "shadowtap_mirror_requests_total",
        &[&backend("foo-hole"), "outcome=\"sent\""],
        &[],
    );
    assert_eq!((dead_ok, hole_ok), (0.0, 0.0));
    let refused = metric_sum(
        &outcome,
        "shadowtap_mirror_requests_total",
        &[&backend("foo-dead")],
        &["outcome=\"sent\""],
    );
    assert_eq!(
        refused as u64, n,
        "every dead-backend mirror dropped with a reason"
    );
    assert!(
        outcome.contains(&format!(
            "{},outcome=\"connect_refused\"}}",
            backend("foo-dead")
        )) || outcome.contains(&format!(
            "{},outcome=\"backend_down\"}}",
            backend("foo-dead")
        )),
        "{outcome}"
    );
    assert!(
        metric_sum(
            &outcome,
            "shadowtap_mirror_requests_total",
            &[&backend("foo-hole"), "outcome=\"response_timeout\""],
            &[]
        ) > 0.0,
        "black hole counted as response_timeout"
    );
    assert!(metric_value(&outcome, "shadowtap_mirror_queue_bytes") <= (64 << 20) as f64);
    assert_eq!(s.stop_agent(), Some(0));
}
