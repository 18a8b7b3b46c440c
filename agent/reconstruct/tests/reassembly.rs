//! Reassembly, gaps, resync and eviction through the whole pipeline.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use shadowtap_reconstruct::{Config, Counter, Segment};
use support::*;

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const POST: &[u8] = b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody";

#[test]
fn out_of_order_duplicates_and_overlaps() {
    let stream = [GET, POST, GET].concat();
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    let at = |o: usize| ISN + 1 + o as u32;
    // Tail first, then a duplicate of it, an overlapping middle, then the head.
    h.push(data(f, at(40), 2, &stream[40..]));
    h.push(data(f, at(40), 3, &stream[40..]));
    h.push(data(f, at(20), 4, &stream[20..50]));
    assert!(h.out.is_empty());
    h.push(data(f, at(0), 5, &stream[..25]));
    assert_eq!(h.raws(), vec![GET.to_vec(), POST.to_vec(), GET.to_vec()]);
    // A retransmission of everything changes nothing.
    h.push(data(f, at(0), 6, &stream));
    h.flush();
    assert_eq!(h.out.len(), 3);
    assert!(h.c(Counter::BytesDuplicate) > 0);
    assert!(h.c(Counter::SegmentsDuplicate) >= 2);
    assert_eq!(h.c(Counter::OverlapConflicts), 0);
    assert_eq!(h.c(Counter::Gaps), 0);
}

#[test]
fn conflicting_bytes_become_a_gap() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    let at = |o: usize| ISN + 1 + o as u32;
    h.push(data(f, at(10), 2, &GET[10..]));
    let mut forged = GET[5..].to_vec();
    forged[10] ^= 0x20;
    h.push(data(f, at(5), 3, &forged));
    h.push(data(f, at(0), 4, &GET[..5]));
    h.flush();
    assert!(
        h.out.is_empty(),
        "a request with disputed bytes is never emitted"
    );
    assert_eq!(h.c(Counter::OverlapConflicts), 1);
    assert_eq!(h.c(Counter::GapConflict), 1);
}

#[test]
fn sequence_wrap_around() {
    let stream = [POST, GET, POST].concat();
    for isn in [u32::MAX - 10, u32::MAX, u32::MAX - 60] {
        let f = flow(1);
        let mut h = Harness::new();
        h.push(syn(f, isn, 1));
        let chunks: Vec<(u32, &[u8])> = stream
            .chunks(9)
            .enumerate()
            .map(|(i, c)| (isn.wrapping_add(1 + 9 * i as u32), c))
            .collect();
        for (seq, c) in chunks.iter().rev() {
            h.push(data(f, *seq, 2, c));
        }
        h.flush();
        assert_eq!(
            h.raws(),
            vec![POST.to_vec(), GET.to_vec(), POST.to_vec()],
            "isn {isn}"
        );
    }
}

#[test]
fn gap_timeout_uses_capture_time_and_drops_the_request() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    let at = |o: usize| ISN + 1 + o as u32;
    // POST head, lost body bytes, then a GET in its own segment.
    h.push(data(f, at(0), 10, &POST[..POST.len() - 4]));
    h.push(data(f, at(POST.len()), 20, GET));
    h.advance(20 + 999_999_999);
    assert!(h.out.is_empty());
    assert_eq!(h.c(Counter::Gaps), 0);
    h.advance(20 + 1_000_000_000);
    assert_eq!(h.c(Counter::GapTimeout), 1);
    assert_eq!(h.c(Counter::DroppedGap), 1);
    assert_eq!(h.c(Counter::BytesLost), 4);
    assert_eq!(h.raws(), vec![GET.to_vec()]);
    h.flush();
}

#[test]
fn truncated_segment_is_a_gap() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    let stream = [POST, GET].concat();
    let mut s = data(f, ISN + 1, 2, &stream[..POST.len() - 2]);
    s.payload_len = POST.len() as u32;
    h.push(s);
    assert_eq!(h.c(Counter::GapTruncated), 1);
    assert_eq!(h.c(Counter::DroppedGap), 1);
    h.push(data(f, ISN + 1 + POST.len() as u32, 3, GET));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
}

