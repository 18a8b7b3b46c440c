//! HTTP/2 pairing by stream id ([`H2Pairing`]): interleaved streams, responses before their
//! requests, trailers and `grpc-status`, resets, GOAWAY, the connection's end, and losses
//! anywhere — each mirrored request gets its own stream's response or an unseen reason,
//! never another stream's response.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use shadowtap_compare::{
    BodyDigest, CompareMode, CompareSpec, Counter, Counters, H2Pairing, H2RequestSeen, PairId,
    PairingLimits, PrimaryEvent, PrimaryResult, ResponseSummary, UnseenReason,
};
use shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_h2::frame::FrameType;

fn spec(mode: CompareMode) -> Arc<CompareSpec> {
    Arc::new(CompareSpec::new(mode))
}

struct Conn {
    pairing: H2Pairing,
    out: Vec<PrimaryEvent>,
    counters: Counters,
    spec: Arc<CompareSpec>,
}

impl Conn {
    fn new(mode: CompareMode) -> Conn {
        Conn {
            pairing: H2Pairing::new(PairingLimits::default()),
            out: Vec::new(),
            counters: Counters::default(),
            spec: spec(mode),
        }
    }

    /// Stream `id`'s request, mirrored as pair `id` when `mirrored`.
    fn req(&mut self, id: u32, mirrored: bool, end_ns: u64) {
        self.pairing.push_request(
            H2RequestSeen {
                stream_id: id,
                mirrored: mirrored.then(|| (PairId(u64::from(id)), self.spec.clone())),
                end_ns,
            },
            &mut self.out,
            &mut self.counters,
        );
    }

    fn bytes(&mut self, b: &[u8], at_ns: u64) {
        self.pairing.push_bytes(
            &Bytes::copy_from_slice(b),
            at_ns,
            &mut self.out,
            &mut self.counters,
        );
    }

    /// Pair → what it got.
    fn got(&self) -> HashMap<u64, PrimaryResult> {
        let mut m = HashMap::new();
        for e in &self.out {
            assert!(
                m.insert(e.pair.0, e.result.clone()).is_none(),
                "pair {} reported twice",
                e.pair.0
            );
        }
        m
    }
}

fn server() -> ClientBytes {
    let mut s = ClientBytes::without_preface();
    s.frame(FrameType::Settings, 0, 0, &[]);
    s
}

fn head(s: &mut ClientBytes, id: u32, fields: &[(&str, &str)], end_stream: bool) {
    s.headers(
        id,
        fields,
        HeadersOpts {
            end_stream,
            ..HeadersOpts::default()
        },
    );
}

fn response(got: &PrimaryResult) -> &ResponseSummary {
    match got {
        PrimaryResult::Response(s) => s,
        PrimaryResult::Unseen(r) => panic!("unseen: {r:?}"),
    }
}

#[test]
fn interleaved_streams_pair_by_id_with_trailers_and_grpc_status() {
    let mut c = Conn::new(CompareMode::Body);
    c.req(1, true, 100);
    c.req(3, true, 200);
    c.req(5, false, 300);
    let mut s = server();
    head(
        &mut s,
        3,
        &[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("date", "x"),
        ],
        false,
    );
    head(&mut s, 5, &[(":status", "200")], false);
    head(
        &mut s,
        1,
        &[(":status", "200"), ("content-type", "application/grpc")],
        false,
    );
    s.data(1, b"one-", false, None);
    s.data(3, b"three", false, None);
    s.data(5, b"five", true, None);
    s.data(1, b"body", false, Some(3));
    head(
        &mut s,
        3,
        &[("grpc-status", "5"), ("grpc-message", "nope")],
        true,
    );
    head(&mut s, 1, &[("grpc-status", "0")], true);
    c.bytes(&s.bytes, 1_000);
    let got = c.got();
    assert_eq!(got.len(), 2, "{got:?}");
    let one = response(&got[&1]);
    assert_eq!(one.status, 200);
    assert_eq!(one.body, BodyDigest::of(b"one-body"));
    assert_eq!(one.grpc_status.as_deref(), Some(&b"0"[..]));
    assert_eq!(one.latency.as_nanos(), 900);
    let three = response(&got[&3]);
    assert_eq!(three.body, BodyDigest::of(b"three"));
    assert_eq!(three.grpc_status.as_deref(), Some(&b"5"[..]));
    let names: Vec<&[u8]> = three.headers.iter().map(|h| &h.name[..]).collect();
    assert_eq!(
        names,
        [&b"content-type"[..], b"grpc-status", b"grpc-message"],
        "head then trailers, date ignored"
    );
    assert_eq!(c.counters.get(Counter::ResponsesFramed), 3);
    assert_eq!(c.counters.get(Counter::ResponsesUnmirrored), 1);
}

