//! Reassembly + decode throughput next to raw `httparse` on the same request corpus.
//!
//! Run: `cargo bench -p shadowtap-reconstruct --bench decode -- --warm-up-time 1 --measurement-time 3`
//!
//! Counted in instructions: `SHADOWTAP_BENCH_SIDE=<side> SHADOWTAP_BENCH_ITERS=<n>` runs one
//! side `n` times after the corpus set-up and one checking pass, and exits (for callgrind or
//! `perf stat`: per pass = (run of 20 − run of 0) / 20). Sides: `ours` (reassembly + decode),
//! `raw` (raw `httparse::Request::parse`, the baseline of the target), `raw-uninit` (httparse's
//! uninitialised-headers entry point, for comparison), `clones` (the benchmark's own copies of
//! the segments that `ours` hands the reconstructor, alone).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use shadowtap_common::record::tcp_flags;
use shadowtap_reconstruct::{Config, FlowKey, Reconstructor, Segment};

const FLOWS: usize = 64;
const PER_FLOW: usize = 32;
const MSS: usize = 1448;

/// A deterministic corpus of realistic requests: browsers, API clients, JSON bodies,
/// chunked uploads.
fn corpus() -> Vec<Vec<u8>> {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    let paths = [
        "/",
        "/api/v1/users",
        "/api/v1/orders/12345",
        "/static/app.js",
        "/search",
        "/healthz",
    ];
    let mut out = Vec::new();
    for i in 0..FLOWS * PER_FLOW {
        let path = paths[rnd(paths.len() as u64) as usize];
        let mut r = Vec::new();
        let kind = rnd(10);
        let method = match kind {
            0..=5 => "GET",
            6..=7 => "POST",
            8 => "PUT",
            _ => "DELETE",
        };
        r.extend_from_slice(
            format!("{method} {path}?q={i}&page={} HTTP/1.1\r\n", rnd(100)).as_bytes(),
        );
        r.extend_from_slice(b"Host: shop.example.svc.cluster.local:8080\r\n");
        r.extend_from_slice(b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n");
        r.extend_from_slice(b"Accept: application/json, text/plain, */*\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n");
        r.extend_from_slice(
            format!(
                "X-Request-Id: {:016x}{:016x}\r\n",
                rnd(u64::MAX),
                rnd(u64::MAX)
            )
            .as_bytes(),
        );
        if rnd(2) == 0 {
            r.extend_from_slice(
                format!(
                    "Cookie: session={:032x}; theme=dark; consent=yes\r\n",
                    rnd(u64::MAX)
                )
                .as_bytes(),
            );
        }
        if rnd(3) == 0 {
            r.extend_from_slice(b"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n");
        }
        r.extend_from_slice(b"Connection: keep-alive\r\n");
        match method {
            "POST" | "PUT" if rnd(4) == 0 => {
                r.extend_from_slice(
                    b"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                for _ in 0..1 + rnd(4) {
                    let n = 100 + rnd(900) as usize;
                    r.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    r.extend(std::iter::repeat_n(b'd', n));
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
            }
            "POST" | "PUT" => {
                let n = 50 + rnd(2000) as usize;
                let body: Vec<u8> = (0..n)
                    .map(|k| b"{\"a\":1,\"name\":\"x\"}"[k % 18])
                    .collect();
                r.extend_from_slice(
                    format!("Content-Type: application/json\r\nContent-Length: {n}\r\n\r\n")
                        .as_bytes(),
                );
                r.extend_from_slice(&body);
            }
            _ => r.extend_from_slice(b"\r\n"),
        }
        out.push(r);
    }
    out
}

/// Keep-alive connections: each flow's requests back to back, cut into MSS segments
/// (so segments hold several pipelined requests or parts of one), flows interleaved.
fn segments(reqs: &[Vec<u8>]) -> Vec<Segment> {
    let mut per_flow = Vec::new();
    for f in 0..FLOWS {
        let key = FlowKey::new(
            format!("10.0.{}.{}:{}", f / 250, f % 250 + 1, 40000 + f)
                .parse()
                .unwrap(),
            "10.1.0.1:8080".parse().unwrap(),
        );
        let stream: Vec<u8> = reqs[f * PER_FLOW..(f + 1) * PER_FLOW].concat();
        let isn = 1000 + f as u32;
        let mut segs = vec![Segment::new(key, isn, tcp_flags::SYN, 1, Bytes::new())];
        let stream = Bytes::from(stream);
        let mut off = 0;
        while off < stream.len() {
            let end = (off + MSS).min(stream.len());
            let seq = isn.wrapping_add(1 + off as u32);
            segs.push(Segment::new(
                key,
                seq,
                tcp_flags::ACK | tcp_flags::PSH,
                2,
                stream.slice(off..end),
            ));
            off = end;
        }
        per_flow.push(segs);
    }
    let mut out = Vec::new();
    let longest = per_flow.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for f in &per_flow {
            if let Some(s) = f.get(i) {
                out.push(s.clone());
            }
        }
    }
    out
}

fn reconstruct(segs: &[Segment]) -> usize {
    let mut r = Reconstructor::new(Config::default());
    let mut n = 0;
    for s in segs {
        for q in r.push(s.clone()) {
            black_box(q);
            n += 1;
        }
    }
    n + r.flush().count()
}

/// What [`reconstruct`] spends on the benchmark's own copies of the segments (each pass
/// hands the reconstructor its own), measured alone: a segment cloned and dropped.
fn clones(segs: &[Segment]) -> usize {
    let mut n = 0;
    for s in segs {
        n += black_box(s.clone()).payload.len();
    }
    n
}

fn raw_httparse(reqs: &[Vec<u8>]) -> usize {
    let mut n = 0;
    for r in reqs {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = req.parse(r) {
            n += black_box(len);
        }
    }
    n
}

/// [`raw_httparse`] with httparse's uninitialised-headers entry point, as shadowtap-wire
/// calls it (no header array to initialise per request): for comparison only, the target is
/// set against [`raw_httparse`].
fn raw_httparse_uninit(reqs: &[Vec<u8>]) -> usize {
    let mut n = 0;
    for r in reqs {
        let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
        let mut req = httparse::Request::new(&mut []);
        if let Ok(httparse::Status::Complete(len)) = req.parse_with_uninit_headers(r, &mut headers)
        {
            n += black_box(len);
        }
    }
    n
}

/// Median time of `f` and `g`, measured alternately so both see the same machine load.
fn side_by_side(
    mut f: impl FnMut() -> usize,
    mut g: impl FnMut() -> usize,
) -> (Duration, Duration) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..101 {
        let t = Instant::now();
        black_box(f());
        a.push(t.elapsed());
        let t = Instant::now();
        black_box(g());
        b.push(t.elapsed());
    }
    a.sort_unstable();
    b.sort_unstable();
    (a[a.len() / 2], b[b.len() / 2])
}

