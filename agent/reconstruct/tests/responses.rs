//! The response direction through the reconstructor: response segments never become request
//! flows, come out as response events with their capture times, share the reassembly
//! budget; and request-stream losses are reported where they happened among the requests.
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use bytes::Bytes;
use shadowtap_common::record::tcp_flags::{ACK, FIN, SYN};
use shadowtap_common::{record::direction, RecordHeader};
use shadowtap_reconstruct::{
    Config, Counter, Reconstructor, ResponseCounter, ResponseEvent, Segment,
};
use support::{data, flow, syn, ISN};

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn response_records_are_read_client_to_server() {
    let f = flow(1);
    let h = RecordHeader {
        saddr: f.server_addr,
        daddr: f.client_addr,
        sport: f.server_port.to_be_bytes(),
        dport: f.client_port.to_be_bytes(),
        seq: 7,
        payload_len: 4,
        captured_len: 2,
        truncated: 1,
        ip_version: 4,
        direction: direction::RESPONSE,
        ..RecordHeader::default()
    };
    let s = Segment::from_record(&h, b"HT").unwrap();
    assert_eq!(s.flow, f);
    assert_eq!(s.direction, shadowtap_reconstruct::Direction::Response);
    assert!(s.truncated());
}

#[test]
fn responses_do_not_touch_the_request_side() {
    let f = flow(2);
    let mut r = Reconstructor::new(Config::default());
    r.push(syn(f, ISN, 1)).for_each(drop);
    r.push(Segment::response(f, 5000, SYN | ACK, 2, Bytes::new()))
        .for_each(drop);
    assert_eq!(
        r.drain_responses().collect::<Vec<_>>(),
        vec![ResponseEvent::Opened {
            flow: f,
            from_start: true
        }]
    );
    let reqs: Vec<_> = r.push(data(f, ISN + 1, 3, GET)).collect();
    assert_eq!(reqs.len(), 1);
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(
        r.push(Segment::response(f, 5001, ACK, 4, Bytes::from_static(resp)))
            .count(),
        0
    );
    let ev: Vec<_> = r.drain_responses().collect();
    assert_eq!(
        ev,
        vec![ResponseEvent::Data {
            flow: f,
            bytes: Bytes::from_static(resp),
            ts_ns: 4
        }]
    );
    r.push(Segment::response(
        f,
        5001 + resp.len() as u32,
        FIN | ACK,
        5,
        Bytes::new(),
    ))
    .for_each(drop);
    assert_eq!(
        r.drain_responses().collect::<Vec<_>>(),
        vec![ResponseEvent::Ended {
            flow: f,
            graceful: true
        }]
    );
    assert_eq!(r.flows(), 1, "one request flow, responses kept apart");
    assert_eq!(r.counters().get(Counter::SegmentsSeen), 2);
    assert_eq!(r.response_counters().get(ResponseCounter::SegmentsSeen), 3);
    assert_eq!(r.response_counters().get(ResponseCounter::FlowsOpened), 1);
    r.flush().for_each(drop);
    assert!(r.counters().check_conservation(0));
}

#[test]
fn request_losses_are_placed_before_what_follows_them() {
    let f = flow(3);
    let mut r = Reconstructor::new(Config::default());
    r.push(syn(f, ISN, 1)).for_each(drop);
    assert_eq!(r.push(data(f, ISN + 1, 2, GET)).count(), 1);
    assert_eq!(r.drain_request_losses().count(), 0);
    // A hole, then the next request: the gap timeout gives the hole up.
    let at = ISN + 1 + GET.len() as u32 + 100;
    assert_eq!(r.push(data(f, at, 3, GET)).count(), 0);
    let reqs: Vec<_> = r
        .advance_time(3 + Config::default().timeouts.gap_ns)
        .collect();
    assert_eq!(reqs.len(), 1, "the request after the hole resynchronises");
    let losses: Vec<_> = r.drain_request_losses().collect();
    assert_eq!(losses, vec![(f, 0)], "the loss comes before that request");
}

#[test]
fn a_dropped_request_is_a_loss_without_a_gap() {
    let f = flow(4);
    let mut r = Reconstructor::new(Config::default());
    r.push(syn(f, ISN, 1)).for_each(drop);
    // A request, then one whose framing cannot be trusted (dropped, the flow stops): no
    // byte is missing. The loss is placed at the start of the call (no later than where
    // it happened).
    let mut seg = GET.to_vec();
    seg.extend_from_slice(
        b"POST /b HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(r.push(data(f, ISN + 1, 2, &seg)).count(), 1);
    assert_eq!(r.counters().get(Counter::Gaps), 0);
    assert_eq!(r.counters().get(Counter::DroppedClAndTe), 1);
    let losses: Vec<_> = r.drain_request_losses().collect();
    assert_eq!(
        losses,
        vec![(f, 0)],
        "placed no later than where it happened"
    );
    // Dropped with its body skipped (over the body limit), the flow in sync: a loss too.
    let g = flow(5);
    let limits = shadowtap_reconstruct::Limits {
        max_body_bytes: 2,
        ..Default::default()
    };
    let mut r = Reconstructor::new(Config {
        limits,
        ..Config::default()
    });
    r.push(syn(g, ISN, 1)).for_each(drop);
    let big = b"PUT /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(r.push(data(g, ISN + 1, 2, big)).count(), 0);
    assert_eq!(r.drain_request_losses().count(), 1);
    assert_eq!(
        r.push(data(g, ISN + 1 + big.len() as u32, 3, GET)).count(),
        1
    );
    assert_eq!(
        r.drain_request_losses().count(),
        0,
        "no loss in a clean call"
    );
}
