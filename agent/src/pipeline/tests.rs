//! The pipeline against a simulated kernel that captures exactly the flows the kernel map
//! writer's threshold lets through.

use std::{net::SocketAddr, path::Path, sync::Arc};

use bytes::Bytes;
use shadowtap_common::{addr_from_ip, flow_hash::is_sampled, record::tcp_flags};
use shadowtap_mirror::Tally;
use shadowtap_reconstruct::{FlowKey, H2FlowRequest, Request, Segment};
use shadowtap_routes::{plan::MirrorTarget, PlanConfig};

use super::tests_compare_support::pipeline_of;
use super::{MirrorSink, Pipeline};
use crate::wiring::desired_endpoints;

#[derive(Default)]
struct Count(u64, u64);

impl MirrorSink for Count {
    fn submit(
        &mut self,
        _: &MirrorTarget,
        _: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.0 += 1;
        // Every tenth submission is refused, so refusals reach the per-route series too.
        if self.0.is_multiple_of(10) {
            return Err("queue_budget");
        }
        Ok(())
    }

    fn submit_h2(
        &mut self,
        _: &MirrorTarget,
        _: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.0 += 1;
        self.1 += 1;
        if self.0.is_multiple_of(10) {
            return Err("queue_budget");
        }
        Ok(())
    }
}

const ROUTE: &str = include_str!("../../routes/tests/fixtures/foo-route-42.yaml");
const FLOWS: u16 = 4000;

/// Sends one request on each of `FLOWS` connections to the fixture's foo-v1 endpoint through
/// a kernel simulated from the plan's map values; returns (requests sent, mirrors submitted).
fn run_pipeline(annotated: bool, cfg: &PlanConfig) -> Pipeline<Count> {
    let mut store = shadowtap_routes::store::Store::new();
    shadowtap_routes::file_source::load_str(&mut store, Path::new("route.yaml"), ROUTE)
        .expect("fixture loads");
    if annotated {
        for route in store.routes.values_mut() {
            route
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert("shadowtap.dev/flow-sampling".into(), "true".into());
        }
    }
    let plan = Arc::new(shadowtap_routes::plan(&store, "node-a", cfg));
    let server: SocketAddr = "10.244.1.10:8080".parse().expect("addr");
    let kernel = desired_endpoints(&plan);
    let threshold = kernel[&server].threshold;

    let mut pipeline = pipeline_of(plan, Count::default());
    let request = Bytes::from_static(b"GET /x HTTP/1.1\r\nHost: foo-v1:8080\r\n\r\n");
    for port in 0..FLOWS {
        let client: SocketAddr = SocketAddr::new([10, 0, 0, 1].into(), 20_000 + port);
        let hash = shadowtap_common::flow_hash(
            &addr_from_ip(client.ip()),
            client.port(),
            &addr_from_ip(server.ip()),
            server.port(),
        );
        if !is_sampled(hash, threshold) {
            continue;
        }
        let flow = FlowKey::new(client, server);
        pipeline.push(Segment::new(flow, 1000, tcp_flags::SYN, 1, Bytes::new()));
        pipeline.push(Segment::new(
            flow,
            1001,
            tcp_flags::ACK | tcp_flags::PSH,
            2,
            request.clone(),
        ));
    }
    pipeline
}

fn run(annotated: bool, cfg: &PlanConfig) -> (u64, u64) {
    (u64::from(FLOWS), run_pipeline(annotated, cfg).sink().0)
}

/// Within ±3σ of `p` over `n` draws.
fn assert_fraction(label: &str, (n, k): (u64, u64), p: f64) {
    let n = n as f64;
    let sigma = (n * p * (1.0 - p)).sqrt();
    let k = k as f64;
    assert!(
        (k - n * p).abs() <= 3.0 * sigma,
        "{label}: {k} of {n} mirrored, expected {:.0} ± {:.0}",
        n * p,
        3.0 * sigma
    );
}

#[test]
fn every_flow_captured_mirrors_p() {
    assert_fraction("default", run(false, &PlanConfig::default()), 0.42);
}

#[test]
fn node_wide_flow_sampling_mirrors_p() {
    let cfg = PlanConfig {
        flow_sampling: true,
        ..PlanConfig::default()
    };
    assert_fraction("--flow-sampling", run(false, &cfg), 0.42);
}

/// The annotation alone used to make the kernel capture every flow while the draw assumed a
/// 42 % pre-sample: 100 % mirrored.
#[test]
fn annotation_only_flow_sampling_mirrors_p() {
    assert_fraction("annotation", run(true, &PlanConfig::default()), 0.42);
}

