//! GAMMA routes whose Service parentRef names a port, through the pipeline from a route
//! file: a route on Service port 80 decides only the requests reaching the pod at the
//! targetPort port 80 maps to; requests reaching the Service's other port are decided by
//! that port's routes alone, and one no rule there matches is counted `no_rule`.

use std::net::SocketAddr;

use bytes::Bytes;
use shadowtap_common::record::tcp_flags;
use shadowtap_mirror::Tally;
use shadowtap_reconstruct::{FlowKey, H2FlowRequest, Request, Segment};
use shadowtap_routes::plan::MirrorTarget;

use super::counters::NotMatched;
use super::tests_compare_support::{pipeline_of, plan_of};
use super::{MirrorSink, Pipeline};
use crate::wiring::desired_endpoints;

/// Records the target of each mirrored request with its mirror backend.
#[derive(Default)]
struct Mirrored(Vec<String>);

impl MirrorSink for Mirrored {
    fn submit(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        let raw = String::from_utf8_lossy(request.raw()).into_owned();
        let target = raw.split(' ').nth(1).unwrap_or_default().to_owned();
        self.0.push(format!("{target} -> {}", mirror.backend.name));
        Ok(())
    }

    fn submit_h2(
        &mut self,
        _: &MirrorTarget,
        _: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        Err("unexpected_h2")
    }
}

const MESH_PORTS: &str = include_str!("../../routes/tests/fixtures/mesh-ports.yaml");

/// A labelled HTTPRoute in namespace shop on Service shop/foo at `port`, matching the path
/// prefix `prefix`, sending to foo at `port` and mirroring 100 % to `mirror` (port 80).
fn port_route(name: &str, port: u16, prefix: &str, mirror: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: shop\n  labels:\n    shadowtap.dev/mirror: enabled\nspec:\n  parentRefs:\n  - {{group: \"\", kind: Service, name: foo, port: {port}}}\n  rules:\n  - matches:\n    - path: {{type: PathPrefix, value: {prefix}}}\n    backendRefs:\n    - {{name: foo, port: {port}}}\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {{name: {mirror}, port: 80}}\n"
    )
}

/// Sends `GET path` on a connection of its own to pod foo-1 at `port`, for each
/// `(port, path)`.
fn send(pipeline: &mut Pipeline<Mirrored>, requests: &[(u16, &str)]) {
    for (i, (port, path)) in requests.iter().enumerate() {
        let server = SocketAddr::new("10.244.1.30".parse().expect("ip"), *port);
        let client = SocketAddr::new("10.244.2.70".parse().expect("ip"), 40_000 + i as u16);
        let flow = FlowKey::new(client, server);
        let request = format!("GET {path} HTTP/1.1\r\nHost: foo.shop\r\n\r\n");
        pipeline.push(Segment::new(flow, 1000, tcp_flags::SYN, 1, Bytes::new()));
        pipeline.push(Segment::new(
            flow,
            1001,
            tcp_flags::ACK | tcp_flags::PSH,
            2,
            Bytes::from(request),
        ));
    }
}

/// Service foo: port 80 → container port `web` (8080), port 9090 → 9090. Route `web` on
/// port 80 matches every path, route `admin` on port 9090 matches `/admin`. At 8080 `web`
/// alone decides (`/admin/x` sent to port 80 is web's, mirrored); at 9090 `admin` alone
/// (`/x` sent to port 9090 matches no rule there: `no_rule`, not mirrored). When ports were
/// ignored both routes were one group: each port's requests could be won by the other
/// port's route, which does not deliver there, and lost their mirror.
#[test]
fn a_service_ports_route_decides_only_requests_reaching_its_target_port() {
    let yaml = [
        MESH_PORTS.to_owned(),
        port_route("web", 80, "/", "foo-v2"),
        port_route("admin", 9090, "/admin", "twin"),
    ]
    .join("\n---\n");
    let plan = plan_of(&yaml);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    let captured: Vec<SocketAddr> = desired_endpoints(&plan).keys().copied().collect();
    assert_eq!(
        captured,
        [
            "10.244.1.30:8080".parse().expect("addr"),
            "10.244.1.30:9090".parse().expect("addr"),
        ]
    );
    let mut pipeline = pipeline_of(plan, Mirrored::default());
    send(
        &mut pipeline,
        &[
            (8080, "/x"),
            (8080, "/admin/x"),
            (9090, "/admin/x"),
            (9090, "/x"),
        ],
    );
    assert_eq!(
        pipeline.sink().0,
        ["/x -> foo-v2", "/admin/x -> foo-v2", "/admin/x -> twin",]
    );
    let c = pipeline.counters();
    assert_eq!((c.decoded, c.matched_with_mirrors, c.submitted), (4, 3, 3));
    assert_eq!(c.not_matched[NotMatched::NoRule as usize], 1);
    assert_eq!(c.not_matched[NotMatched::WonByOtherBackend as usize], 0);
    assert!(c.conserved());
}

/// A route on port 80 alone, naming both of foo's ports as backends: the pod's 9090 is
/// reached only through Service port 9090, which no route governs, so it is not even
/// captured; 8080 is, and mirrored.
#[test]
fn a_route_on_one_service_port_leaves_the_other_port_uncaptured() {
    let route = port_route("web", 80, "/", "foo-v2").replace(
        "    - {name: foo, port: 80}\n",
        "    - {name: foo, port: 80}\n    - {name: foo, port: 9090}\n",
    );
    assert!(route.contains("port: 9090"));
    let yaml = [MESH_PORTS.to_owned(), route].join("\n---\n");
    let plan = plan_of(&yaml);
    let captured: Vec<SocketAddr> = desired_endpoints(&plan).keys().copied().collect();
    assert_eq!(captured, ["10.244.1.30:8080".parse().expect("addr")]);
    let mut pipeline = pipeline_of(plan, Mirrored::default());
    send(&mut pipeline, &[(8080, "/x"), (9090, "/x")]);
    assert_eq!(pipeline.sink().0, ["/x -> foo-v2"]);
    let c = pipeline.counters();
    // The request to 9090 reached no captured endpoint (the kernel would not copy it).
    assert_eq!(c.not_matched[NotMatched::NoEndpoint as usize], 1);
    assert!(c.conserved());
}
