//! Shadow comparison end to end: foo-v2 differs from foo-v1 on purpose — a 500 instead of
//! a 200 on one path, a different body on another, 50 ms slower on a third, identical
//! elsewhere — and every mirrored pair, over keep-alive and pipelined connections, lands in
//! its outcome; the mirror's latency histogram shows the slow path; hostile primary
//! responses (bad framing, truncation, an early close) are counted as unseen and never
//! mis-pair the requests after them; `shadowtap diff` and `shadowtap status` show it all.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

use shadowtap_harness::{
    http_server::{Answer, Responder},
    require_privileges,
    scenario::{
        foo_route_to_v2_annotated, metric_sum, shadowtap_binary, Rate, Scenario, METRICS, PORT,
    },
    topology::Netns,
    wait,
};

/// The request's path.
fn path_of(raw: &[u8]) -> String {
    let line = String::from_utf8_lossy(raw);
    line.split(' ').nth(1).unwrap_or_default().to_owned()
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// foo-v1: the reference answers, and the hostile ones.
fn primary() -> Responder {
    Arc::new(|raw: &[u8]| match path_of(raw).as_str() {
        "/hostile/bad-framing" => {
            Answer::Send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec())
        }
        "/hostile/truncated" => {
            Answer::SendClose(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc".to_vec())
        }
        "/hostile/early-close" => Answer::SendClose(Vec::new()),
        p => Answer::Send(ok(&format!("hello from {p}"))),
    })
}

/// foo-v2: the deliberate differences.
fn mirror() -> Responder {
    Arc::new(|raw: &[u8]| match path_of(raw).as_str() {
        "/status" => {
            // The same answer with status 500.
            let mut r = ok("hello from /status");
            r[9..12].copy_from_slice(b"500");
            Answer::Send(r)
        }
        "/body" => Answer::Send(ok("HELLO FROM /body, v2")),
        "/slow" => Answer::SendAfter(ok("hello from /slow"), Duration::from_millis(50)),
        p => Answer::Send(ok(&format!("hello from {p}"))),
    })
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: foo.example\r\n\r\n").into_bytes()
}

/// One connection from the client: the requests (all at once when `pipelined`, else one
/// at a time), reading until `until` is in what came back or the server closes.
fn converse(
    ns: &Netns,
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    pipelined: bool,
    until: &'static str,
) {
    ns.spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut read_until = |s: &mut TcpStream, got: &mut Vec<u8>, want: usize| {
            while String::from_utf8_lossy(got).matches(until).count() < want {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
            true
        };
        if pipelined {
            for r in &requests {
                s.write_all(r).expect("write");
            }
            read_until(&mut s, &mut got, 1);
        } else {
            for (i, r) in requests.iter().enumerate() {
                s.write_all(r).expect("write");
                if !read_until(&mut s, &mut got, i + 1) {
                    break;
                }
            }
        }
    })
    .join()
    .expect("client");
}

fn outcome(text: &str, outcome: &str) -> f64 {
    metric_sum(
        text,
        "shadowtap_route_comparisons_total",
        &[&format!("outcome=\"{outcome}\"")],
        &[],
    )
}

