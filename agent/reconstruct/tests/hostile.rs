//! Hostile and unlucky TCP streams: each case asserts exactly which requests are emitted.
//! The promise under test: a request is emitted only with bytes the server received, in the
//! order it received them; reordering alone loses nothing.
#![allow(clippy::unwrap_used)]

mod support;

use shadowtap_reconstruct::Counter;
use support::*;

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const GET_B: &[u8] = b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n";

fn at(o: usize) -> u32 {
    ISN.wrapping_add(1).wrapping_add(o as u32)
}

/// `EVILS` held out of order at offset 5, then the real request covering it: the receiver
/// may have kept either version, so the request is not emitted.
#[test]
fn conflicting_overlap_is_never_emitted() {
    let f = flow(1);
    let mut h = Harness::new();
    let real = b"GET /aaaaaaaaaa HTTP/1.1\r\nHost: x\r\n\r\n";
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(5), 2, b"EVILS"));
    h.push(data(f, at(0), 3, real));
    h.push(data(f, at(real.len()), 4, GET));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()], "only the undisputed request");
    assert_eq!(h.c(Counter::OverlapConflicts), 1);
    assert_eq!(h.c(Counter::GapConflict), 1);
    assert_eq!(h.c(Counter::DroppedGap), 1);
}

/// Overlapping retransmissions that agree lose nothing.
#[test]
fn agreeing_overlaps_lose_nothing() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(5), 2, &GET[5..15]));
    h.push(data(f, at(10), 3, &GET[10..]));
    h.push(data(f, at(0), 4, GET));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
    assert_eq!(h.c(Counter::OverlapConflicts), 0);
}

/// One byte far outside any receive window is ignored: it neither blinds the flow nor
/// counts gigabytes lost.
#[test]
fn out_of_window_byte_is_ignored() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(0x7fff_0000), 2, b"x"));
    h.advance(10_000_000_000);
    h.push(data(f, at(0), 11_000_000_000, GET));
    h.push(data(f, at(GET.len()), 11_000_000_001, GET_B));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec(), GET_B.to_vec()]);
    assert_eq!(h.c(Counter::SegmentsOutOfWindow), 1);
    assert_eq!(h.c(Counter::BytesLost), 0);
}

/// A stray byte inside the window makes the hole time out and the stream jump to it; real
/// data then arriving inside the skipped range takes the flow back, so later requests are
/// still emitted.
#[test]
fn stray_byte_inside_the_window_does_not_blind_the_flow() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(1 << 20), 2, b"x"));
    h.advance(2_000_000_000);
    assert_eq!(h.c(Counter::GapTimeout), 1);
    h.push(data(f, at(0), 3_000_000_000, GET));
    h.push(data(f, at(GET.len()), 3_000_000_001, GET_B));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec(), GET_B.to_vec()]);
    assert_eq!(h.c(Counter::GapReanchor), 1);
}

/// Capture records from several CPUs may be reordered: data seen before its SYN still
/// yields the request, and the SYN is not taken for a new connection.
#[test]
fn syn_after_first_data() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(data(f, at(0), 2, GET));
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(GET.len()), 3, GET_B));
    h.push(fin(f, at(2 * GET.len()), 4));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec(), GET_B.to_vec()]);
    assert_eq!(h.c(Counter::EvictedReused), 0);
}

/// A request whose head spans two segments, both seen before the SYN.
#[test]
fn syn_after_a_split_head() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(data(f, at(0), 2, &GET[..10]));
    h.push(data(f, at(10), 3, &GET[10..]));
    h.push(syn(f, ISN, 1));
    h.push(fin(f, at(GET.len()), 4));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
}

/// A FIN captured before the last data segment: the data is still delivered.
#[test]
fn fin_before_last_data() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(0), 2, GET));
    h.push(fin(f, at(2 * GET.len()), 3));
    h.push(data(f, at(GET.len()), 4, GET_B));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec(), GET_B.to_vec()]);
    assert_eq!(h.c(Counter::EvictedFin), 1);
}

