//! HTTP/2 requests through the pipeline: matched with the same HTTPRoute rules as HTTP/1
//! (`:authority` as Host, `:path`, `:method`, fields), sampled by the same sampler, counted
//! in the same per-route series.

use std::{net::SocketAddr, path::Path, sync::Arc};

use bytes::Bytes;
use shadowtap_common::record::tcp_flags;
use shadowtap_mirror::Tally;
use shadowtap_reconstruct::shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_reconstruct::{Config, FlowKey, H2FlowRequest, Reconstructor, Request, Segment};
use shadowtap_routes::{plan::MirrorTarget, PlanConfig, Sampler};

use super::{MirrorSink, NotMatched, Pipeline};

/// Records what was submitted, by protocol.
#[derive(Default)]
struct Recorder {
    http1: Vec<String>,
    h2: Vec<(String, String)>,
}

impl MirrorSink for Recorder {
    fn submit(
        &mut self,
        _: &MirrorTarget,
        r: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.http1
            .push(String::from_utf8_lossy(r.target()).into_owned());
        Ok(())
    }

    fn submit_h2(
        &mut self,
        _: &MirrorTarget,
        r: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        let p = &r.request.pseudo;
        let s = |b: Option<&Bytes>| {
            String::from_utf8_lossy(b.map_or(&b""[..], |b| &b[..])).into_owned()
        };
        self.h2.push((s(p.authority.as_ref()), s(p.path.as_ref())));
        Ok(())
    }
}

const FIXTURE: &str = include_str!("../../routes/tests/fixtures/announcement-gateway-42.yaml");

/// The fixture's route (Gateway parent, hostname `foo.example.com`) with a rule that matches `/api` with header `x-env:
/// canary` (mirrored at `percent`), and one for the rest (not mirrored).
fn plan(percent: u32) -> Arc<shadowtap_routes::Plan> {
    let route = FIXTURE
        .replace(
            "  rules:\n  - backendRefs:",
            "  rules:\n  - matches:\n    - path: {type: PathPrefix, value: /api}\n      method: POST\n      headers:\n      - {name: X-Env, value: canary}\n    backendRefs:",
        )
        .replace("percent: 42", &format!("percent: {percent}"));
    let route = route.replacen(
        "---\napiVersion: v1\nkind: Service",
        "  - backendRefs:\n    - name: foo-v1\n      port: 8080\n---\napiVersion: v1\nkind: Service",
        1,
    );
    let plan = super::tests_compare_support::plan_of(&route);
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    plan
}

/// A request on `c`: its header block, and its body as one DATA frame when there is one.
fn request(c: &mut ClientBytes, stream_id: u32, fields: &[(&str, &str)], body: &[u8]) {
    c.headers(
        stream_id,
        fields,
        HeadersOpts {
            end_stream: body.is_empty(),
            ..HeadersOpts::default()
        },
    );
    if !body.is_empty() {
        c.data(stream_id, body, true, None);
    }
}

fn api(authority: &str, path: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":scheme", "http".into()),
        (":authority", authority.into()),
        (":path", path.into()),
        ("x-env", "canary".into()),
    ]
}

fn send(pipeline: &mut Pipeline<Recorder>, port: u16, client: &ClientBytes) {
    let server: SocketAddr = "10.244.1.10:8080".parse().expect("addr");
    let flow = FlowKey::new(SocketAddr::new([10, 0, 0, 1].into(), port), server);
    pipeline.push(Segment::new(flow, 1000, tcp_flags::SYN, 1, Bytes::new()));
    let mut seq = 1001;
    for (i, part) in client.bytes.chunks(1400).enumerate() {
        pipeline.push(Segment::new(
            flow,
            seq,
            tcp_flags::ACK | tcp_flags::PSH,
            2 + i as u64,
            Bytes::copy_from_slice(part),
        ));
        seq += part.len() as u32;
    }
}

fn pipeline(percent: u32) -> Pipeline<Recorder> {
    let mut p = Pipeline::new(
        Reconstructor::new(Config::default()),
        Sampler::new(11),
        Recorder::default(),
        "X-Shadowtap-Mirrored",
    );
    p.set_plan(plan(percent));
    p
}