#[test]
fn fin_waits_for_the_hole_and_rst_ends_now() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    let end = ISN + 1 + GET.len() as u32;
    h.push(fin(f, end, 3));
    assert_eq!(h.r.flows(), 1);
    h.push(data(f, ISN + 1, 4, GET));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.r.flows(), 0);
    assert_eq!(h.c(Counter::EvictedFin), 1);

    let g = flow(2);
    h.push(syn(g, ISN, 1));
    h.push(data(g, ISN + 1, 2, &POST[..10]));
    h.push(rst(g, ISN + 11, 3));
    assert_eq!(h.c(Counter::EvictedRst), 1);
    assert_eq!(h.c(Counter::DroppedIncomplete), 1);
    // Late segments of the ended flow are ignored.
    h.push(fin(g, ISN + 50, 4));
    assert_eq!(h.c(Counter::SegmentsAfterClose), 1);
    h.flush();
}

#[test]
fn late_retransmission_after_fin_is_not_emitted_twice() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, ISN + 1, 2, GET));
    h.push(fin(f, ISN + 1 + GET.len() as u32, 3));
    assert_eq!(h.out.len(), 1);
    h.push(data(f, ISN + 1, 4, GET));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.c(Counter::SegmentsAfterClose), 1);
    // After the linger time a segment starts a mid-stream flow again; a SYN at once.
    h.push(data(f, ISN + 1, 5_000_000_004, GET));
    assert_eq!(h.out.len(), 2);
    h.push(rst(f, ISN + 1 + GET.len() as u32, 5_000_000_005));
    h.push(syn(f, 1, 5_000_000_006));
    h.push(data(f, 2, 5_000_000_007, GET));
    assert_eq!(h.out.len(), 3);
    h.flush();
}

#[test]
fn idle_and_cap_eviction() {
    let mut config = Config {
        max_flows: 3,
        ..Config::default()
    };
    config.timeouts.idle_ns = 10_000;
    let mut h = Harness::with(config);
    for i in 0..3 {
        h.push(syn(flow(i), ISN, 100 + u64::from(i)));
    }
    // Flow 0 is active again: flow 1 is the least recently active.
    h.push(data(flow(0), ISN + 1, 200, b"GET"));
    h.push(syn(flow(3), ISN, 201));
    assert_eq!(h.c(Counter::EvictedCap), 1);
    assert_eq!(h.r.flows(), 3);
    h.push(data(flow(1), ISN + 1, 202, GET));
    assert_eq!(
        h.c(Counter::FlowsMidstream),
        1,
        "flow 1 came back without a SYN"
    );
    assert_eq!(h.out.len(), 1, "a request at a segment start resyncs");
    assert_eq!(h.c(Counter::EvictedCap), 2);
    h.advance(202 + 10_000);
    assert_eq!(h.c(Counter::EvictedIdle), 3);
    assert_eq!(h.c(Counter::DroppedIncomplete), 1, "flow 0's partial GET");
    h.flush();
}

#[test]
fn new_syn_on_same_tuple_replaces_the_flow() {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, ISN + 1, 2, &GET[..5]));
    h.push(syn(f, ISN, 3));
    assert_eq!(
        h.c(Counter::EvictedReused),
        0,
        "a retransmitted SYN is the same flow"
    );
    h.push(syn(f, 777, 4));
    assert_eq!(h.c(Counter::EvictedReused), 1);
    h.push(data(f, 778, 5, GET));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
}

