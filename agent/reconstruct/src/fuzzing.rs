//! Fuzzing entry points, shared by the cargo-fuzz targets in `fuzz/` and by the test suite
//! (which runs them over a committed corpus and pseudo-random inputs, so CI exercises them
//! without cargo-fuzz).
//!
//! [`run`] never panics on its own account: a panic is a finding — either the library
//! panicked, or one of the invariants checked here failed:
//! - every emitted request is a contiguous run of the bytes the flow actually carried (never
//!   a splice), and its head parses again to the same layout;
//! - requests of one flow come out in stream order;
//! - after `flush`, conservation holds and no budget is in use.

use bytes::Bytes;
use shadowtap_common::record::tcp_flags;
use shadowtap_wire::http1::{parse_request_head, Status};

use shadowtap_wire::fuzzing::Rng;

use crate::config::{Config, Limits};
use crate::http::request::Request;
use crate::reconstructor::Reconstructor;
use crate::segment::{FlowKey, Segment};

fn config(selector: u8) -> Config {
    let mut c = Config::default();
    if selector & 1 != 0 {
        c.limits = Limits {
            max_header_bytes: 200,
            max_headers: 6,
            max_body_bytes: 64,
        };
    }
    if selector & 2 != 0 {
        c.budgets.reassembly_bytes = 256;
        c.budgets.flow_reassembly_bytes = 128;
        c.budgets.flow_reassembly_segments = 4;
        c.budgets.inflight_bytes = 512;
    }
    if selector & 4 != 0 {
        c.max_flows = 2;
        c.timeouts.gap_ns = 50;
        c.timeouts.idle_ns = 500;
        c.timeouts.sweep_ns = 10;
    }
    c
}

fn flow(n: u8) -> FlowKey {
    FlowKey {
        client_addr: [n; 16],
        server_addr: [0xfe; 16],
        client_port: 1000 + u16::from(n),
        server_port: 80,
    }
}

fn check_request(r: &Request, stream: &[u8], cursor: &mut usize) {
    let raw = r.raw();
    match memchr::memmem::find(&stream[*cursor..], raw) {
        Some(at) => *cursor += at + raw.len(),
        // A flow ended (RST, eviction) and restarted mid-stream on retransmitted bytes may
        // emit a request again; it must still be a run of the stream.
        None => assert!(
            memchr::memmem::find(stream, raw).is_some(),
            "emitted request is not a contiguous run of its stream (splice): {raw:?}"
        ),
    }
    match parse_request_head(raw, 256) {
        Ok(Status::Complete(head)) => assert_eq!(&head, r.parsed_head(), "head layout"),
        other => panic!("emitted head does not parse: {other:?}"),
    }
    assert_eq!(r.head().len() + r.body_raw().len(), raw.len());
}

/// Run one fuzz input through reassembly and decoding, checking the invariants above.
///
/// The first byte selects a configuration (tight limits, tight budgets, tiny timeouts); the
/// rest is the client byte stream of one flow (flows 0) or two; segments, reordering,
/// duplication, loss, truncation and FIN/RST are drawn from a generator seeded by the input.
pub fn run(data: &[u8]) {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let config = config(selector);
    let mut rng = Rng::seeded(data, 16);
    let mut recon = Reconstructor::new(config);
    let mut out: Vec<Request> = Vec::new();
    let flows = if selector & 8 != 0 { 2 } else { 1 };
    let isn = rng.next_u64() as u32;
    let midstream = selector & 16 != 0;
    let chaos = selector & 32 != 0;
    for f in 0..flows {
        if !midstream {
            out.extend(recon.push(Segment::new(flow(f), isn, tcp_flags::SYN, 0, Bytes::new())));
        }
    }
    // Segments: (flow, offset, len), then perturbed.
    let mut segs = Vec::new();
    for f in 0..flows {
        let mut off = 0;
        while off < stream.len() {
            let big = rng.below(4) == 0;
            let len = 1 + rng.below(if big { 2000 } else { 64 });
            let len = len.min(stream.len() - off);
            segs.push((f, off, len));
            off += len;
        }
    }
    if chaos {
        for i in 0..segs.len() {
            match rng.below(8) {
                0 => {
                    let j = rng.below(segs.len());
                    segs.swap(i, j);
                }
                1 => segs.push(segs[i]),
                2 => {
                    let (f, o, l) = segs[i];
                    let cut = rng.below(l);
                    segs.push((f, o + cut, l - cut));
                }
                _ => {}
            }
        }
    }
    let full = stream.len();
    let mut ts = 1u64;
    for (f, o, l) in segs {
        ts += rng.below(20) as u64;
        let roll = rng.below(64);
        if chaos && roll == 0 {
            continue; // lost
        }
        let seq = isn.wrapping_add(1).wrapping_add(o as u32);
        let payload = Bytes::copy_from_slice(&stream[o..o + l]);
        let mut seg = Segment::new(flow(f), seq, tcp_flags::ACK, ts, payload);
        if chaos && roll == 1 && l > 1 {
            seg.payload.truncate(l / 2);
        }
        if chaos && roll == 2 {
            seg.flags |= tcp_flags::RST;
        }
        if o + l == full && !chaos {
            seg.flags |= tcp_flags::FIN;
        }
        out.extend(recon.push(seg));
        if rng.below(16) == 0 {
            out.extend(recon.advance_time(ts));
        }
    }
    out.extend(recon.flush());
    let mut cursors = [0usize; 2];
    for r in &out {
        let f = usize::from(r.flow().client_addr[0]).min(1);
        check_request(r, stream, &mut cursors[f]);
    }
    assert!(
        recon.counters().check_conservation(0),
        "conservation: {:?}",
        recon.counters()
    );
    assert_eq!(recon.reassembly_bytes(), 0);
    assert_eq!(recon.inflight_bytes(), 0);
    assert_eq!(recon.flows(), 0);
}

/// Feed arbitrary bytes as raw ring records (header + payload, lengths as the input says)
/// to one pipeline; malformed records must be errors, never panics.
pub fn run_records(data: &[u8]) {
    let mut recon = Reconstructor::new(config(data.first().copied().unwrap_or(0)));
    let mut rest = data;
    while !rest.is_empty() {
        let take = 1 + usize::from(rest[0]) * 2;
        let (rec, tail) = rest.split_at(take.min(rest.len()));
        rest = tail;
        if let Ok(reqs) = recon.push_record(rec) {
            reqs.for_each(drop);
        }
    }
    recon.flush().for_each(drop);
    assert!(recon.counters().check_conservation(0));
}
