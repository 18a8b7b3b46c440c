//! End to end with real gRPC peers (Python grpcio, `shadowtap_harness::grpc`): foo-grpc's
//! pod runs the gRPC server (captured), foo-grpc-v2 and foo-grpc-v3 run the same server as
//! mirror backends, each logging every call it served (method, call id, marker, SHA-256 of
//! the request messages). The sampling test's route is a GRPCRoute (`method.service`); the
//! streaming test's an HTTPRoute whose rule matches the gRPC path (`/shadowtap.test.Echo/`,
//! PathPrefix) — both are plain Gateway API usage.
//!
//! Sampling is per request for HTTP/2 as for HTTP/1: each call (stream) is an independent
//! draw in the pipeline, and without `--flow-sampling` (or the route annotation) the kernel
//! captures every flow of the endpoint. So 1 000 unary calls over 4 long-lived channels are
//! 1 000 independent draws, and the ±3σ band of a binomial(1 000, 0.42) is the honest check.
//! (With flow sampling, the 4 channels would be 4 kernel draws: that set-up is not what this
//! test measures.)

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use shadowtap_harness::{
    grpc::{require_grpcio, run_client, ClientRun, GrpcServer, Mode, SentCall, ServedCall},
    require_privileges,
    scenario::{
        metric_sum, route_yaml_for, service_yaml_port, shadowtap_binary, Mirror, Rate, Scenario,
        NODE,
    },
    wait,
};

/// Where every gRPC server listens (the Services' target port).
const GRPC_PORT: u16 = 50051;

/// The sampling test's GRPCRoute, whole: rule 1 mirrors 42 % of the Echo service's calls
/// to foo-grpc-v2; rule 2 matches a service no call uses and mirrors all of it to
/// foo-grpc-v3, which must therefore receive nothing.
const SAMPLING_ROUTE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: foo-grpc-route
  namespace: default
  labels:
    shadowtap.dev/mirror: enabled
spec:
  parentRefs:
  - group: \"\"
    kind: Service
    name: foo-grpc
    port: 8080
  rules:
  - matches:
    - method:
        service: shadowtap.test.Echo
    backendRefs:
    - name: foo-grpc
      port: 8080
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: foo-grpc-v2
          port: 8080
        percent: 42
  - matches:
    - method:
        service: shadowtap.test.Other
    backendRefs:
    - name: foo-grpc
      port: 8080
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: foo-grpc-v3
          port: 8080
";

/// A directory removed on drop (the servers' logs).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running gRPC scenario: the agent's namespaces, the three servers and their logs.
struct GrpcScenario {
    s: Scenario,
    v1: GrpcServer,
    v2: GrpcServer,
    v3: GrpcServer,
    _logs: TempDir,
}

impl GrpcScenario {
    /// foo-grpc (the pod) and foo-grpc-v2/-v3 (extra pods 1 and 2) with `route`, the agent
    /// started. Streaming calls are answered with `responses` messages of `response_size`.
    fn start(route: &str, responses: u32, response_size: usize) -> Self {
        let mut s = Scenario::new(route);
        let pod = s.topo.pod.ip4;
        let (v2_ip, v3_ip) = (s.topo.extra[1].ip4, s.topo.extra[2].ip4);
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
                service_yaml_port(
                    "foo-grpc-v3",
                    &[("foo-v3-a", v3_ip.into())],
                    "node-b",
                    GRPC_PORT,
                ),
            ]
            .join("---\n"),
        );
        let logs = TempDir(std::env::temp_dir().join(format!("shadowtap-grpc-{}", s.topo.tag())));
        std::fs::create_dir_all(&logs.0).expect("log dir");
        let client = &s.topo.client.ns;
        let server = |ns, ip: std::net::Ipv4Addr| {
            GrpcServer::start(
                ns,
                client,
                SocketAddr::new(ip.into(), GRPC_PORT),
                &logs.0,
                responses,
                response_size,
            )
        };
        let v1 = server(&s.topo.pod.ns, pod);
        let v2 = server(&s.topo.extra[1].ns, v2_ip);
        let v3 = server(&s.topo.extra[2].ns, v3_ip);
        s.start_agent(&shadowtap_binary(), &[]);
        Self {
            s,
            v1,
            v2,
            v3,
            _logs: logs,
        }
    }

    /// Run `run` from the client against foo-grpc's pod; every call must succeed.
    fn call(&self, run: &ClientRun) -> Vec<SentCall> {
        let report = run_client(&self.s.topo.client.ns, self.v1.addr, run);
        assert_eq!(
            (report.ok, report.failed),
            (run.calls, 0),
            "{run:?}: every call succeeds; errors: {:?}",
            report.errors
        );
        report.calls
    }

    /// Waits until every mirror the agent submitted is settled (sent or dropped) and the
    /// agent decoded `decoded` HTTP/2 requests; returns (submitted, dropped).
    fn settled(&self, decoded: u64) -> (u64, u64) {
        wait::until(
            "every decoded call routed and every mirror sent or dropped",
            Duration::from_secs(90),
            || {
                let m = self.s.metrics();
                let emitted = metric_sum(
                    &m,
                    "shadowtap_h2_events_total",
                    &["event=\"requests_emitted\""],
                    &[],
                ) as u64;
                let submitted = metric_sum(
                    &m,
                    "shadowtap_mirror_draws_total",
                    &["outcome=\"submitted\""],
                    &[],
                ) as u64;
                let settled = metric_sum(&m, "shadowtap_mirror_requests_total", &[], &[]) as u64;
                let dropped = metric_sum(
                    &m,
                    "shadowtap_mirror_requests_total",
                    &[],
                    &["outcome=\"sent\""],
                ) as u64;
                (emitted == decoded && settled == submitted).then_some((submitted, dropped))
            },
        )
    }
}