/// The per-route series count what the pipeline decided: every request the rule won, and
/// per mirror the not-sampled draws and the refusals, beside the configured fraction
/// (nothing is delivered by this sink, so nothing is `sent`).
#[test]
fn route_series_follow_the_draws() {
    let pipeline = run_pipeline(false, &PlanConfig::default());
    let c = pipeline.counters().clone();
    let families = pipeline.routes.families();
    let value = |name: &str, want: &[(&str, &str)]| -> f64 {
        families
            .iter()
            .filter(|f| f.name == name)
            .flat_map(|f| f.rows.iter())
            .filter(|(labels, _)| {
                want.iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| *v)
            .sum()
    };
    let route = [("route", "default/foo-route"), ("rule", "0")];
    assert_eq!(
        value("route_requests", &route) as u64,
        c.matched_with_mirrors
    );
    let refused = [
        ("route", "default/foo-route"),
        ("mirror", "default/foo-v2:8080"),
        ("outcome", "queue_budget"),
    ];
    let refusals: u64 = c.refused.iter().map(|(_, n)| n).sum();
    assert_eq!(value("route_mirror_requests", &refused) as u64, refusals);
    let sent = [("mirror", "default/foo-v2:8080"), ("outcome", "sent")];
    assert_eq!(value("route_mirror_requests", &sent), 0.0);
    let not = [
        ("mirror", "default/foo-v2:8080"),
        ("outcome", "not_sampled"),
    ];
    assert_eq!(value("route_mirror_requests", &not) as u64, c.not_sampled);
    assert!((value("route_mirror_fraction", &route) - 0.42).abs() < 1e-9);
    assert!(c.submitted > 0 && c.not_sampled > 0 && refusals > 0);
}

/// Records the mirror backend of each submission.
#[derive(Default)]
struct Backends(Vec<String>);

impl MirrorSink for Backends {
    fn submit(
        &mut self,
        mirror: &MirrorTarget,
        _: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.0.push(mirror.backend.name.clone());
        Ok(())
    }

    fn submit_h2(
        &mut self,
        mirror: &MirrorTarget,
        _: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.0.push(mirror.backend.name.clone());
        Ok(())
    }
}

const MESH_BASE: &str = include_str!("../../routes/tests/fixtures/mesh-gamma-base.yaml");

/// A labelled HTTPRoute in `namespace` on Service gateway-conformance-mesh/echo-v1, sending
/// to echo-v1 and mirroring 100 % to `mirror`.
fn mesh_route(name: &str, namespace: &str, mirror: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels:\n    shadowtap.dev/mirror: enabled\nspec:\n  parentRefs:\n  - {{group: \"\", kind: Service, name: echo-v1, namespace: gateway-conformance-mesh}}\n  rules:\n  - backendRefs:\n    - {{name: echo-v1, namespace: gateway-conformance-mesh, port: 80}}\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {{name: {mirror}, namespace: gateway-conformance-mesh, port: 80}}\n"
    )
}

/// GAMMA: the pipeline decides each request with its client's namespace, from the client's
/// address: a consumer client gets its namespace's consumer route, every other client the
/// producer route, and a client whose IP may be a consumer pod's without telling it (a
/// host-network pod's) is counted.
#[test]
fn consumer_routes_apply_to_the_clients_of_their_namespace() {
    let yaml = [
        MESH_BASE.to_owned(),
        mesh_route("producer", "gateway-conformance-mesh", "echo-v2"),
        mesh_route("consumer", "gateway-conformance-mesh-consumer", "echo-v3"),
    ]
    .join("\n---\n");
    let plan = super::tests_compare_support::plan_of(&yaml);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    let mut pipeline = pipeline_of(plan, Backends::default());
    let server: SocketAddr = "10.244.1.20:8080".parse().expect("addr");
    let request = Bytes::from_static(b"GET / HTTP/1.1\r\nHost: echo-v1\r\n\r\n");
    // The consumer namespace's client pod, a client in the producer's namespace, the
    // consumer namespace's host-network pod (node-b's IP) and an address without a pod.
    let clients = ["10.244.2.50", "10.244.2.70", "192.168.0.12", "10.244.9.9"];
    for (i, ip) in clients.iter().enumerate() {
        let client = SocketAddr::new(ip.parse().expect("ip"), 40_000 + i as u16);
        let flow = FlowKey::new(client, server);
        pipeline.push(Segment::new(flow, 1000, tcp_flags::SYN, 1, Bytes::new()));
        pipeline.push(Segment::new(
            flow,
            1001,
            tcp_flags::ACK | tcp_flags::PSH,
            2,
            request.clone(),
        ));
    }
    assert_eq!(
        pipeline.sink().0,
        ["echo-v3", "echo-v2", "echo-v2", "echo-v2"]
    );
    let c = pipeline.counters();
    assert_eq!((c.decoded, c.matched_with_mirrors), (4, 4));
    // Only the host-network client's IP may be a consumer pod's without telling it.
    assert_eq!(c.client_namespace_unknown, 1);
    assert!(c.conserved());
    let requests = c
        .families()
        .into_iter()
        .find(|f| f.name == "requests_client_namespace_unknown")
        .expect("the unknown-client family");
    assert_eq!(requests.values, [("", 1)]);
}
