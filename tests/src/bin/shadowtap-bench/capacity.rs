//! `capacity`: mirror capacity at 100 %.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use shadowtap_tests::{
    http_server::concurrent_lockstep,
    privileged,
    scenario::{metric_sum, metric_value, route_yaml, shadowtap_binary, Mirror, Rate, Scenario},
};

use crate::{usage::agent_usage, write_result, PORT};

/// Mirror capacity at 100 %: closed-loop load on foo-v1 with shadowtap mirroring every
/// request to foo-v2; per request size, the rate reached, mirrored vs sent (losses counted by
/// reason by the agent), agent CPU per mirrored request and peak RSS.
pub fn run() {
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