#[test]
fn every_pair_lands_in_its_outcome() {
    if !require_privileges("every_pair_lands_in_its_outcome") {
        return;
    }
    let route = foo_route_to_v2_annotated(Rate::Percent(100), &[("shadowtap.dev/compare", "body")]);
    let mut s = Scenario::answering(&route, primary(), mirror());
    s.start_agent(&shadowtap_binary(), &["--compare-pair-timeout-ms", "20000"]);
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let client = &s.topo.client.ns;

    // Keep-alive, one request at a time: 10 of each path.
    let paths = ["/same", "/status", "/body", "/slow"];
    let mut keepalive = Vec::new();
    for _ in 0..10 {
        for p in paths {
            keepalive.push(get(p));
        }
    }
    converse(client, v1, keepalive, false, "\r\n\r\n");
    // Pipelined: everything written before any response is read; the last answer ends it.
    let mut pipelined: Vec<Vec<u8>> = Vec::new();
    for _ in 0..2 {
        for p in paths {
            pipelined.push(get(p));
        }
    }
    pipelined.push(get("/last"));
    converse(client, v1, pipelined, true, "hello from /last");
    // Hostile primaries: bad framing (the connection stays open, a request follows on it),
    // truncation, a close with no response at all.
    converse(
        client,
        v1,
        vec![get("/hostile/bad-framing"), get("/after-bad-framing")],
        true,
        "hello from /after-bad-framing",
    );
    converse(client, v1, vec![get("/hostile/truncated")], true, "never");
    converse(client, v1, vec![get("/hostile/early-close")], true, "never");
    // A clean connection afterwards compares again.
    converse(
        client,
        v1,
        (0..5).map(|_| get("/same")).collect(),
        false,
        "\r\n\r\n",
    );

    let mirrored: u32 = 40 + 9 + 2 + 1 + 1 + 5;
    wait::until("every pair to finish", Duration::from_secs(60), || {
        let text = s.metrics();
        let done = metric_sum(&text, "shadowtap_route_comparisons_total", &[], &[]);
        (done >= f64::from(mirrored)).then_some(text)
    });
    let text = s.metrics();
    assert_eq!(
        outcome(&text, "same"),
        10.0 + 10.0 + 2.0 + 2.0 + 1.0 + 5.0,
        "{text}"
    );
    assert_eq!(outcome(&text, "status_class_differs"), 12.0);
    assert_eq!(outcome(&text, "body_differs"), 12.0);
    assert_eq!(outcome(&text, "primary_unseen"), 4.0);
    for o in [
        "status_differs",
        "headers_differ",
        "mirror_failed",
        "pair_timeout",
        "over_budget",
    ] {
        assert_eq!(outcome(&text, o), 0.0, "{o}");
    }
    // Conservation: every registered pair in exactly one outcome, none pending.
    let registered = metric_sum(
        &text,
        "shadowtap_compare_events_total",
        &["event=\"pairs_mirrored\""],
        &[],
    );
    assert_eq!(registered, f64::from(mirrored));
    assert_eq!(
        metric_sum(&text, "shadowtap_compare_pending", &["what=\"pairs\""], &[]),
        0.0
    );
    // The unseen ones, by reason: the bad framing and the request after it, the
    // truncation, the early close.
    let event = |e: &str| {
        metric_sum(
            &text,
            "shadowtap_compare_events_total",
            &[&format!("event=\"{e}\"")],
            &[],
        )
    };
    assert_eq!(event("unseen_bad_framing"), 2.0);
    assert_eq!(event("unseen_truncated"), 1.0);
    assert_eq!(event("unseen_no_response"), 1.0);
    // The slow path shows in the mirror's histogram (buckets 32 ms, 64 ms, ...), not the
    // primary's.
    let above = |metric: &str| {
        metric_sum(&text, &format!("{metric}_count"), &[], &[])
            - metric_sum(&text, &format!("{metric}_bucket"), &["le=\"0.032\""], &[])
    };
    let mirror_slow = above("shadowtap_route_compared_mirror_latency_seconds");
    let primary_slow = above("shadowtap_route_primary_latency_seconds");
    assert!(
        mirror_slow >= 12.0,
        "mirror answers over 32 ms: {mirror_slow}\n{text}"
    );
    assert!(
        primary_slow < mirror_slow,
        "primary over 32 ms: {primary_slow}"
    );
    assert_eq!(
        metric_sum(
            &text,
            "shadowtap_route_compared_mirror_latency_seconds_count",
            &[],
            &[]
        ),
        f64::from(mirrored - 4),
        "latencies of compared pairs only"
    );

    // `shadowtap diff --output json`: the divergent pairs, with their statuses and offsets.
    let binary = shadowtap_binary();
    let out = s.topo.node.exec(&[
        binary.to_str().expect("path"),
        "diff",
        "--metrics-addr",
        METRICS,
        "--output",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("diff json");
    let pairs = doc["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 24, "{doc}");
    let status = pairs
        .iter()
        .find(|p| p["target"] == "/status")
        .expect("a /status pair");
    assert_eq!(status["outcome"], "status_class_differs");
    assert_eq!(
        (
            status["primary_status"].as_u64(),
            status["mirror_status"].as_u64()
        ),
        (Some(200), Some(500))
    );
    let body = pairs
        .iter()
        .find(|p| p["target"] == "/body")
        .expect("a /body pair");
    assert_eq!(body["outcome"], "body_differs");
    assert!(body["first_body_offset"].is_array(), "{body}");
    let table = s.topo.node.exec(&[
        binary.to_str().expect("path"),
        "diff",
        "--metrics-addr",
        METRICS,
    ]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("status_class_differs"), "{table}");
    // `shadowtap status --output json`: the comparison section.
    let status = s.topo.node.exec_unchecked(&[
        binary.to_str().expect("path"),
        "status",
        "--metrics-addr",
        METRICS,
        "--output",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status json");
    let row = &report["comparisons"][0];
    assert_eq!(
        row["compared"].as_u64(),
        Some(u64::from(mirrored - 4)),
        "{report}"
    );
    assert_eq!(row["divergent"].as_u64(), Some(24));
}