#[test]
fn a_response_complete_before_its_request_is_held_for_it() {
    let mut c = Conn::new(CompareMode::Headers);
    let mut s = server();
    head(&mut s, 1, &[(":status", "404"), ("x-v", "a")], true);
    head(&mut s, 3, &[(":status", "200")], false);
    c.bytes(&s.bytes, 50);
    c.req(1, true, 80);
    c.req(3, true, 90);
    s.bytes.clear();
    s.data(3, b"late", true, None);
    c.bytes(&s.bytes, 200);
    let got = c.got();
    let one = response(&got[&1]);
    assert_eq!((one.status, one.latency.as_nanos()), (404, 0));
    assert_eq!(one.headers.len(), 1);
    let three = response(&got[&3]);
    assert_eq!(
        three.body,
        BodyDigest::unhashed(4),
        "headers mode: length only"
    );
}

#[test]
fn resets_goaway_and_the_end_of_the_connection() {
    let mut c = Conn::new(CompareMode::Status);
    for id in [1, 3, 5, 7, 9] {
        c.req(id, true, 0);
    }
    let mut s = server();
    head(&mut s, 1, &[(":status", "200")], false);
    s.frame(FrameType::RstStream, 0, 1, &2u32.to_be_bytes());
    head(&mut s, 3, &[(":status", "200")], false);
    let mut goaway = 5u32.to_be_bytes().to_vec();
    goaway.extend_from_slice(&[0, 0, 0, 0]);
    s.frame(FrameType::GoAway, 0, 0, &goaway);
    c.bytes(&s.bytes, 10);
    c.req(11, true, 20);
    c.pairing.end(&mut c.out, &mut c.counters);
    c.req(13, true, 30);
    let got = c.got();
    let want = |r| PrimaryResult::Unseen(r);
    assert_eq!(got[&1], want(UnseenReason::Reset));
    assert_eq!(got[&3], want(UnseenReason::Truncated));
    assert_eq!(got[&5], want(UnseenReason::NoResponse));
    assert_eq!(got[&7], want(UnseenReason::Reset));
    assert_eq!(got[&9], want(UnseenReason::Reset));
    assert_eq!(got[&11], want(UnseenReason::Reset));
    assert_eq!(got[&13], want(UnseenReason::NoResponse));
    assert_eq!(c.counters.get(Counter::UnseenReset), 4);
}

#[test]
fn a_gap_in_data_loses_one_stream_one_in_a_header_block_stops() {
    let mut c = Conn::new(CompareMode::Body);
    c.req(1, true, 0);
    c.req(3, true, 0);
    let mut s = server();
    head(&mut s, 1, &[(":status", "200")], false);
    head(&mut s, 3, &[(":status", "201")], false);
    let cut = s.bytes.len() + 9 + 2;
    s.data(1, b"0123456789", true, None);
    s.data(3, b"ok", true, None);
    c.bytes(&s.bytes[..cut], 1);
    c.pairing.push_gap(Some(3), &mut c.out, &mut c.counters);
    c.bytes(&s.bytes[cut + 3..], 2);
    let got = c.got();
    assert_eq!(got[&1], PrimaryResult::Unseen(UnseenReason::Gap));
    assert_eq!(response(&got[&3]).status, 201);

    // A gap inside a header block: everything waiting and later is unseen.
    let mut c = Conn::new(CompareMode::Body);
    c.req(1, true, 0);
    let mut s = server();
    let at = s.bytes.len() + 10;
    head(
        &mut s,
        1,
        &[(":status", "200"), ("x-a", "long value here")],
        true,
    );
    head(&mut s, 3, &[(":status", "200")], true);
    c.bytes(&s.bytes[..at], 1);
    c.pairing.push_gap(Some(2), &mut c.out, &mut c.counters);
    c.bytes(&s.bytes[at + 2..], 2);
    c.req(3, true, 3);
    let got = c.got();
    assert_eq!(got[&1], PrimaryResult::Unseen(UnseenReason::Gap));
    assert_eq!(got[&3], PrimaryResult::Unseen(UnseenReason::Gap));
    assert_eq!(c.pairing.stopped(), Some(UnseenReason::Gap));
    assert_eq!(c.counters.get(Counter::ConnectionsStopped), 1);
}

#[test]
fn an_http1_response_stream_is_bad_framing() {
    let mut c = Conn::new(CompareMode::Status);
    c.req(1, true, 0);
    c.bytes(b"HTTP/1.1 200 OK\r\n\r\n", 1);
    assert_eq!(c.got()[&1], PrimaryResult::Unseen(UnseenReason::BadFraming));
}