#[test]
fn h2_requests_match_on_authority_path_method_and_fields() {
    let mut p = pipeline(100);
    let mut c = ClientBytes::new();
    let owned = |f: Vec<(&'static str, String)>| f;
    let cases = [
        owned(api("foo.example.com:8080", "/api/v1?q=1")),
        owned(api("other.example", "/api/v1")),
        owned(api("foo.example.com", "/apix")),
        {
            let mut f = api("foo.example.com", "/api/get");
            f[0].1 = "GET".into();
            f
        },
        {
            let mut f = api("foo.example.com", "/api/no-header");
            f.pop();
            f
        },
        {
            let mut f = api("foo.example.com", "/api/marked");
            f.push(("x-shadowtap-mirrored", "1".into()));
            f
        },
        // No `:authority`: the `host` field names the host.
        vec![
            (":method", "POST".into()),
            (":scheme", "http".into()),
            (":path", "/api/host-field".into()),
            ("host", "foo.example.com".into()),
            ("x-env", "canary".into()),
        ],
    ];
    for (i, fields) in cases.iter().enumerate() {
        let f: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        request(&mut c, 1 + 2 * i as u32, &f, b"payload");
    }
    send(&mut p, 40_000, &c);
    let got = &p.sink().h2;
    assert_eq!(
        got,
        &[
            ("foo.example.com:8080".to_owned(), "/api/v1?q=1".to_owned()),
            (String::new(), "/api/host-field".to_owned()),
        ]
    );
    assert!(p.sink().http1.is_empty());
    let c = p.counters();
    assert_eq!(c.decoded, 7);
    assert_eq!(c.marked, 1);
    assert_eq!(c.matched_with_mirrors, 2);
    // other.example matches no rule (the route's hostnames); /apix, GET and the missing
    // header fall to the second rule, which has no mirror.
    assert_eq!(c.not_matched[NotMatched::NoRule as usize], 1);
    assert_eq!(c.matched_without_mirror, 3);
    assert!(c.conserved());
}

/// 1 000 requests over 4 connections, mirrored at 42 %: within ±3σ, and the per-route
/// series count them like HTTP/1 requests.
#[test]
fn h2_requests_are_sampled_per_request() {
    let mut p = pipeline(42);
    for conn in 0..4u16 {
        let mut c = ClientBytes::new();
        for i in 0..250u32 {
            let f = api("foo.example.com", &format!("/api/{conn}/{i}"));
            let f: Vec<(&str, &str)> = f.iter().map(|(n, v)| (*n, v.as_str())).collect();
            request(&mut c, 1 + 2 * i, &f, b"{}");
        }
        send(&mut p, 41_000 + conn, &c);
    }
    let c = p.counters().clone();
    assert_eq!(c.decoded, 1000);
    assert_eq!(c.matched_with_mirrors, 1000);
    let k = p.sink().h2.len() as f64;
    let (n, q) = (1000.0_f64, 0.42_f64);
    let sigma = (n * q * (1.0 - q)).sqrt();
    assert!((k - n * q).abs() <= 3.0 * sigma, "{k} of 1000 mirrored");
    assert_eq!(c.submitted as usize, p.sink().h2.len());
    let families = p.routes.families();
    let requests: f64 = families
        .iter()
        .filter(|f| f.name == "route_requests")
        .flat_map(|f| f.rows.iter())
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(requests as u64, 1000);
    assert!(c.conserved());
    let h2 = p.reconstructor().h2_counters();
    assert_eq!(
        h2.get(shadowtap_reconstruct::shadowtap_h2::Counter::RequestsEmitted),
        1000
    );
}

/// The fixture with a GRPCRoute instead of the HTTPRoute, under the same name: rule 0
/// mirrors `pkg.Svc/Get` at 100 %, rule 1 takes every other call without a mirror.
fn grpc_plan() -> Arc<shadowtap_routes::Plan> {
    let route = FIXTURE
        .replacen("kind: HTTPRoute", "kind: GRPCRoute", 1)
        .replace(
            "  rules:\n  - backendRefs:",
            "  rules:\n  - matches:\n    - method: {service: pkg.Svc, method: Get}\n    backendRefs:",
        )
        .replace("        percent: 42\n", "");
    let route = route.replacen(
        "---\napiVersion: v1\nkind: Service",
        "  - backendRefs:\n    - name: foo-v1\n      port: 8080\n---\napiVersion: v1\nkind: Service",
        1,
    );
    let mut store = shadowtap_routes::store::Store::new();
    shadowtap_routes::file_source::load_str(&mut store, Path::new("route.yaml"), &route)
        .expect("fixture loads");
    assert_eq!(store.grpc_routes.len(), 1);
    let plan = shadowtap_routes::plan(&store, "node-a", &PlanConfig::default());
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    Arc::new(plan)
}

/// gRPC calls over h2c are matched by the GRPCRoute (service and method from `:path`);
/// an HTTP/1 request with the same request line on the same endpoint is not; the per-route
/// series name the route `grpcroute:default/foo-route`.
#[test]
fn grpc_calls_are_matched_by_grpcroute_rules() {
    let mut p = Pipeline::new(
        Reconstructor::new(Config::default()),
        Sampler::new(11),
        Recorder::default(),
        "X-Shadowtap-Mirrored",
    );
    p.set_plan(grpc_plan());
    let mut c = ClientBytes::new();
    let call = |path: &str| {
        vec![
            (":method", "POST".to_owned()),
            (":scheme", "http".to_owned()),
            (":authority", "foo.example.com".to_owned()),
            (":path", path.to_owned()),
            ("content-type", "application/grpc".to_owned()),
            ("te", "trailers".to_owned()),
        ]
    };
    let paths = [
        "/pkg.Svc/Get",
        "/pkg.Svc/List",
        "/pkg.Svc/Get",
        "/other.Svc/Get",
    ];
    for (i, path) in paths.iter().enumerate() {
        let f = call(path);
        let f: Vec<(&str, &str)> = f.iter().map(|(n, v)| (*n, v.as_str())).collect();
        // A gRPC message: uncompressed flag, 4-byte length, payload.
        request(&mut c, 1 + 2 * i as u32, &f, b"\0\0\0\0\x02hi");
    }
    send(&mut p, 42_000, &c);

    // The same request line over HTTP/1.1 on another connection.
    let server: SocketAddr = "10.244.1.10:8080".parse().expect("addr");
    let flow = FlowKey::new(SocketAddr::new([10, 0, 0, 1].into(), 42_001), server);
    p.push(Segment::new(flow, 5000, tcp_flags::SYN, 1, Bytes::new()));
    p.push(Segment::new(
        flow,
        5001,
        tcp_flags::ACK | tcp_flags::PSH,
        2,
        Bytes::from_static(
            b"POST /pkg.Svc/Get HTTP/1.1\r\nHost: foo.example.com\r\nContent-Length: 0\r\n\r\n",
        ),
    ));

    let got = &p.sink().h2;
    assert_eq!(
        got,
        &[
            ("foo.example.com".to_owned(), "/pkg.Svc/Get".to_owned()),
            ("foo.example.com".to_owned(), "/pkg.Svc/Get".to_owned()),
        ]
    );
    assert!(p.sink().http1.is_empty());
    let c = p.counters().clone();
    assert_eq!(c.decoded, 5);
    assert_eq!(c.matched_with_mirrors, 2);
    assert_eq!(c.matched_without_mirror, 2);
    assert_eq!(
        c.not_matched[NotMatched::NoRule as usize],
        1,
        "the HTTP/1 request"
    );
    assert!(c.conserved());
    let families = p.routes.families();
    let won: Vec<(String, String, f64)> = families
        .iter()
        .filter(|f| f.name == "route_requests")
        .flat_map(|f| f.rows.iter())
        .map(|(labels, v)| {
            let get = |k: &str| {
                labels
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (get("route"), get("rule"), *v)
        })
        .collect();
    assert_eq!(
        won,
        vec![
            (
                "grpcroute:default/foo-route".to_owned(),
                "0".to_owned(),
                2.0
            ),
            (
                "grpcroute:default/foo-route".to_owned(),
                "1".to_owned(),
                2.0
            ),
        ]
    );
}