#[test]
fn midstream_resync_only_at_segment_starts() {
    // A body that contains a complete request line, mid-segment and at a segment start.
    let fake = b"GET /fake HTTP/1.1\r\nHost: f\r\n\r\n";
    let body = [&b"xx"[..], fake].concat();
    let post = [
        format!("POST /p HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
        &body,
    ]
    .concat();
    let f = flow(1);
    let mut h = Harness::new();
    let seq = 5000u32;
    // Mid-stream: the first segment starts inside the POST head.
    h.push(data(f, seq, 1, &post[3..post.len() - 2]));
    h.push(data(
        f,
        seq + post.len() as u32 - 5,
        2,
        &post[post.len() - 2..],
    ));
    h.push(data(f, seq + post.len() as u32 - 3, 3, GET));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
    assert_eq!(h.c(Counter::FlowsMidstream), 1);
    assert_eq!(h.c(Counter::ResyncAccepted), 1);

    // In sync, the fake request inside the body is body, even at a segment start.
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    let split = post.len() - fake.len();
    h.push(data(f, ISN + 1, 2, &post[..split]));
    h.push(data(f, ISN + 1 + split as u32, 3, &post[split..]));
    h.flush();
    assert_eq!(h.raws(), vec![post.clone()]);

    // After a gap, resync accepts the first segment start that begins a valid head.
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, ISN + 1, 2, &post[..10]));
    let rest = [&post[split..], GET].concat();
    h.push(data(f, ISN + 1 + split as u32, 3, &rest));
    h.advance(10_000_000_000);
    h.flush();
    assert_eq!(h.c(Counter::DroppedGap), 1);
    assert_eq!(
        h.raws(),
        vec![fake.to_vec(), GET.to_vec()],
        "the documented false positive"
    );
}

#[test]
fn per_flow_cap_forces_a_gap() {
    let mut config = Config::default();
    config.budgets.flow_reassembly_bytes = 100;
    let mut h = Harness::with(config);
    let f = flow(1);
    h.push(syn(f, ISN, 1));
    h.push(data(f, ISN + 1, 2, &POST[..10]));
    let mut seq = ISN + 1 + 20;
    for i in 0..20 {
        h.push(data(f, seq, 3 + i, GET));
        seq += GET.len() as u32;
    }
    assert!(h.c(Counter::GapFlowCap) >= 1);
    assert_eq!(h.c(Counter::DroppedGap), 1);
    assert!(h.r.reassembly_bytes() <= 100);
    h.flush();
    assert_eq!(h.out.len(), 20);
}

#[test]
fn ten_thousand_flows_with_holes_stay_within_the_global_budget() {
    let mut config = Config::default();
    config.budgets.reassembly_bytes = 1 << 20;
    let mut h = Harness::with(config);
    let body = vec![b'z'; 1000];
    let post = [
        format!("POST /p HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
        &body,
    ]
    .concat();
    for i in 0..10_000u16 {
        let f = flow(i);
        h.push(syn(f, ISN, 1));
        h.push(data(f, ISN + 1, 2, &post[..30]));
        // Hole of 10 bytes, then 300 bytes buffered out of order.
        h.push(data(f, ISN + 41, 3, &post[40..340]));
        assert!(h.r.reassembly_bytes() <= 1 << 20);
    }
    assert_eq!(h.r.flows(), 10_000);
    let gaps = h.c(Counter::GapBudget);
    assert!(gaps >= 10_000 - (1 << 20) / 300, "gaps {gaps}");
    assert_eq!(h.c(Counter::DroppedGap), gaps);
    h.flush();
    assert!(h.out.is_empty());
}

#[test]
fn segments_from_ring_records() {
    use shadowtap_common::maps::ipv4_mapped;
    use shadowtap_common::record::tcp_flags;
    use shadowtap_common::RecordHeader;
    let h = RecordHeader {
        ts_ns: 5,
        saddr: ipv4_mapped([10, 0, 0, 1]),
        daddr: ipv4_mapped([10, 0, 0, 2]),
        sport: 40000u16.to_be_bytes(),
        dport: 80u16.to_be_bytes(),
        seq: 42,
        payload_len: GET.len() as u32,
        captured_len: GET.len() as u32,
        tcp_flags: tcp_flags::ACK,
        ip_version: 4,
        ..RecordHeader::default()
    };
    let s = Segment::from_record(&h, GET).unwrap();
    let mut harness = Harness::new();
    harness.push(s);
    assert_eq!(harness.raws(), vec![GET.to_vec()]);
    let bad = harness.r.push_record(&[0u8; 10]).map(|d| d.count());
    assert!(bad.is_err());
    assert_eq!(harness.c(Counter::SegmentsMalformed), 1);
    let _ = Bytes::new();
    harness.flush();
}