/// Sequence numbers wrapping through 2³² in the middle of a request.
#[test]
fn sequence_wrap_inside_a_request() {
    let f = flow(1);
    let mut h = Harness::new();
    let isn = u32::MAX - 7;
    h.push(syn(f, isn, 1));
    let mut seq = isn.wrapping_add(1);
    for (i, c) in GET.chunks(5).enumerate() {
        h.push(data(f, seq, 2 + i as u64, c));
        seq = seq.wrapping_add(c.len() as u32);
    }
    h.push(fin(f, seq, 100));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
}

/// One byte per segment, delivered in reverse order.
#[test]
fn one_byte_segments_in_reverse() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    for i in (0..GET.len()).rev() {
        h.push(data(f, at(i), 2 + (GET.len() - i) as u64, &GET[i..=i]));
    }
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
}

/// 100 pipelined requests in one segment, then the same again split at odd offsets.
#[test]
fn hundred_pipelined_requests() {
    let mut stream = Vec::new();
    for i in 0..100 {
        stream.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    let whole = decode(&stream, stream.len());
    assert_eq!(whole.out.len(), 100);
    let split = decode(&stream, 37);
    assert_eq!(split.raws(), whole.raws());
}

/// RST in the middle of a body: the partial request is dropped, the complete one before it
/// is emitted.
#[test]
fn rst_mid_body() {
    let f = flow(1);
    let mut h = Harness::new();
    let post = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234";
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(0), 2, GET));
    h.push(data(f, at(GET.len()), 3, post));
    h.push(rst(f, at(GET.len() + post.len()), 4));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
    assert_eq!(h.c(Counter::EvictedRst), 1);
    assert_eq!(h.c(Counter::DroppedIncomplete), 1);
}

/// A request pipelined after `Connection: close` is never read by the server.
#[test]
fn nothing_after_connection_close() {
    let close = b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n";
    for mss in [1, 7, 1000] {
        let h = decode(&[close.as_slice(), GET, GET_B].concat(), mss);
        assert_eq!(h.raws(), vec![close.to_vec()], "mss {mss}");
        assert_eq!(h.c(Counter::FlowsClosedByRequest), 1);
    }
}

/// The same after a closing request whose body is too large to mirror, and after an
/// HTTP/1.0 request without keep-alive.
#[test]
fn nothing_after_a_closing_request_that_was_skipped_or_http10() {
    let mut config = shadowtap_reconstruct::Config::default();
    config.limits.max_body_bytes = 3;
    let big = b"POST /big HTTP/1.1\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello";
    let mut h = Harness::with(config);
    h.connection(flow(1), &[big.as_slice(), GET].concat(), 1000);
    h.flush();
    assert!(h.out.is_empty());
    assert_eq!(h.c(Counter::DroppedBodyTooLarge), 1);
    assert_eq!(h.c(Counter::FlowsClosedByRequest), 1);

    let old = b"GET /old HTTP/1.0\r\n\r\n";
    let h = decode(&[old.as_slice(), GET].concat(), 1000);
    assert_eq!(h.raws(), vec![old.to_vec()]);
}

/// Smuggling: Content-Length and Transfer-Encoding together. Servers reject it (and close)
/// or frame it by Transfer-Encoding; either way the request hidden in the body, even in a
/// segment of its own, is never emitted.
#[test]
fn smuggled_request_after_cl_and_te() {
    let f = flow(1);
    let mut h = Harness::new();
    let outer =
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(0), 2, outer));
    h.push(data(f, at(outer.len()), 3, GET));
    h.flush();
    assert!(h.out.is_empty(), "{:?}", h.raws());
    assert_eq!(h.c(Counter::DroppedClAndTe), 1);
    assert_eq!(h.c(Counter::FlowsStoppedInvalid), 1);
}

/// A chunk size that overflows 64 bits: the request is dropped and the flow stops, since
/// where the server thinks the body ends is unknown.
#[test]
fn chunk_size_overflow() {
    let post =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nx\r\n0\r\n\r\n";
    let h = decode(&[post.as_slice(), GET].concat(), 1000);
    assert!(h.out.is_empty());
    assert_eq!(h.c(Counter::DroppedInvalidChunked), 1);
    assert_eq!(h.c(Counter::FlowsStoppedInvalid), 1);
}

