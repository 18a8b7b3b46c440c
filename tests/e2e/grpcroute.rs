//! GRPCRoute end to end with real peers: `h2load` sends gRPC-shaped calls (HTTP/2 POSTs
//! to `/service/method` with `content-type: application/grpc`) over prior-knowledge h2c to
//! `nghttpd` (foo-h2, captured); a GRPCRoute mirrors `pkg.Svc/Mirrored` to foo-h2-v2 (an
//! `nghttpd` whose Service port says `appProtocol: kubernetes.io/h2c`), has a rule for
//! `pkg.Svc/Quiet` without a mirror, and a mirroring rule for `pkg.Unused` that no call
//! matches. Only the mirrored method arrives at foo-h2-v2, marked; the per-route series
//! name the GRPCRoute `grpcroute:default/foo-grpc`. An HTTPRoute mirroring HTTP/1 requests
//! to the same h2c-only backend has them refused as `protocol_mismatch`, never sent.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use shadowtap_harness::{
    http_server::send_requests,
    nghttp2::{h2load_post, require_tools, Nghttpd},
    require_privileges,
    scenario::{
        metric_sum, route_yaml, service_yaml_port, shadowtap_binary, Mirror, Rate, Scenario, NODE,
        PORT,
    },
    wait,
};

/// Where foo-h2's pod and foo-h2-v2's pod (both nghttpd) listen.
const H2_PORT: u16 = 8084;
const MARKER: (&str, &str) = ("x-shadowtap-mirrored", "1");
const ROUTE: &str = "grpcroute:default/foo-grpc";

/// A directory removed on drop (the servers' logs, the request body).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The GRPCRoute: parent and backend foo-h2; rule 0 mirrors `pkg.Svc/Mirrored` at 100 %,
/// rule 1 takes `pkg.Svc/Quiet` without a mirror, rule 2 would mirror `pkg.Unused`.
fn grpc_route() -> String {
    let mirror = "    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef:\n          name: foo-h2-v2\n          port: 8080\n";
    let backend = "    backendRefs:\n    - name: foo-h2\n      port: 8080\n";
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: foo-grpc
  namespace: default
  labels:
    shadowtap.dev/mirror: enabled
spec:
  parentRefs:
  - group: \"\"
    kind: Service
    name: foo-h2
    port: 8080
  rules:
  - matches:
    - method: {{service: pkg.Svc, method: Mirrored}}
{backend}{mirror}  - matches:
    - method: {{service: pkg.Svc, method: Quiet}}
{backend}  - matches:
    - method: {{service: pkg.Unused}}
{backend}{mirror}"
    )
}

