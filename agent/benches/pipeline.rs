//! The capture task's work per request, without the kernel and the replay: ring segments of
//! keep-alive HTTP/1.1 flows → reassembly, decoding, routing against the demo's route
//! (`foo-route-42.yaml`: 42 % of foo-v1's requests mirrored to foo-v2) and sampling, into
//! a sink that only counts what it is given.
//!
//! Run: `cargo bench -p shadowtap-agent --bench pipeline -- --warm-up-time 1 --measurement-time 3`
//!
//! Counted in instructions: `SHADOWTAP_BENCH_ITERS=<n>` runs `n` passes after one set-up
//! pass and exits (for callgrind or `perf stat`: per pass = (run of 20 − run of 0) / 20; a
//! pass is [`FLOWS`] × [`PER_FLOW`] requests).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use shadowtap_agent::pipeline::{MirrorSink, Pipeline};
use shadowtap_common::record::tcp_flags;
use shadowtap_mirror::Tally;
use shadowtap_reconstruct::{Config, FlowKey, H2FlowRequest, Reconstructor, Request, Segment};
use shadowtap_routes::{plan::MirrorTarget, Plan, PlanConfig, Sampler};

const FLOWS: u16 = 64;
const PER_FLOW: usize = 32;
const ROUTE: &str = include_str!("../routes/tests/fixtures/foo-route-42.yaml");

/// Counts what the pipeline submits; keeps nothing.
#[derive(Default)]
struct Counting(u64);

impl MirrorSink for Counting {
    fn submit(
        &mut self,
        _: &MirrorTarget,
        request: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        black_box(request);
        self.0 += 1;
        Ok(())
    }

    fn submit_h2(
        &mut self,
        _: &MirrorTarget,
        request: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        black_box(request);
        self.0 += 1;
        Ok(())
    }
}

fn plan() -> Arc<Plan> {
    let mut store = shadowtap_routes::store::Store::new();
    shadowtap_routes::file_source::load_str(&mut store, Path::new("route.yaml"), ROUTE).unwrap();
    Arc::new(shadowtap_routes::plan(
        &store,
        "node-a",
        &PlanConfig::default(),
    ))
}

/// A browser-like GET of about 200 bytes (different paths and queries).
fn request(i: usize) -> Bytes {
    let paths = [
        "/",
        "/api/v1/users",
        "/api/v1/orders/12345",
        "/static/app.js",
    ];
    Bytes::from(format!(
        "GET {}?q={i} HTTP/1.1\r\nHost: foo-v1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nX-Request-Id: {i:08x}\r\n\r\n",
        paths[i % paths.len()]
    ))
}

/// One pass: [`FLOWS`] flows from client ports `base..`, each SYN, [`PER_FLOW`] requests
/// of one segment each, RST.
struct Corpus {
    server: SocketAddr,
    requests: Vec<Bytes>,
}

impl Corpus {
    fn pass(&self, pipeline: &mut Pipeline<Counting>, base: u16, ts: &mut u64) {
        for f in 0..FLOWS {
            let client = SocketAddr::new([10, 0, 0, 1].into(), base + f);
            let flow = FlowKey::new(client, self.server);
            *ts += 1;
            pipeline.push(Segment::new(flow, 1000, tcp_flags::SYN, *ts, Bytes::new()));
            let mut seq = 1001u32;
            for r in 0..PER_FLOW {
                let bytes =
                    self.requests[(usize::from(f) * PER_FLOW + r) % self.requests.len()].clone();
                let len = bytes.len() as u32;
                *ts += 1;
                pipeline.push(Segment::new(
                    flow,
                    seq,
                    tcp_flags::ACK | tcp_flags::PSH,
                    *ts,
                    bytes,
                ));
                seq = seq.wrapping_add(len);
            }
            *ts += 1;
            pipeline.push(Segment::new(flow, seq, tcp_flags::RST, *ts, Bytes::new()));
        }
        pipeline.flush_mirrors();
    }
}

fn setup() -> (Corpus, Pipeline<Counting>) {
    let plan = plan();
    let server = plan
        .endpoints
        .first()
        .expect("the route captures an endpoint")
        .addr;
    let mut pipeline = Pipeline::new(
        Reconstructor::new(Config::default()),
        Sampler::new(7),
        Counting::default(),
        "x-shadowtap-mirrored",
    );
    pipeline.set_plan(plan);
    let corpus = Corpus {
        server,
        requests: (0..512).map(request).collect(),
    };
    (corpus, pipeline)
}

fn main() {
    let (corpus, mut pipeline) = setup();
    let mut ts = 1u64;
    // One checking pass: every request decoded, about 42 % submitted.
    corpus.pass(&mut pipeline, 20_000, &mut ts);
    let per_pass = u64::from(FLOWS) * PER_FLOW as u64;
    let submitted = pipeline.sink().0;
    assert!(
        submitted > per_pass / 4 && submitted < per_pass * 3 / 5,
        "{submitted} of {per_pass} submitted"
    );
    if let Ok(n) = std::env::var("SHADOWTAP_BENCH_ITERS") {
        let n: u16 = n.parse().expect("SHADOWTAP_BENCH_ITERS: a number");
        for i in 0..n {
            corpus.pass(&mut pipeline, 20_000 + (i % 8 + 1) * FLOWS, &mut ts);
        }
        println!(
            "{n} passes of {per_pass} requests; {} submitted",
            pipeline.sink().0
        );
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(per_pass));
    let mut i = 0u16;
    g.bench_function("http1_route_42", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            corpus.pass(&mut pipeline, 20_000 + (i % 8 + 1) * FLOWS, &mut ts);
        })
    });
    g.finish();
    c.final_summary();
}