fn assert_within(what: &str, observed: u64, n: u64, p: f64, k: f64) {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (observed as f64 - mean).abs() <= k * sigma,
        "{what}: {observed} of {n}, expected {mean:.1} ± {k}σ (σ = {sigma:.1})"
    );
}

/// The calls of `served` that carried the marker, by call id (each id at most once).
fn marked_by_id(served: &[ServedCall]) -> HashMap<String, ServedCall> {
    let mut out = HashMap::new();
    for c in served.iter().filter(|c| c.marked) {
        let previous = out.insert(c.call.clone(), c.clone());
        assert!(previous.is_none(), "call {} mirrored twice", c.call);
    }
    out
}

fn skip(test: &str) -> bool {
    !require_privileges(test) || !require_grpcio(test)
}

/// 1 000 unary calls of 200 B over 4 channels (8 in flight on each): 42 % ± 3σ reach
/// foo-grpc-v2, marked and with the primary's exact message; foo-grpc-v3, whose rule
/// matches no call, receives nothing; every call was answered by foo-grpc.
#[test]
fn unary_calls_over_four_channels_are_mirrored_per_call() {
    if skip("unary_calls_over_four_channels_are_mirrored_per_call") {
        return;
    }
    let g = GrpcScenario::start(SAMPLING_ROUTE, 3, 64);
    let n = 1000;
    let run = ClientRun {
        channels: 4,
        inflight: 8,
        ..ClientRun::new(Mode::Unary, n, 200, "unary")
    };
    let sent = g.call(&run);
    assert_eq!(g.v1.calls().len() as u64, n, "foo-grpc served every call");
    let (submitted, dropped) = g.settled(n);
    assert_eq!(dropped, 0, "no mirror dropped against a healthy backend");
    let mirrored = wait::until(
        "foo-grpc-v2 to log every submitted mirror",
        Duration::from_secs(30),
        || {
            let calls = g.v2.calls();
            (calls.len() as u64 >= submitted).then_some(calls)
        },
    );
    let by_id = marked_by_id(&mirrored);
    assert_eq!(
        by_id.len(),
        mirrored.len(),
        "foo-grpc-v2 received nothing but marked mirrors"
    );
    assert_eq!(
        by_id.len() as u64,
        submitted,
        "every submitted mirror arrived"
    );
    let sent: HashMap<&str, &SentCall> = sent.iter().map(|c| (c.call.as_str(), c)).collect();
    for m in by_id.values() {
        let original = sent
            .get(m.call.as_str())
            .unwrap_or_else(|| panic!("mirror of an unknown call {}", m.call));
        assert_eq!(
            (m.method.as_str(), m.messages, m.bytes, m.sha256.as_str()),
            (
                "Unary",
                original.messages,
                original.bytes,
                original.sha256.as_str()
            ),
            "call {}: the mirror received the client's message",
            m.call
        );
    }
    assert!(
        g.v3.calls().is_empty(),
        "the rule that matches no call mirrored nothing: {:?}",
        g.v3.calls().first()
    );
    eprintln!("grpc: {submitted} of {n} unary calls over 4 channels mirrored (42 %)");
    assert_within("unary calls mirrored", submitted, n, 0.42, 3.0);
    let midstream = metric_sum(
        &g.s.metrics(),
        "shadowtap_h2_events_total",
        &["event=\"h2_midstream\""],
        &[],
    );
    assert_eq!(midstream, 0.0, "every channel was opened after the agent");
}