/// Bare LF line endings: servers disagree on them, so the request is not emitted and the
/// flow is not decoded further.
#[test]
fn bare_lf_head() {
    let lf = b"GET /lf HTTP/1.1\nHost: x\n\n";
    let h = decode(&[lf.as_slice(), GET].concat(), 1000);
    assert!(h.out.is_empty());
    assert_eq!(h.c(Counter::DroppedBareLf), 1);
}

/// A gap inside a request that asked to close: nothing after it is decoded either.
#[test]
fn gap_inside_a_closing_request() {
    let f = flow(1);
    let mut h = Harness::new();
    let close = b"POST /c HTTP/1.1\r\nConnection: close\r\nContent-Length: 6\r\n\r\nabcdef";
    h.push(syn(f, ISN, 1));
    h.push(data(f, at(0), 2, &close[..close.len() - 3]));
    // The last three body bytes are lost; a request-looking segment follows.
    h.push(data(f, at(close.len()), 3, GET));
    h.advance(10_000_000_000);
    h.flush();
    assert!(h.out.is_empty(), "{:?}", h.raws());
    assert_eq!(h.c(Counter::DroppedGap), 1);
    assert_eq!(h.c(Counter::FlowsClosedByRequest), 1);
}

/// Four slow uploads of 16 MiB have filled what they may of the in-flight budget when many
/// other flows send multi-segment requests: every small request is emitted; the uploads,
/// too large for their share, are dropped and counted.
#[test]
fn slow_large_uploads_do_not_starve_other_flows() {
    use shadowtap_reconstruct::{Budgets, Config};
    const SEG: usize = 64 * 1024;
    let budgets = Budgets {
        inflight_bytes: 4 << 20,
        flow_inflight_bytes: 2 << 20,
        ..Budgets::default()
    };
    let mut h = Harness::with(Config {
        budgets,
        ..Config::default()
    });
    let uploads: Vec<_> = (0..4).map(|n| flow(1_000 + n)).collect();
    let mut up_seq = vec![ISN + 1; 4];
    let head = b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n";
    let mut first = head.to_vec();
    first.resize(SEG, b'u');
    let chunk = vec![b'u'; SEG];
    let trickle = |h: &mut Harness, up_seq: &mut [u32], ts: u64| {
        for (i, f) in uploads.iter().enumerate() {
            let c = if up_seq[i] == ISN + 1 { &first } else { &chunk };
            h.push(data(*f, up_seq[i], ts, c));
            up_seq[i] = up_seq[i].wrapping_add(SEG as u32);
        }
    };
    for f in &uploads {
        h.push(syn(*f, ISN, 1));
    }
    // 1 MiB each: together, as much as the whole budget.
    for round in 0..16 {
        trickle(&mut h, &mut up_seq, 2 + round);
    }
    // Other flows' requests, in 1 448-byte segments, four flows interleaved at a time.
    let mut small = b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n".to_vec();
    small.resize(small.len() + 20_000, b's');
    let mut flows = 0u16;
    for _ in 0..25 {
        let batch: Vec<_> = (0..4)
            .map(|_| {
                flows += 1;
                flow(flows)
            })
            .collect();
        let mut seq = vec![ISN + 1; batch.len()];
        for f in &batch {
            h.push(syn(*f, ISN, 20));
        }
        for c in small.chunks(1448) {
            for (i, f) in batch.iter().enumerate() {
                h.push(data(*f, seq[i], 20, c));
                seq[i] = seq[i].wrapping_add(c.len() as u32);
            }
        }
        for (i, f) in batch.iter().enumerate() {
            h.push(fin(*f, seq[i], 20));
        }
    }
    let emitted = h
        .out
        .iter()
        .filter(|r| r.raw().starts_with(b"POST /small"))
        .count();
    assert_eq!(emitted, usize::from(flows), "every small request emitted");
    assert_eq!(
        h.c(Counter::DroppedBodyBudget),
        1,
        "one upload over the shared part"
    );
    // The uploads go on trickling: each is dropped as it outgrows its share.
    for round in 0..20 {
        trickle(&mut h, &mut up_seq, 30 + round);
    }
    assert_eq!(
        h.c(Counter::DroppedBodyBudget),
        4,
        "every upload dropped, counted"
    );
    assert!(h.r.inflight_bytes() <= 4 << 20);
    h.flush();
}
