//! Cost of framing and pairing the primary's responses per mode, next to shadowtap-wire's
//! `ResponseReader` (which only finds each response's end) on the same keep-alive stream.
//!
//! Run: `cargo bench -p shadowtap-compare --bench pairing -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput};
use shadowtap_compare::{
    CompareMode, CompareSpec, Counters, Http1Pairing, PairId, PairingLimits, RequestSeen,
};
use shadowtap_wire::http1::{Method, ReadProgress, ResponseLimits, ResponseReader};

const RESPONSES: usize = 64;
const SEGMENT: usize = 1448;

/// A keep-alive stream of nginx-like responses with `body` bytes each, one chunked in four.
fn stream(body: usize) -> Vec<u8> {
    let payload = vec![b'x'; body];
    let mut s = Vec::new();
    for i in 0..RESPONSES {
        s.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 30 Nov 2026 14:00:00 GMT\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nETag: \"6b0d848d-1770\"\r\n");
        if i % 4 == 3 {
            s.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for c in payload.chunks(4096) {
                s.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                s.extend_from_slice(c);
                s.extend_from_slice(b"\r\n");
            }
            s.extend_from_slice(b"0\r\n\r\n");
        } else {
            s.extend_from_slice(format!("Content-Length: {body}\r\n\r\n").as_bytes());
            s.extend_from_slice(&payload);
        }
    }
    s
}

fn pair(stream: &[u8], spec: Option<&Arc<CompareSpec>>) -> usize {
    let mut p = Http1Pairing::new(PairingLimits::default());
    let mut out = Vec::with_capacity(RESPONSES);
    let mut counters = Counters::default();
    for i in 0..RESPONSES {
        p.push_request(
            RequestSeen {
                method: Method::Get,
                mirrored: spec.map(|s| (PairId(i as u64), s.clone())),
                end_ns: 0,
            },
            &mut out,
            &mut counters,
        );
    }
    for seg in stream.chunks(SEGMENT) {
        p.push_bytes(seg, 1, &mut out, &mut counters);
    }
    out.len()
}

fn reader(stream: &[u8]) -> usize {
    let mut n = 0;
    let mut r = ResponseReader::new(false, ResponseLimits::default());
    let mut buf: Vec<u8> = Vec::new();
    for seg in stream.chunks(SEGMENT) {
        buf.extend_from_slice(seg);
        loop {
            match r.feed(&buf).unwrap() {
                ReadProgress::NeedMore { consumed } => {
                    buf.drain(..consumed);
                    break;
                }
                ReadProgress::Complete { consumed, .. } => {
                    buf.drain(..consumed);
                    n += 1;
                    r = ResponseReader::new(false, ResponseLimits::default());
                }
            }
        }
    }
    n
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    for body in [200usize, 16 << 10] {
        let s = stream(body);
        let mut g = c.benchmark_group(format!("responses_{body}B"));
        g.throughput(Throughput::Elements(RESPONSES as u64));
        g.bench_function("wire_response_reader", |b| {
            b.iter(|| black_box(reader(black_box(&s))))
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