fn main() {
    let reqs = corpus();
    let segs = segments(&reqs);
    let n = reqs.len();
    let bytes: usize = reqs.iter().map(Vec::len).sum();
    assert_eq!(reconstruct(&segs), n, "every request decoded");
    // For load-independent comparisons (e.g. `perf stat -e instructions`): run one side a
    // fixed number of times and exit.
    if let (Ok(side), Ok(iters)) = (
        std::env::var("SHADOWTAP_BENCH_SIDE"),
        std::env::var("SHADOWTAP_BENCH_ITERS"),
    ) {
        for _ in 0..iters.parse::<usize>().unwrap_or(0) {
            black_box(match side.as_str() {
                "raw" => raw_httparse(&reqs),
                "raw-uninit" => raw_httparse_uninit(&reqs),
                "clones" => clones(&segs),
                _ => reconstruct(&segs),
            });
        }
        return;
    }

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("reassembly+decode", |b| {
        b.iter(|| reconstruct(black_box(&segs)))
    });
    g.bench_function("raw httparse", |b| {
        b.iter(|| raw_httparse(black_box(&reqs)))
    });
    g.finish();
    c.final_summary();

    let (ours, raw) = side_by_side(|| reconstruct(&segs), || raw_httparse(&reqs));
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let mb = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    let text = format!(
        "reassembly + decode vs raw httparse (one core, same run)\n\n\
         corpus: {n} requests, {bytes} bytes, {} segments of <= {MSS} bytes, {FLOWS} flows\n\n\
         | side | requests/s | MB/s |\n|---|---:|---:|\n\
         | reassembly + decode | {:.0} | {:.0} |\n\
         | raw httparse | {:.0} | {:.0} |\n\n\
         ratio (reassembly+decode / raw httparse, requests/s, medians of 101 alternating runs): \
         {:.2} (target >= 0.8)\n",
        segs.len(),
        rate(ours),
        mb(ours),
        rate(raw),
        mb(raw),
        raw.as_secs_f64() / ours.as_secs_f64()
    );
    print!("{text}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-results");
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(dir.join("decode.md"), &text).is_ok()
    {
        println!("written to {}", dir.join("decode.md").display());
    }
}
