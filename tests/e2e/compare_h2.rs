//! Shadow comparison over HTTP/2 end to end: `nghttpd` serves foo-h2 (captured, compared)
//! and foo-h2-v2 (the mirror) from two document roots that differ on purpose — one file
//! only foo-h2 has (200 against 404), one with other contents of the same length, one
//! identical — and `h2load` requests the three in turn over 2 connections with 8
//! concurrent streams each, so responses to different paths interleave on each
//! connection. Every mirrored request is compared, paired by stream id, and lands in its
//! path's outcome; `shadowtap diff` shows the divergent pairs. And gRPC with real grpcio
//! peers: a foo-grpc-v2 whose client-streaming calls fail (`grpc-status` 5 behind HTTP 200:
//! `status_differs`) and whose server-streaming replies differ (`body_differs`), unary and
//! bidi calls the same.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use shadowtap_harness::{
    grpc::{require_grpcio, run_client, ClientRun, GrpcServer, Mode},
    nghttp2::{h2load_urls, require_tools, Nghttpd},
    require_privileges,
    scenario::{
        metric_sum, route_yaml_for, service_yaml_port, shadowtap_binary, Mirror, Rate, Scenario,
        METRICS, NODE,
    },
    wait,
};

/// Where both nghttpd pods listen.
const H2_PORT: u16 = 8082;

