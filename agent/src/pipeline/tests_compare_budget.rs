//! The pairings' node-wide byte budget: many connections with primary responses waiting
//! for their requests (HTTP/2 responses finished before their streams are decoded, HTTP/1
//! pipelined responses captured before the requests) push the total over a small budget.
//! At every step the total stays within the budget and equals what the pairings hold; the
//! connection holding the most stops, its mirrored requests end `unseen_over_budget`; every
//! other connection keeps pairing each response with its own request; conservation holds.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use shadowtap_compare::{
    ComparatorConfig, CompareMode, CompareSpec, Counter, MirrorResult, ResponseSummary,
};
use shadowtap_mirror::CompareTicket;
use shadowtap_reconstruct::shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_reconstruct::shadowtap_h2::frame::FrameType;
use shadowtap_reconstruct::{FlowKey, Method, ResponseEvent};
use shadowtap_routes::{ObjectKey, RouteKind, RuleId};

use super::{Comparison, PairKey, Side};

/// A header value long enough that the responses' fields dominate a pairing's size.
const PAD: usize = 2048;

fn flow(port: u16) -> FlowKey {
    let server: SocketAddr = "10.244.1.10:8080".parse().expect("addr");
    FlowKey::new(SocketAddr::new([10, 0, 0, 1].into(), port), server)
}

fn key() -> PairKey {
    PairKey {
        rule: RuleId {
            kind: RouteKind::default(),
            route: ObjectKey::new("default", "foo"),
            rule_index: 0,
            rule_name: None,
        },
        mirror: "default/foo-v2:8080".to_owned(),
    }
}

/// The status of response `k` on connection `conn`: unique enough that a response given
/// to another request (of this connection or another) compares `status_differs`.
fn status(conn: usize, k: usize) -> u16 {
    200 + ((conn * 10 + k) % 100) as u16
}

/// The comparison state, the budget it was given, and the tickets of the pairs it
/// registered with the status their primary response has.
struct Harness {
    c: Comparison,
    budget: usize,
    spec: Arc<CompareSpec>,
    tickets: Vec<(CompareTicket, u16)>,
    now: u64,
}

impl Harness {
    fn new(budget: usize) -> Harness {
        Harness {
            c: Comparison::new(ComparatorConfig {
                pairing_budget_bytes: budget,
                ..ComparatorConfig::default()
            }),
            budget,
            spec: Arc::new(CompareSpec::new(CompareMode::Status)),
            tickets: Vec::new(),
            now: 1_000,
        }
    }

    /// The invariants after every step: within the budget, the incremental total equal
    /// to a walk over the pairings, the size index in step with it, conservation.
    fn check(&self, step: &str) {
        let c = &self.c;
        assert!(
            c.pairing_bytes() <= self.budget,
            "{step}: pairings hold {} > budget {}",
            c.pairing_bytes(),
            self.budget
        );
        let walked: usize = c.pairings.values().map(|p| p.held_bytes()).sum();
        assert_eq!(c.pairing_bytes(), walked, "{step}: tracked total drifted");
        let charged: usize = c.pairings.values().map(|p| p.charged).sum();
        assert_eq!(charged, walked, "{step}: a pairing's charge is stale");
        let indexed: usize = c.by_size.keys().map(|(n, _)| n).sum();
        assert_eq!(indexed, walked, "{step}: size index out of step");
        assert!(c.check_conservation(), "{step}: conservation");
    }

    fn respond(&mut self, conn: &FlowKey, bytes: Vec<u8>, step: &str) {
        self.now += 1_000;
        self.c.response(ResponseEvent::Data {
            flow: *conn,
            bytes: Bytes::from(bytes),
            ts_ns: self.now,
        });
        self.check(step);
    }

    fn open(&mut self, conn: &FlowKey) {
        self.c.response(ResponseEvent::Opened {
            flow: *conn,
            from_start: true,
        });
        self.check("opened");
    }