/// A session of `n` interleaved responses, stream `2i+1` answering `200+i` with its own
/// body, trailers on some, resets on some.
fn session(spec: &[(u8, bool, bool)]) -> Vec<u8> {
    let mut s = server();
    for (i, _) in spec.iter().enumerate() {
        let status = (200 + i).to_string();
        head(&mut s, 2 * i as u32 + 1, &[(":status", &status)], false);
    }
    for (i, (len, trailers, reset)) in spec.iter().enumerate() {
        let id = 2 * i as u32 + 1;
        let body = vec![b'a' + i as u8; usize::from(*len)];
        if *reset {
            s.rst(id);
        } else if *trailers {
            s.data(id, &body, false, None);
            head(&mut s, id, &[("grpc-status", &i.to_string())], true);
        } else {
            s.data(id, &body, true, None);
        }
    }
    s.bytes
}

fn run(bytes: &[u8], n: usize, cut: usize, loss: Option<(usize, usize, bool)>) -> Conn {
    let mut c = Conn::new(CompareMode::Body);
    for i in 0..n {
        c.req(2 * i as u32 + 1, i % 3 != 2, 0);
    }
    let cut = cut % (bytes.len() + 1);
    match loss {
        None => {
            c.bytes(&bytes[..cut], 1);
            c.bytes(&bytes[cut..], 2);
        }
        Some((from, len, elided)) => {
            let from = from % bytes.len();
            let len = len.min(bytes.len() - from);
            c.bytes(&bytes[..from], 1);
            if elided {
                c.pairing
                    .push_elided(len as u64, &mut c.out, &mut c.counters);
            } else {
                c.pairing
                    .push_gap(Some(len as u64), &mut c.out, &mut c.counters);
            }
            c.bytes(&bytes[from + len..], 2);
        }
    }
    c.pairing.end(&mut c.out, &mut c.counters);
    c
}

proptest! {
    /// Any cut, any single loss: every mirrored request ends exactly once, and a response
    /// it gets is its own stream's (the status names the stream; the body matches the
    /// lossless run's, or is unhashed with the same length when bytes were not copied).
    #[test]
    fn never_a_mis_pair(
        spec in proptest::collection::vec((0u8..100, any::<bool>(), any::<bool>()), 1..7),
        cut in any::<usize>(),
        loss in proptest::option::of((any::<usize>(), 1usize..40, any::<bool>())),
    ) {
        let bytes = session(&spec);
        let n = spec.len();
        let whole = run(&bytes, n, cut, None).got();
        let lossy = run(&bytes, n, cut, loss);
        let got = lossy.got();
        let mirrored: Vec<u64> = (0..n).filter(|i| i % 3 != 2).map(|i| 2 * i as u64 + 1).collect();
        prop_assert_eq!(got.len(), mirrored.len());
        for id in mirrored {
            let i = (id as usize - 1) / 2;
            match (&got[&id], &whole[&id]) {
                (PrimaryResult::Response(s), PrimaryResult::Response(w)) => {
                    prop_assert_eq!(s.status as usize, 200 + i);
                    prop_assert_eq!(s.body.len, w.body.len);
                    if s.body.content.is_some() {
                        prop_assert_eq!(&s.body, &w.body);
                    }
                    prop_assert_eq!(&s.grpc_status, &w.grpc_status);
                }
                (PrimaryResult::Response(s), PrimaryResult::Unseen(r)) => {
                    prop_assert!(false, "{} got {:?} lossy but {:?} whole", id, s, r);
                }
                (PrimaryResult::Unseen(_), _) => {}
            }
        }
    }
}

#[test]
fn responses_held_for_requests_not_decoded_yet_are_bounded() {
    let mut c = Conn::new(CompareMode::Status);
    let mut s = server();
    for i in 0..300u32 {
        head(&mut s, 2 * i + 1, &[(":status", "200")], true);
    }
    c.bytes(&s.bytes, 1);
    let limit = PairingLimits::default().max_queued;
    assert!(
        c.pairing.held_bytes() < 64 * 1024,
        "{} bytes held",
        c.pairing.held_bytes()
    );
    assert_eq!(
        c.counters.get(Counter::ResponsesUnmirrored),
        (300 - limit) as u64,
        "the lowest stream ids were let go"
    );
    // The newest is still held; the oldest was let go: its request waits, and ends
    // unseen, never paired with another stream's response.
    c.req(599, true, 0);
    c.req(1, true, 0);
    c.pairing.end(&mut c.out, &mut c.counters);
    let got = c.got();
    assert_eq!(response(&got[&599]).status, 200);
    assert_eq!(got[&1], PrimaryResult::Unseen(UnseenReason::NoResponse));
}