/// A directory removed on drop (document roots and logs).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `files` into the document root `Nghttpd::start` serves for `dir`.
fn document_root(dir: &std::path::Path, files: &[(&str, &str)]) {
    let root = dir.join(format!("nghttpd-root-{H2_PORT}"));
    std::fs::create_dir_all(&root).expect("document root");
    for (name, body) in files {
        std::fs::write(root.join(name), body).expect("file");
    }
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
fn h2_pairs_land_in_their_outcomes() {
    let test = "h2_pairs_land_in_their_outcomes";
    if !require_privileges(test) || !require_tools(test, &["nghttpd", "h2load", "stdbuf"]) {
        return;
    }
    let route = route_yaml_for(
        "foo-h2-route",
        "foo-h2",
        true,
        None,
        &[Mirror {
            service: "foo-h2-v2",
            rate: Rate::Percent(100),
        }],
    )
    .replace(
        "  labels:\n    shadowtap.dev/mirror: enabled\n",
        "  labels:\n    shadowtap.dev/mirror: enabled\n  annotations:\n    shadowtap.dev/compare: body\n    shadowtap.dev/compare-ignore-headers: last-modified, etag\n",
    );
    let mut s = Scenario::new(&route);
    let pod = s.topo.pod.ip4;
    let v2_ip = s.topo.extra[1].ip4;
    s.write_routes(
        "h2c.yaml",
        &[
            service_yaml_port("foo-h2", &[("foo-v1-a", pod.into())], NODE, H2_PORT),
            service_yaml_port(
                "foo-h2-v2",
                &[("foo-v2-a", v2_ip.into())],
                "node-b",
                H2_PORT,
            ),
        ]
        .join("---\n"),
    );
    let dir = TempDir(std::env::temp_dir().join(format!("shadowtap-cmp-h2-{}", s.topo.tag())));
    let (v1_dir, v2_dir) = (dir.0.join("v1"), dir.0.join("v2"));
    document_root(
        &v1_dir,
        &[
            ("same.txt", "the same on both sides\n"),
            ("body.txt", "version one\n"),
            ("gone.txt", "only foo-h2 has this\n"),
        ],
    );
    document_root(
        &v2_dir,
        &[
            ("same.txt", "the same on both sides\n"),
            ("body.txt", "version two\n"),
        ],
    );
    let v1 = Nghttpd::start(
        &s.topo.pod.ns,
        &s.topo.client.ns,
        SocketAddr::new(pod.into(), H2_PORT),
        &v1_dir,
    );
    let v2 = Nghttpd::start(
        &s.topo.extra[1].ns,
        &s.topo.client.ns,
        SocketAddr::new(v2_ip.into(), H2_PORT),
        &v2_dir,
    );
    s.start_agent(&shadowtap_binary(), &["--compare-pair-timeout-ms", "20000"]);

    let base = format!("http://{pod}:{H2_PORT}");
    let urls: Vec<String> = ["same.txt", "body.txt", "gone.txt"]
        .iter()
        .map(|f| format!("{base}/{f}"))
        .collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let n = 96;
    let done = h2load_urls(&s.topo.client.ns, &urls, n, 2, 8);
    assert_eq!(done, n, "h2load's requests all answered");
    let per_path = |p: &str| v1.count_path(p) as f64;
    let (same, body, gone) = (
        per_path("/same.txt"),
        per_path("/body.txt"),
        per_path("/gone.txt"),
    );
    assert_eq!(same + body + gone, n as f64, "foo-h2 served every request");
    assert!(
        same > 0.0 && body > 0.0 && gone > 0.0,
        "{same} {body} {gone}"
    );

    let text = wait::until("every pair to finish", Duration::from_secs(60), || {
        let text = s.metrics();
        let finished = metric_sum(&text, "shadowtap_route_comparisons_total", &[], &[]);
        (finished >= n as f64).then_some(text)
    });
    assert_eq!(outcome(&text, "same"), same, "{text}");
    assert_eq!(outcome(&text, "body_differs"), body, "{text}");
    assert_eq!(outcome(&text, "status_class_differs"), gone, "{text}");
    eprintln!(
        "compare_h2: {n} h2load requests, same {same}, body_differs {body}, \
         status_class_differs {gone}"
    );
    for o in [
        "status_differs",
        "headers_differ",
        "mirror_failed",
        "primary_unseen",
        "pair_timeout",
        "over_budget",
    ] {
        assert_eq!(outcome(&text, o), 0.0, "{o}\n{text}");
    }
    assert_eq!(
        v2.count("/", "x-shadowtap-mirrored", "1"),
        n,
        "every request mirrored, marked"
    );
    // Conservation: every registered pair in exactly one outcome, none pending.
    assert_eq!(
        metric_sum(
            &text,
            "shadowtap_compare_events_total",
            &["event=\"pairs_mirrored\""],
            &[]
        ),
        n as f64
    );
    assert_eq!(
        metric_sum(&text, "shadowtap_compare_pending", &["what=\"pairs\""], &[]),
        0.0
    );
    // Both sides' latencies of every compared pair.
    for family in [
        "shadowtap_route_primary_latency_seconds_count",
        "shadowtap_route_compared_mirror_latency_seconds_count",
    ] {
        assert_eq!(metric_sum(&text, family, &[], &[]), n as f64, "{family}");
    }

    // `shadowtap diff --output json`: the 404s and the other bodies, by path.
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
    assert!(!pairs.is_empty(), "{doc}");
    for p in pairs {
        match p["target"].as_str() {
            Some("/gone.txt") => {
                assert_eq!(p["outcome"], "status_class_differs", "{p}");
                assert_eq!(
                    (p["primary_status"].as_u64(), p["mirror_status"].as_u64()),
                    (Some(200), Some(404)),
                    "{p}"
                );
            }
            Some("/body.txt") => assert_eq!(p["outcome"], "body_differs", "{p}"),
            other => panic!("a divergent pair for {other:?}: {p}"),
        }
    }
}

/// Where both gRPC servers listen.
const GRPC_PORT: u16 = 50051;

/// gRPC with real peers (Python grpcio): foo-grpc answers as usual, foo-grpc-v2 differs on
/// purpose on two methods — client-streaming calls end with `NOT_FOUND` (behind the same
/// HTTP 200: `status_differs` by `grpc-status`), server-streaming replies carry other bytes
/// (`body_differs`) — and answers unary and bidi calls alike (`same`).
#[test]
fn grpc_calls_land_in_their_outcomes() {
    let test = "grpc_calls_land_in_their_outcomes";
    if !require_privileges(test) || !require_grpcio(test) {
        return;
    }
    let route = route_yaml_for(
        "foo-grpc-route",
        "foo-grpc",
        true,
        Some("/shadowtap.test.Echo/"),
        &[Mirror {
            service: "foo-grpc-v2",
            rate: Rate::Percent(100),
        }],
    )
    .replace(
        "  labels:\n    shadowtap.dev/mirror: enabled\n",
        "  labels:\n    shadowtap.dev/mirror: enabled\n  annotations:\n    shadowtap.dev/compare: body\n",
    );
    let mut s = Scenario::new(&route);
    let pod = s.topo.pod.ip4;
    let v2_ip = s.topo.extra[1].ip4;
    s.write_routes(
        "grpc.yaml",
        &[
            service_yaml_port("foo-grpc", &[("foo-v1-a", pod.into())], NODE, GRPC_PORT),
            service_yaml_port(
                "foo-grpc-v2",
                &[("foo-v2-a", v2_ip.into())],
                "node-b",
                GRPC_PORT,
            ),
        ]
        .join("---\n"),
    );
    let logs = TempDir(std::env::temp_dir().join(format!("shadowtap-cmp-grpc-{}", s.topo.tag())));
    std::fs::create_dir_all(&logs.0).expect("log dir");
    let client = &s.topo.client.ns;
    let (responses, size) = (3, 512);
    let v1 = GrpcServer::start(
        &s.topo.pod.ns,
        client,
        SocketAddr::new(pod.into(), GRPC_PORT),
        &logs.0,
        responses,
        size,
    );
    let _v2 = GrpcServer::start_variant(
        &s.topo.extra[1].ns,
        client,
        SocketAddr::new(v2_ip.into(), GRPC_PORT),
        &logs.0,
        responses,
        size,
        true,
    );
    s.start_agent(&shadowtap_binary(), &["--compare-pair-timeout-ms", "20000"]);

    let runs = [
        ClientRun {
            channels: 2,
            inflight: 4,
            ..ClientRun::new(Mode::Unary, 20, 200, "unary")
        },
        ClientRun {
            messages: 3,
            ..ClientRun::new(Mode::ClientStream, 10, 300, "cs")
        },
        ClientRun {
            inflight: 2,
            ..ClientRun::new(Mode::ServerStream, 10, 100, "ss")
        },
        ClientRun {
            messages: 2,
            ..ClientRun::new(Mode::Bidi, 5, 100, "bidi")
        },
    ];
    for run in &runs {
        let report = run_client(&s.topo.client.ns, v1.addr, run);
        assert_eq!(
            (report.ok, report.failed),
            (run.calls, 0),
            "{run:?}: every call to foo-grpc succeeds; errors: {:?}",
            report.errors
        );
    }
    let calls: u64 = runs.iter().map(|r| r.calls).sum();
    let text = wait::until("every pair to finish", Duration::from_secs(60), || {
        let text = s.metrics();
        let finished = metric_sum(&text, "shadowtap_route_comparisons_total", &[], &[]);
        (finished >= calls as f64).then_some(text)
    });
    eprintln!(
        "compare_h2 gRPC: {calls} calls, same {}, status_differs {}, body_differs {}",
        outcome(&text, "same"),
        outcome(&text, "status_differs"),
        outcome(&text, "body_differs")
    );
    assert_eq!(outcome(&text, "same"), 25.0, "unary and bidi\n{text}");
    assert_eq!(outcome(&text, "status_differs"), 10.0, "client-streaming");
    assert_eq!(outcome(&text, "body_differs"), 10.0, "server-streaming");
    for o in [
        "status_class_differs",
        "headers_differ",
        "mirror_failed",
        "primary_unseen",
        "pair_timeout",
        "over_budget",
    ] {
        assert_eq!(outcome(&text, o), 0.0, "{o}\n{text}");
    }
    assert_eq!(
        metric_sum(
            &text,
            "shadowtap_compare_events_total",
            &["event=\"pairs_mirrored\""],
            &[]
        ),
        calls as f64
    );
    // `shadowtap diff`: the failing calls show both grpc-status values behind their 200s.
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
    let failing = doc["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| p["outcome"] == "status_differs")
        .expect("a status_differs pair");
    assert_eq!(
        failing["target"], "/shadowtap.test.Echo/ClientStream",
        "{failing}"
    );
    assert_eq!(
        (
            failing["primary_status"].as_u64(),
            failing["mirror_status"].as_u64(),
            failing["primary_grpc_status"].as_str(),
            failing["mirror_grpc_status"].as_str()
        ),
        (Some(200), Some(200), Some("0"), Some("5")),
        "{failing}"
    );
}