    /// Registers a mirrored request whose primary answers `status`.
    fn mirrored(&mut self, status: u16) -> (shadowtap_compare::PairId, Arc<CompareSpec>) {
        self.now += 1_000;
        let ticket = self
            .c
            .register(key(), self.spec.clone(), Method::Get, b"/", self.now);
        let pair = ticket.pair();
        self.tickets.push((ticket, status));
        (pair, self.spec.clone())
    }

    /// Every mirror answers what its primary should have: a pair whose primary response
    /// was another request's ends `status_differs`, never `same`.
    fn mirrors_answer(&mut self) {
        for (ticket, status) in self.tickets.drain(..) {
            ticket.report(MirrorResult::Response(ResponseSummary::new(status)));
        }
        self.c.poll_reports();
        self.check("mirrors answered");
    }

    fn counter(&self, k: Counter) -> u64 {
        self.c.comparator().counters().get(k)
    }

    fn stopped_over_budget(&self, conn: &FlowKey) -> bool {
        matches!(
            self.c.pairings.get(conn).and_then(|p| p.pairing.as_ref()),
            Some(Side::Stopped(shadowtap_compare::UnseenReason::OverBudget))
        )
    }
}

/// What an h2c server wrote on a connection: its SETTINGS, then `n` complete responses
/// on streams 1, 3, 5, … (each with a padding field).
fn h2_responses(conn: usize, n: usize) -> Vec<u8> {
    let mut srv = ClientBytes::without_preface();
    srv.frame(FrameType::Settings, 0, 0, &[]);
    let pad = "p".repeat(PAD);
    for k in 0..n {
        let id = 1 + 2 * k as u32;
        let st = status(conn, k).to_string();
        srv.headers(
            id,
            &[(":status", st.as_str()), ("x-pad", pad.as_str())],
            HeadersOpts::default(),
        );
        srv.data(id, b"ok", true, None);
    }
    srv.bytes
}

/// `n` pipelined HTTP/1 responses, each with a padding field.
fn h1_responses(conn: usize, n: usize) -> Vec<u8> {
    let pad = "p".repeat(PAD);
    let mut out = Vec::new();
    for k in 0..n {
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} X\r\nx-pad: {pad}\r\ncontent-length: 2\r\n\r\nok",
                status(conn, k)
            )
            .as_bytes(),
        );
    }
    out
}

/// What one connection holds with `n` responses waiting, measured without a budget.
fn held_with(n: usize, h2: bool) -> usize {
    let mut h = Harness::new(usize::MAX);
    let conn = flow(50_000);
    h.open(&conn);
    let bytes = if h2 {
        h2_responses(0, n)
    } else {
        h1_responses(0, n)
    };
    h.respond(&conn, bytes, "measure");
    h.c.pairing_bytes()
}

