//! `shadowtap replay --pcap FILE --routes DIR` with HTTP/2: the committed capture of a real
//! gRPC exchange (`agent/reconstruct/tests/fixtures/grpc_h2c.pcap`: calls to 127.0.0.1:50051
//! and one HTTP/1.1 GET) is matched against an HTTPRoute mirroring the Echo service at
//! 100 % and replayed over HTTP/2 to a real grpcio server — the plan's mirror endpoint, or
//! `--to URL` — which receives every captured call once, marked, with the same messages
//! (SHA-256) the client reported sending when the capture was made. Without `--routes`,
//! `--to` is refused.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use shadowtap_harness::{
    grpc::{require_grpcio, GrpcServer},
    require_privileges,
    scenario::shadowtap_binary,
    topology::{unique_tag, Netns},
    wait,
};

/// foo-grpc (the captured server, 127.0.0.1:50051 on node n1), foo-grpc-v2 (the mirror,
/// 127.0.0.2:50051 on node n2) and the labelled route mirroring the Echo service.
const ROUTES: &str = "\
apiVersion: v1
kind: Service
metadata: {name: foo-grpc, namespace: default}
spec:
  ports: [{name: grpc, port: 8080, protocol: TCP, targetPort: 50051}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: foo-grpc-a, namespace: default, labels: {kubernetes.io/service-name: foo-grpc}}
addressType: IPv4
ports: [{name: grpc, port: 50051, protocol: TCP}]
endpoints:
- addresses: [\"127.0.0.1\"]
  conditions: {ready: true}
  nodeName: n1
---
apiVersion: v1
kind: Service
metadata: {name: foo-grpc-v2, namespace: default}
spec:
  ports: [{name: grpc, port: 8080, protocol: TCP, targetPort: 50051}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: foo-grpc-v2-a, namespace: default, labels: {kubernetes.io/service-name: foo-grpc-v2}}
addressType: IPv4
ports: [{name: grpc, port: 50051, protocol: TCP}]
endpoints:
- addresses: [\"127.0.0.2\"]
  conditions: {ready: true}
  nodeName: n2
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: foo-grpc-route
  namespace: default
  labels: {shadowtap.dev/mirror: enabled}
spec:
  parentRefs: [{group: \"\", kind: Service, name: foo-grpc, port: 8080}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /shadowtap.test.Echo/}}]
    backendRefs: [{name: foo-grpc, port: 8080}]
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {name: foo-grpc-v2, port: 8080}
";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agent/reconstruct/tests/fixtures")
        .join(name)
}

/// A directory removed on drop (routes and the servers' logs).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (method, call id, SHA-256 of the request messages) of every call in the capture, as the
/// client reported them, sorted.
fn captured_calls() -> Vec<(String, String, String)> {
    let mut calls: Vec<_> = std::fs::read_to_string(fixture("grpc_h2c.calls.jsonl"))
        .expect("calls")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json");
            let s = |k: &str| v[k].as_str().expect(k).to_owned();
            (s("method"), s("call"), s("sha256"))
        })
        .collect();
    calls.sort();
    calls
}

/// Run `shadowtap replay` inside `ns` with `args` after `--pcap FILE`; its stderr.
fn replay(ns: &Netns, args: &[&str]) -> (bool, String) {
    let binary = shadowtap_binary();
    let pcap = fixture("grpc_h2c.pcap");
    let mut full = vec![
        binary.to_string_lossy().into_owned(),
        "replay".into(),
        "--pcap".into(),
        pcap.to_string_lossy().into_owned(),
    ];
    full.extend(args.iter().map(|a| (*a).to_owned()));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    let out = ns.exec_unchecked(&full);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until `server` logged as many calls as the capture holds; asserts they are those
/// calls, each once and marked.
fn assert_received_every_call(server: &GrpcServer, what: &str) {
    let want = captured_calls();
    let served = wait::until(
        &format!("{what} to log every replayed call"),
        Duration::from_secs(20),
        || {
            let calls = server.calls();
            (calls.len() >= want.len()).then_some(calls)
        },
    );
    let mut got: Vec<(String, String, String)> = served
        .iter()
        .map(|c| {
            assert!(c.marked, "{what}: call {} carries the marker", c.call);
            (c.method.clone(), c.call.clone(), c.sha256.clone())
        })
        .collect();
    got.sort();
    assert_eq!(
        got, want,
        "{what}: every captured call replayed, whole, once"
    );
}

#[test]
fn a_captured_grpc_exchange_is_replayed_over_http2() {
    let test = "a_captured_grpc_exchange_is_replayed_over_http2";
    if !require_privileges(test) || !require_grpcio(test) {
        return;
    }
    let tag = unique_tag();
    // Its own namespace: the servers' loopback addresses cannot collide with anything else.
    let ns = Netns::new("replay", &tag);
    let dir = TempDir(std::env::temp_dir().join(format!("shadowtap-replay-{tag}")));
    let routes = dir.0.join("routes");
    std::fs::create_dir_all(&routes).expect("routes dir");
    std::fs::write(routes.join("grpc.yaml"), ROUTES).expect("write routes");
    let routes_s = routes.to_string_lossy().into_owned();
    let server = |last: u8| {
        let addr = SocketAddr::new(Ipv4Addr::new(127, 0, 0, last).into(), 50051);
        GrpcServer::start(&ns, &ns, addr, &dir.0, 3, 64)
    };
    let v2 = server(2);
    let to = server(3);

    // The plan's mirror endpoint (foo-grpc-v2).
    let (ok, stderr) = replay(&ns, &["--routes", &routes_s, "--node", "n1"]);
    assert!(ok, "shadowtap replay --routes: {stderr}");
    for line in [
        "http2: connections 3 midstream 0 streams 5 emitted 5 dropped 0",
        "matched_with_mirrors 5; draws 5 not_sampled 0 submitted 5 refused 0",
    ] {
        assert!(stderr.contains(line), "{line:?} in: {stderr}");
    }
    assert_received_every_call(&v2, "foo-grpc-v2");

    // The same, sent to `--to` instead.
    let url = format!("http://{}", to.addr);
    let (ok, stderr) = replay(&ns, &["--routes", &routes_s, "--node", "n1", "--to", &url]);
    assert!(ok, "shadowtap replay --to: {stderr}");
    assert_received_every_call(&to, "the --to server");
    assert_eq!(v2.calls().len(), 5, "foo-grpc-v2 got nothing more");

    // `--to` alone would sample nothing: it is refused, naming what it needs.
    let (ok, stderr) = replay(&ns, &["--to", &url]);
    assert!(!ok && stderr.contains("--routes"), "{stderr}");
}
