//! Decode throughput of shadowtap-h2 on generated client connections: many small GETs
//! (8 streams interleaved, the header fields a browser or h2load sends, HPACK-indexed after
//! the first), and a few 64 KiB uploads in 16 KiB DATA frames. Figures, never pass/fail.
#![allow(missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shadowtap_h2::{H2Decoder, Limits, Start};
use support::{Client, HeadersOpts};

fn small_gets(n: u32) -> Vec<u8> {
    let mut c = Client::new();
    for batch in 0..n / 8 {
        for i in 0..8 {
            let id = 2 * (batch * 8 + i) + 1;
            let path = format!("/api/items/{id}");
            c.headers(
                id,
                &[
                    (":method", "GET"),
                    (":scheme", "http"),
                    (":authority", "catalog.shop.svc.cluster.local:8080"),
                    (":path", &path),
                    ("user-agent", "h2load nghttp2/1.52.0"),
                    ("accept", "application/json"),
                    ("accept-encoding", "gzip, deflate"),
                    ("x-request-id", "6f1c2d7e-9a3b-4c55-8e21-0b7d9f3a2c11"),
                ],
                HeadersOpts {
                    end_stream: true,
                    ..HeadersOpts::default()
                },
            );
        }
        c.noise(1);
    }
    c.bytes
}

fn uploads(n: u32, size: usize) -> Vec<u8> {
    let mut c = Client::new();
    let body = vec![0x5a; size];
    for i in 0..n {
        let id = 2 * i + 1;
        c.request(id, "POST", "/upload", false);
        let chunks: Vec<&[u8]> = body.chunks(16 * 1024).collect();
        for (k, chunk) in chunks.iter().enumerate() {
            c.data(id, chunk, k + 1 == chunks.len(), None);
        }
    }
    c.bytes
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("small_gets_x800", small_gets(800), 800),
        ("uploads_64k_x16", uploads(16, 64 * 1024), 16),
    ];
    let mut g = c.benchmark_group("h2_decode");
    for (name, bytes, want) in cases {
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        // Pushed in 1 448-byte pieces, as TCP segments would deliver them.
        g.bench_function(name, |b| {
            b.iter_batched(
                || Vec::with_capacity(want),
                |mut out| {
                    let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
                    for piece in bytes.chunks(1448) {
                        d.push(piece, &mut out);
                    }
                    assert_eq!(out.len(), want);
                    out
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