/// Connection 0 hoards `BIG` responses; connections 1..=`SMALL_CONNS` one each; the
/// budget fits the hoarder and four small ones (and half of one: the small ones' statuses
/// encode a few bytes longer than the measured one's). The fifth small connection takes the
/// total over: the hoarder — not the connection just pushed — stops, and everything else
/// pairs correctly.
fn hoarder_stops_first(h2: bool) {
    const BIG: usize = 8;
    const SMALL_CONNS: usize = 7;
    let one = held_with(1, h2);
    let big = held_with(BIG, h2);
    assert!(big >= 3 * one, "the hoarder must outweigh three small ones");
    let budget = big + 4 * one + one / 2;
    let mut h = Harness::new(budget);
    let conns: Vec<FlowKey> = (0..=SMALL_CONNS).map(|i| flow(40_000 + i as u16)).collect();

    for (i, conn) in conns.iter().enumerate() {
        h.open(conn);
        let n = if i == 0 { BIG } else { 1 };
        let bytes = if h2 {
            h2_responses(i, n)
        } else {
            h1_responses(i, n)
        };
        h.respond(conn, bytes, &format!("responses of connection {i}"));
        let hoarder_stopped = h.stopped_over_budget(&conns[0]);
        assert_eq!(
            hoarder_stopped,
            i >= 5,
            "after connection {i}: the hoarder stops exactly when the total passes the budget"
        );
        for c in &conns[1..=i] {
            assert!(!h.stopped_over_budget(c), "a small connection was stopped");
        }
    }
    assert_eq!(h.c.stopped_over_budget(), 1);
    assert_eq!(
        h.c.pairings[&conns[0]].charged, 0,
        "the hoarder's memory released"
    );

    // Now the requests are decoded: the hoarder's mirrored ones are unseen, over budget;
    // every other connection's pair gets its own response.
    for (i, conn) in conns.iter().enumerate() {
        let n = if i == 0 { BIG } else { 1 };
        for k in 0..n {
            let mirrored = Some(h.mirrored(status(i, k)));
            let end_ns = h.now;
            if h2 {
                h.c.request_h2(*conn, 1 + 2 * k as u32, end_ns, mirrored);
            } else {
                h.c.request(*conn, Method::Get, end_ns, mirrored);
            }
            h.check(&format!("request {k} of connection {i}"));
        }
    }
    h.mirrors_answer();

    assert_eq!(
        h.counter(Counter::PairsMirrored),
        (BIG + SMALL_CONNS) as u64
    );
    assert_eq!(h.counter(Counter::UnseenOverBudget), BIG as u64);
    assert_eq!(h.counter(Counter::OutcomePrimaryUnseen), BIG as u64);
    assert_eq!(h.counter(Counter::OutcomeSame), SMALL_CONNS as u64);
    assert_eq!(
        h.counter(Counter::OutcomeStatusDiffers),
        0,
        "a response mis-paired"
    );
    assert_eq!(h.c.comparator().pending(), 0);

    // Their ends release the rest.
    for conn in &conns {
        h.c.response(ResponseEvent::Ended {
            flow: *conn,
            graceful: true,
        });
        h.check("ended");
    }
    assert_eq!(h.c.pairing_bytes(), 0);
    assert!(h.c.by_size.is_empty());
}

#[test]
fn h2_responses_held_before_their_requests_stop_the_hoarder() {
    hoarder_stops_first(true);
}

#[test]
fn h1_pipelined_responses_before_their_requests_stop_the_hoarder() {
    hoarder_stops_first(false);
}

/// Many equal connections (the same responses byte for byte): each one over the budget
/// stops the most recently paired of the largest, so the earliest keep pairing; the
/// budget holds throughout.
#[test]
fn equal_connections_past_the_budget_stop_the_newest() {
    let one = held_with(2, true);
    let budget = 5 * one + one / 2;
    let mut h = Harness::new(budget);
    let conns: Vec<FlowKey> = (0..12).map(|i| flow(41_000 + i)).collect();
    for (i, conn) in conns.iter().enumerate() {
        h.open(conn);
        h.respond(conn, h2_responses(0, 2), &format!("connection {i}"));
    }
    let stopped: Vec<usize> = (0..conns.len())
        .filter(|i| h.stopped_over_budget(&conns[*i]))
        .collect();
    assert_eq!(stopped, (5..12).collect::<Vec<_>>());
    for conn in &conns {
        for k in 0..2 {
            let mirrored = Some(h.mirrored(status(0, k)));
            h.c.request_h2(*conn, 1 + 2 * k as u32, h.now, mirrored);
            h.check("request");
        }
    }
    h.mirrors_answer();
    assert_eq!(h.counter(Counter::OutcomeSame), 10);
    assert_eq!(h.counter(Counter::UnseenOverBudget), 14);
    assert_eq!(h.counter(Counter::OutcomePrimaryUnseen), 14);
    assert_eq!(h.c.stopped_over_budget(), 7);
}

