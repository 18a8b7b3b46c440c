//! Replayed requests are byte-exact (plus the marker), and responses of every framing are
//! read to their end on reused keep-alive connections.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use shadowtap_mirror::{DropReason, ReplayConfig, RewriteOptions};
use support::*;

const MARKER: &str = "x-shadowtap-mirrored: 1";

#[tokio::test]
async fn requests_are_replayed_byte_for_byte() {
    let server = Recorder::ok().await;
    let r = replayer(test_config());
    let id = backend("exact");
    r.set_endpoints(&id, vec![server.addr]);
    let cases: Vec<(String, Vec<u8>)> = vec![
        (
            "GET /a/b?x=1&y=%20 HTTP/1.1\r\nhost: App.Example:8080\r\nX-Zeta: z\r\nACCEPT:  */* \r\nx-alpha: a\r\n\r\n".into(),
            vec![],
        ),
        (
            "POST /submit HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n".into(),
            b"{\"k\":\"v\\n\"}\r\n".to_vec(),
        ),
        (
            "PUT /up HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n".into(),
            b"5;ext=1\r\nhello\r\n0006\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n".to_vec(),
        ),
        (
            "DELETE /x HTTP/1.1\r\nHost: app\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n".into(),
            b"abc".to_vec(),
        ),
    ];
    for (head, body) in &cases {
        // One at a time, so arrival order is known.
        let n = server.count();
        r.submit(&id, request(head, body)).unwrap();
        server.wait_for(n + 1).await;
    }
    let got = server.recorded();
    for ((head, body), rec) in cases.iter().zip(&got) {
        assert_eq!(
            String::from_utf8_lossy(&rec.raw),
            String::from_utf8_lossy(&with_marker(head, MARKER, body))
        );
    }
    let s = settled(&r, &id, 4).await;
    assert_eq!(s.sent, 4);
    assert_eq!(s.responses.get("2xx"), Some(&4));
    assert_eq!(server.accepted(), 1, "one keep-alive connection");
}

#[tokio::test]
async fn large_body_is_exact() {
    let server = Recorder::ok().await;
    let r = replayer(test_config());
    let id = backend("large");
    r.set_endpoints(&id, vec![server.addr]);
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let head = format!(
        "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    r.submit(&id, request(&head, &body)).unwrap();
    let got = server.wait_for(1).await;
    assert!(got[0].raw == with_marker(&head, MARKER, &body));
    assert_eq!(settled(&r, &id, 1).await.sent, 1);
}

#[tokio::test]
async fn head_interim_and_bodiless_responses_keep_the_connection() {
    let server = Recorder::start(|_, raw| {
        let reply: &[u8] = if raw.starts_with(b"HEAD") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
        } else if raw.starts_with(b"GET /continue") {
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew"
        } else if raw.starts_with(b"GET /204") {
            b"HTTP/1.1 204 No Content\r\n\r\n"
        } else if raw.starts_with(b"GET /304") {
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 77\r\n\r\n"
        } else if raw.starts_with(b"GET /chunked") {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5;x=y\r\npedia\r\n0\r\nTrailer: t\r\n\r\n"
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        };
        Reply::Send(reply.to_vec())
    })
    .await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("framing");
    r.set_endpoints(&id, vec![server.addr]);
    let heads = [
        "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /continue HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /204 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /304 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    for h in heads {
        r.submit(&id, request(h, b"")).unwrap();
    }
    let s = settled(&r, &id, heads.len() as u64).await;
    assert_eq!(s.sent, heads.len() as u64, "{s:?}");
    assert_eq!(s.responses.get("2xx"), Some(&4));
    assert_eq!(s.responses.get("3xx"), Some(&1));
    assert_eq!(s.responses.get("4xx"), Some(&1));
    assert_eq!(
        s.responses.get("1xx"),
        None,
        "interim responses are not final"
    );
    assert_eq!(
        server.accepted(),
        1,
        "every framing leaves the connection reusable"
    );
    let got = server.recorded();
    for (h, rec) in heads.iter().zip(&got) {
        assert_eq!(rec.raw, with_marker(h, MARKER, b""));
    }
}

#[tokio::test]
async fn close_delimited_response_is_not_reused() {
    let server = Recorder::start(|_, _| {
        Reply::SendClose(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close".to_vec())
    })
    .await;
    // One request per exchange: requests pipelined behind a close-delimited answer are
    // not sent again (pipelining.rs).
    let r = replayer(ReplayConfig {
        max_connections: 1,
        pipeline_depth: 1,
        ..test_config()
    });
    let id = backend("close");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..3 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 3).await;
    assert_eq!(s.sent, 3, "{s:?}");
    assert_eq!(
        server.accepted(),
        3,
        "one connection per close-delimited response"
    );
}