#[test]
fn grpcroute_mirrors_only_the_matching_method() {
    let test = "grpcroute_mirrors_only_the_matching_method";
    if !require_privileges(test) || !require_tools(test, &["nghttpd", "h2load", "stdbuf"]) {
        return;
    }
    // The scenario's own route: HTTP/1 requests to foo-v1 mirrored to the h2c-only
    // foo-h2-v2 at 100 %.
    let mut s = Scenario::new(&route_yaml(
        "foo-route",
        true,
        None,
        &[Mirror {
            service: "foo-h2-v2",
            rate: Rate::Percent(100),
        }],
    ));
    let pod = s.topo.pod.ip4;
    let v2_ip = s.topo.extra[1].ip4;
    let h2c_only = service_yaml_port(
        "foo-h2-v2",
        &[("foo-v2-a", v2_ip.into())],
        "node-b",
        H2_PORT,
    );
    let port_line = "    protocol: TCP\n    targetPort: http\n";
    assert!(h2c_only.contains(port_line), "the Service template changed");
    let h2c_only = h2c_only.replacen(
        port_line,
        &format!("{port_line}    appProtocol: kubernetes.io/h2c\n"),
        1,
    );
    s.write_routes(
        "grpc.yaml",
        &[
            service_yaml_port("foo-h2", &[("foo-v1-a", pod.into())], NODE, H2_PORT),
            h2c_only,
            grpc_route(),
        ]
        .join("---\n"),
    );
    let dir = TempDir(std::env::temp_dir().join(format!("shadowtap-grpc-{}", s.topo.tag())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    // One unary call's message: not compressed, 2 bytes.
    let body = dir.0.join("message.bin");
    std::fs::write(&body, b"\0\0\0\0\x02hi").expect("write body");
    let v1 = Nghttpd::start(
        &s.topo.pod.ns,
        &s.topo.client.ns,
        SocketAddr::new(pod.into(), H2_PORT),
        &dir.0,
    );
    let v2 = Nghttpd::start(
        &s.topo.extra[1].ns,
        &s.topo.client.ns,
        SocketAddr::new(v2_ip.into(), H2_PORT),
        &dir.0,
    );
    s.start_agent(&shadowtap_binary(), &[]);
    let client = &s.topo.client.ns;
    let grpc = ["content-type: application/grpc", "te: trailers"];

    // gRPC calls over 4 connections, 8 streams at a time: 200 to the mirrored method, 200
    // to the method matched without a mirror, 100 to a service no rule names.
    let calls = |path: &str, n: u64| {
        let done = h2load_post(
            client,
            &format!("http://{pod}:{H2_PORT}{path}"),
            n,
            4,
            8,
            &body,
            &grpc,
        );
        assert_eq!(done, n, "every call to {path} answered");
    };
    calls("/pkg.Svc/Mirrored", 200);
    calls("/pkg.Svc/Quiet", 200);
    calls("/pkg.Svcx/Mirrored", 100);
    assert_eq!(v1.count_path("/pkg."), 500, "foo-h2 served every call");

    // HTTP/1 requests to foo-v1, whose mirror (foo-h2-v2) speaks HTTP/2 only.
    let http1 = 20;
    let requests = (0..http1)
        .map(|i| format!("GET /http1/{i} HTTP/1.1\r\nHost: foo\r\n\r\n").into_bytes())
        .collect();
    send_requests(client, SocketAddr::new(s.v1_ip(false), PORT), requests);

    let metrics = wait::until(
        "the calls to be decided and their mirrors sent",
        Duration::from_secs(60),
        || {
            let m = s.metrics();
            let won = |rule: &str| {
                metric_sum(
                    &m,
                    "shadowtap_route_requests_total",
                    &[&format!("route=\"{ROUTE}\""), &format!("rule=\"{rule}\"")],
                    &[],
                ) as u64
            };
            let mismatched = metric_sum(
                &m,
                "shadowtap_mirror_requests_total",
                &["outcome=\"protocol_mismatch\""],
                &[],
            ) as u64;
            (won("0") == 200 && won("1") == 200 && mismatched == http1 && v2.count_path("/") == 200)
                .then_some(m)
        },
    );
    assert_eq!(
        v2.count("/pkg.Svc/Mirrored", MARKER.0, MARKER.1),
        200,
        "every call to the mirrored method arrived, marked"
    );
    assert_eq!(v2.count_path("/pkg.Svc/Quiet"), 0, "no mirror on that rule");
    assert_eq!(
        v2.count_path("/pkg.Svcx/"),
        0,
        "no rule matches that service"
    );
    assert_eq!(
        v2.count_path("/http1/"),
        0,
        "HTTP/1 requests never reach h2c-only"
    );
    let won_by_unused = metric_sum(
        &metrics,
        "shadowtap_route_requests_total",
        &[&format!("route=\"{ROUTE}\""), "rule=\"2\""],
        &[],
    );
    assert_eq!(won_by_unused, 0.0, "the pkg.Unused rule won nothing");
    let sent_grpc = metric_sum(
        &metrics,
        "shadowtap_route_mirror_requests_total",
        &[&format!("route=\"{ROUTE}\""), "outcome=\"sent\""],
        &[],
    );
    assert_eq!(sent_grpc, 200.0, "the GRPCRoute's mirror series count them");
    let http1_refused = metric_sum(
        &metrics,
        "shadowtap_route_mirror_requests_total",
        &[
            "route=\"default/foo-route\"",
            "outcome=\"protocol_mismatch\"",
        ],
        &[],
    );
    assert_eq!(
        http1_refused, http1 as f64,
        "refused, counted on the HTTPRoute"
    );
    let problems = metric_sum(&metrics, "shadowtap_plan_problems", &[], &[]);
    assert_eq!(problems, 0.0, "the routes are valid");
}
