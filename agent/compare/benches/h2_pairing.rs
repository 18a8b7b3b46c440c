//! Cost of decoding and pairing the primary's HTTP/2 responses per mode: 64 gRPC-shaped
//! responses (head, one DATA frame, trailers) on one connection, 8 streams interleaved at
//! a time, cut into 1 448-byte segments; next to the server-direction decoder alone.
//!
//! Run: `cargo bench -p shadowtap-compare --bench h2_pairing -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use shadowtap_compare::{
    CompareMode, CompareSpec, Counters, H2Pairing, H2RequestSeen, PairId, PairingLimits,
};
use shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_h2::frame::FrameType;
use shadowtap_h2::{H2ResponseDecoder, Limits};

const RESPONSES: u32 = 64;
const SEGMENT: usize = 1448;

fn stream(body: usize) -> Vec<Bytes> {
    let payload = vec![b'x'; body];
    let mut s = ClientBytes::without_preface();
    s.frame(FrameType::Settings, 0, 0, &[]);
    for batch in 0..RESPONSES / 8 {
        let ids: Vec<u32> = (0..8).map(|i| 2 * (batch * 8 + i) + 1).collect();
        for id in &ids {
            s.headers(
                *id,
                &[
                    (":status", "200"),
                    ("content-type", "application/grpc"),
                    ("grpc-accept-encoding", "identity, deflate, gzip"),
                ],
                HeadersOpts::default(),
            );
        }
        for id in &ids {
            s.data(*id, &payload, false, None);
        }
        for id in &ids {
            s.headers(
                *id,
                &[("grpc-status", "0"), ("grpc-message", "")],
                HeadersOpts {
                    end_stream: true,
                    ..HeadersOpts::default()
                },
            );
        }
    }
    s.bytes
        .chunks(SEGMENT)
        .map(Bytes::copy_from_slice)
        .collect()
}

fn decode(segments: &[Bytes]) -> usize {
    let mut d = H2ResponseDecoder::new(Limits::default());
    let mut out = Vec::new();
    let mut n = 0;
    for seg in segments {
        d.push(seg, &mut out);
        n += out.len();
        out.clear();
    }
    n
}

fn pair(segments: &[Bytes], spec: Option<&Arc<CompareSpec>>) -> usize {
    let mut p = H2Pairing::new(PairingLimits::default());
    let mut out = Vec::with_capacity(RESPONSES as usize);
    let mut counters = Counters::default();
    for i in 0..RESPONSES {
        p.push_request(
            H2RequestSeen {
                stream_id: 2 * i + 1,
                mirrored: spec.map(|s| (PairId(u64::from(i)), s.clone())),
                end_ns: 0,
            },
            &mut out,
            &mut counters,
        );
    }
    for seg in segments {
        p.push_bytes(seg, 1, &mut out, &mut counters);
    }
    out.len()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for body in [200usize, 16 << 10] {
        let s = stream(body);
        let mut g = c.benchmark_group(format!("h2_responses_{body}B"));
        g.throughput(Throughput::Elements(u64::from(RESPONSES)));
        g.bench_function("server_decoder", |b| {
            b.iter(|| black_box(decode(black_box(&s))))
        });
        g.bench_function("pairing_not_mirrored", |b| {
            b.iter(|| black_box(pair(black_box(&s), None)))
        });
        for mode in [CompareMode::Status, CompareMode::Headers, CompareMode::Body] {
            let spec = Arc::new(CompareSpec::new(mode));
            g.bench_function(format!("pairing_{}", mode.name()), |b| {
                b.iter(|| black_box(pair(black_box(&s), Some(&spec))))
            });
        }
        g.finish();
    }
    c.final_summary();
}