/// At 100 %: client-streaming (8 × 4 KiB), server-streaming (foo-grpc and the mirror each
/// answer 40 × 16 KiB), bidi (5 × 1 KiB) calls and messages over 1 MiB (unary 1.5 MiB, and
/// client-streaming 2 × 1.2 MiB) all reach foo-grpc-v2 whole — the same messages, by
/// SHA-256 — while the client sees every answer it would see without shadowtap; the
/// mirror's streamed responses are read to their end (its server finished sending them).
#[test]
fn streaming_calls_and_large_messages_are_mirrored_whole() {
    if skip("streaming_calls_and_large_messages_are_mirrored_whole") {
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
    );
    let responses = 40;
    let g = GrpcScenario::start(&route, responses, 16 * 1024);
    let runs = [
        ClientRun {
            messages: 8,
            channels: 2,
            ..ClientRun::new(Mode::ClientStream, 20, 4096, "cs")
        },
        ClientRun {
            channels: 2,
            inflight: 2,
            ..ClientRun::new(Mode::ServerStream, 20, 300, "ss")
        },
        ClientRun {
            messages: 5,
            ..ClientRun::new(Mode::Bidi, 10, 1024, "bidi")
        },
        ClientRun::new(Mode::Unary, 3, 1_500_000, "big-unary"),
        ClientRun {
            messages: 2,
            ..ClientRun::new(Mode::ClientStream, 2, 1_200_000, "big-cs")
        },
    ];
    let mut sent = Vec::new();
    for run in &runs {
        let calls = g.call(run);
        for c in &calls {
            let expected = match run.mode {
                Mode::ServerStream => u64::from(responses),
                Mode::Bidi => u64::from(run.messages),
                Mode::Unary | Mode::ClientStream => 1,
            };
            assert_eq!(
                c.responses, expected,
                "call {}: the client's answers",
                c.call
            );
        }
        sent.extend(calls);
    }
    let n = sent.len() as u64;
    let (submitted, dropped) = g.settled(n);
    assert_eq!(
        (submitted, dropped),
        (n, 0),
        "every call submitted, none dropped"
    );
    let mirrored = wait::until(
        "foo-grpc-v2 to log every call",
        Duration::from_secs(30),
        || {
            let calls = g.v2.calls();
            (calls.len() as u64 >= n).then_some(calls)
        },
    );
    let by_id = marked_by_id(&mirrored);
    assert_eq!(
        by_id.len(),
        mirrored.len(),
        "only marked mirrors at foo-grpc-v2"
    );
    let primary: HashMap<String, ServedCall> =
        g.v1.calls()
            .into_iter()
            .map(|c| (c.call.clone(), c))
            .collect();
    for c in &sent {
        let m = by_id
            .get(&c.call)
            .unwrap_or_else(|| panic!("call {} ({}) was not mirrored", c.call, c.method));
        let p = primary
            .get(&c.call)
            .unwrap_or_else(|| panic!("call {} not served by foo-grpc", c.call));
        for (who, got) in [("foo-grpc", p), ("foo-grpc-v2", m)] {
            assert_eq!(
                (
                    got.method.as_str(),
                    got.messages,
                    got.bytes,
                    got.sha256.as_str()
                ),
                (c.method.as_str(), c.messages, c.bytes, c.sha256.as_str()),
                "call {}: {who} received the client's messages",
                c.call
            );
        }
        assert!(
            m.completed,
            "call {}: the mirror's responses were all sent (read by the agent)",
            c.call
        );
    }
    let big = sent.iter().filter(|c| c.bytes > 1 << 20).count();
    eprintln!("grpc: {n} streaming and large calls mirrored whole ({big} over 1 MiB)");
}