/// A connection larger than the whole budget by itself stops at once: its requests
/// waiting and every later one are unseen, its later bytes ignored, nothing held.
#[test]
fn one_connection_over_the_whole_budget_is_released_at_once() {
    let budget = held_with(2, false);
    let mut h = Harness::new(budget);
    let conn = flow(42_000);
    h.open(&conn);
    // Two pipelined requests waiting, then their responses' heads, slowly: the second
    // head, still incomplete, makes the connection too large.
    let first = Some(h.mirrored(status(0, 0)));
    h.c.request(conn, Method::Get, h.now, first);
    h.check("request 0");
    let second = Some(h.mirrored(status(0, 1)));
    h.c.request(conn, Method::Get, h.now, second);
    h.check("request 1");
    let raw = h1_responses(0, 3);
    let cut = raw.len() - 10;
    h.respond(&conn, raw[..cut].to_vec(), "most of three responses");
    assert!(
        !h.stopped_over_budget(&conn),
        "two responses framed, the third's head fits"
    );
    let third = Some(h.mirrored(status(0, 2)));
    h.c.request(conn, Method::Get, h.now, third);
    h.check("request 2");
    // A fourth response's head, larger than the budget alone.
    let mut huge = raw[cut..].to_vec();
    huge.extend_from_slice(b"HTTP/1.1 200 OK\r\nx-pad: ");
    huge.extend(std::iter::repeat_n(b'p', budget));
    let ignored = h.counter(Counter::BytesIgnored);
    h.respond(&conn, huge, "a head larger than the budget");
    assert!(h.stopped_over_budget(&conn));
    assert_eq!(h.c.pairing_bytes(), 0, "released at once");
    // Later bytes are ignored, a later request unseen.
    h.respond(&conn, b"\r\n\r\n".to_vec(), "after the stop");
    assert!(h.counter(Counter::BytesIgnored) >= ignored + 4);
    let fourth = Some(h.mirrored(200));
    h.c.request(conn, Method::Get, h.now, fourth);
    h.check("request 3");
    h.mirrors_answer();
    // Three responses were whole before the stop; the fourth request is unseen.
    assert_eq!(h.counter(Counter::OutcomeSame), 3);
    assert_eq!(h.counter(Counter::UnseenOverBudget), 1);
    assert_eq!(h.counter(Counter::OutcomeStatusDiffers), 0);
}

/// The gauge and the connections' counter are published.
#[test]
fn pairing_bytes_and_stops_are_published() {
    let mut h = Harness::new(held_with(1, true));
    for i in 0..3 {
        let conn = flow(43_000 + i);
        h.open(&conn);
        h.respond(&conn, h2_responses(i as usize, 2), "responses");
    }
    let families = h.c.families();
    let gauge = families
        .iter()
        .find(|f| f.name == "compare_pairing_bytes")
        .expect("the pairings' gauge");
    assert_eq!(gauge.values, vec![("", h.c.pairing_bytes() as u64)]);
    let conns = families
        .iter()
        .find(|f| f.name == "compare_connections")
        .expect("the connections' counter");
    assert!(conns.values.contains(&("over_budget", 3)));
    let events = families
        .iter()
        .find(|f| f.name == "compare_events")
        .expect("the events' counter");
    assert!(events
        .values
        .iter()
        .any(|(k, _)| *k == "unseen_over_budget"));
}

/// The worst case the budget exists for: thousands of HTTP/2 connections, each holding
/// responses for streams not decoded yet, would hold ~70 MiB; under the default budget
/// (16 MiB) the total never passes it, and every connection is either whole or released.
#[test]
fn thousands_of_hoarding_connections_stay_within_the_default_budget() {
    let budget = ComparatorConfig::default().pairing_budget_bytes;
    let mut h = Harness::new(budget);
    let one = held_with(8, true);
    let bytes = h2_responses(0, 8);
    let n: u16 = 4096;
    for i in 0..n {
        let conn = flow(10_000 + i);
        h.c.response(ResponseEvent::Opened {
            flow: conn,
            from_start: true,
        });
        h.c.response(ResponseEvent::Data {
            flow: conn,
            bytes: Bytes::from(bytes.clone()),
            ts_ns: u64::from(i) + 1,
        });
        assert!(h.c.pairing_bytes() <= budget, "connection {i}");
    }
    h.check("all connections");
    let whole = budget / one;
    assert!(
        usize::from(n) * one > 4 * budget,
        "the test must overflow the budget"
    );
    assert_eq!(h.c.pairings.len(), usize::from(n));
    assert_eq!(
        h.c.by_size.len(),
        whole,
        "the connections that fit stay paired"
    );
    assert_eq!(h.c.stopped_over_budget(), u64::from(n) - whole as u64);
}