#[tokio::test]
async fn connection_close_and_http10_are_not_reused() {
    let server = Recorder::start(|_, raw| {
        if raw.starts_with(b"GET /10") {
            Reply::SendClose(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec())
        } else {
            Reply::SendClose(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            )
        }
    })
    .await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("conn-close");
    r.set_endpoints(&id, vec![server.addr]);
    r.submit(&id, request("GET /10 HTTP/1.0\r\n\r\n", b""))
        .unwrap();
    r.submit(
        &id,
        request("GET /11 HTTP/1.1\r\nConnection: close\r\n\r\n", b""),
    )
    .unwrap();
    r.submit(&id, request("GET /11 HTTP/1.1\r\nHost: a\r\n\r\n", b""))
        .unwrap();
    let s = settled(&r, &id, 3).await;
    assert_eq!(s.sent, 3, "{s:?}");
    assert_eq!(server.accepted(), 3);
}

#[tokio::test]
async fn keep_alive_reuses_few_connections() {
    let server = Recorder::ok().await;
    let r = replayer(ReplayConfig {
        max_connections: 2,
        ..test_config()
    });
    let id = backend("reuse");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..200 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 200).await;
    assert_eq!(s.sent, 200, "{s:?}");
    assert!(server.accepted() <= 2, "accepted {}", server.accepted());
    assert!(s.connections <= 2);
    assert_eq!(server.count(), 200);
}

#[tokio::test]
async fn header_edits_host_removal_and_custom_marker() {
    let server = Recorder::ok().await;
    let r = replayer(ReplayConfig {
        marker_name: "X-Shadow".into(),
        marker_value: "yes".into(),
        ..test_config()
    });
    let id = backend("edits");
    r.set_backend(
        &id,
        RewriteOptions {
            host: Some("shadow.svc:8080".into()),
            remove_headers: vec!["authorization".into(), "COOKIE".into()],
        },
    )
    .unwrap();
    r.set_endpoints(&id, vec![server.addr]);
    let head = "GET / HTTP/1.1\r\nHOST: app.example\r\nAuthorization: Bearer t\r\nX-Keep: 1\r\ncookie: a=b\r\nX-Shadow: old\r\n\r\n";
    r.submit(&id, request(head, b"")).unwrap();
    let got = server.wait_for(1).await;
    assert_eq!(
        String::from_utf8_lossy(&got[0].raw),
        "GET / HTTP/1.1\r\nHOST: shadow.svc:8080\r\nX-Keep: 1\r\nX-Shadow: yes\r\n\r\n"
    );
    assert!(r
        .set_backend(
            &id,
            RewriteOptions {
                host: Some("bad\r\nhost".into()),
                remove_headers: vec![],
            }
        )
        .is_err());
    assert_eq!(settled(&r, &id, 1).await.sent, 1);
}

#[tokio::test]
async fn unknown_backend_and_no_endpoints_are_refused() {
    let r = replayer(test_config());
    assert_eq!(
        r.submit(&backend("nope"), get(0)),
        Err(DropReason::UnknownBackend)
    );
    assert_eq!(r.snapshot().unknown_backend, 1);
    let id = backend("empty");
    r.set_endpoints(&id, vec![]);
    assert_eq!(r.submit(&id, get(1)), Err(DropReason::NoEndpoints));
    let s = settled(&r, &id, 1).await;
    assert_eq!(s.dropped(DropReason::NoEndpoints), 1);
}

#[tokio::test]
async fn idle_connection_closed_by_backend_is_not_used() {
    // The response claims keep-alive, but the server closes right after it.
    let server = Recorder::start(|_, _| {
        Reply::SendClose(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec())
    })
    .await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("stale");
    r.set_endpoints(&id, vec![server.addr]);
    r.submit(&id, get(0)).unwrap();
    settled(&r, &id, 1).await;
    eventually("server closed the connection", || {
        server.closed.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    r.submit(&id, get(1)).unwrap();
    let s = settled(&r, &id, 2).await;
    assert_eq!(s.sent, 2, "{s:?}");
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn metrics_are_registered_with_bounded_labels() {
    let server = Recorder::ok().await;
    let r = replayer(test_config());
    let id = backend("metrics");
    r.set_endpoints(&id, vec![server.addr]);
    r.submit(&id, get(0)).unwrap();
    settled(&r, &id, 1).await;
    let mut registry = prometheus_client::registry::Registry::with_prefix("shadowtap");
    r.metrics().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    for needle in [
        "shadowtap_mirror_requests_total{backend=\"test/metrics:8080\",outcome=\"sent\"} 1",
        "shadowtap_mirror_requests_total{backend=\"test/metrics:8080\",outcome=\"queue_full\"} 0",
        "shadowtap_mirror_responses_total{backend=\"test/metrics:8080\",class=\"2xx\"} 1",
        "shadowtap_mirror_latency_seconds_count{backend=\"test/metrics:8080\"} 1",
        "shadowtap_mirror_queue_bytes 0",
        "shadowtap_mirror_queue_depth{backend=\"test/metrics:8080\"} 0",
        "shadowtap_mirror_connections{backend=\"test/metrics:8080\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}
