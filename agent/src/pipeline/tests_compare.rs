//! Comparison through the pipeline: a comparing route at 100 %, pipelined and keep-alive
//! requests, the primary's responses from the response direction, the mirror's side from a
//! sink that answers per path; every pair in its outcome, hostile primary responses never
//! mis-pairing later requests, conservation.

use bytes::Bytes;
use shadowtap_common::record::tcp_flags::{ACK, FIN, PSH, SYN};
use shadowtap_compare::{MirrorResult, Outcome, ResponseSummary};
use shadowtap_mirror::{CompareTicket, Tally};
use shadowtap_reconstruct::{FlowKey, H2FlowRequest, Request, Segment};
use shadowtap_routes::plan::MirrorTarget;

use super::tests_compare_support::{comparing_pipeline, flow, outcomes, plan_of, ROUTE};
use super::{MirrorSink, Pipeline};

/// Answers each compared request as the mirror would, by path: `/slow` never (held),
/// `/down` fails, `/status` 500, others 200 with `content-type: text/plain`.
#[derive(Default)]
struct Mirror {
    held: Vec<CompareTicket>,
    plain: u64,
}

impl MirrorSink for Mirror {
    fn submit(
        &mut self,
        _: &MirrorTarget,
        _: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.plain += 1;
        Ok(())
    }

    fn submit_compared(
        &mut self,
        _: &MirrorTarget,
        request: &Request,
        _: Option<Tally>,
        ticket: CompareTicket,
    ) -> Result<(), &'static str> {
        let spec = ticket.spec().clone();
        let summary = |status: u16| {
            let mut s = ResponseSummary::new(status);
            s.observe_header(&spec, b"Content-Type", b"text/plain");
            MirrorResult::Response(s)
        };
        match request.target() {
            b"/slow" => self.held.push(ticket),
            b"/down" => ticket.report(MirrorResult::Failed),
            b"/status" => ticket.report(summary(500)),
            b"/refused" => return Err("queue_full"),
            _ => ticket.report(summary(200)),
        }
        Ok(())
    }

    fn submit_h2(
        &mut self,
        _: &MirrorTarget,
        _: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        Ok(())
    }
}

struct Conn {
    flow: FlowKey,
    req_seq: u32,
    resp_seq: u32,
    ts: u64,
}

impl Conn {
    fn open(p: &mut Pipeline<Mirror>, port: u16) -> Conn {
        let flow = flow(port);
        p.push(Segment::new(flow, 999, SYN, 1, Bytes::new()));
        p.push(Segment::response(flow, 4999, SYN | ACK, 2, Bytes::new()));
        Conn {
            flow,
            req_seq: 1000,
            resp_seq: 5000,
            ts: 10,
        }
    }

    fn requests(&mut self, p: &mut Pipeline<Mirror>, paths: &[&str]) {
        let mut raw = String::new();
        for path in paths {
            raw += &format!("GET {path} HTTP/1.1\r\nHost: foo-v1:8080\r\n\r\n");
        }
        self.ts += 1_000;
        p.push(Segment::new(
            self.flow,
            self.req_seq,
            ACK | PSH,
            self.ts,
            Bytes::from(raw.clone()),
        ));
        self.req_seq += raw.len() as u32;
    }

    fn responses(&mut self, p: &mut Pipeline<Mirror>, raw: &[u8], after_ns: u64) {
        self.ts += after_ns;
        p.push(Segment::response(
            self.flow,
            self.resp_seq,
            ACK | PSH,
            self.ts,
            Bytes::copy_from_slice(raw),
        ));
        self.resp_seq += raw.len() as u32;
    }

    fn close(&mut self, p: &mut Pipeline<Mirror>) {
        self.ts += 1;
        p.push(Segment::response(
            self.flow,
            self.resp_seq,
            FIN | ACK,
            self.ts,
            Bytes::new(),
        ));
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

#[test]
fn every_pair_lands_in_its_outcome() {
    let mut p = pipeline();
    // Pipelined on one connection, answered in one segment.
    let mut a = Conn::open(&mut p, 30000);
    a.requests(&mut p, &["/same", "/status", "/down", "/header"]);
    let header = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok";
    let mut resp = Vec::new();
    resp.extend_from_slice(OK);
    resp.extend_from_slice(OK);
    resp.extend_from_slice(OK);
    resp.extend_from_slice(header);
    a.responses(&mut p, &resp, 50_000);
    // Keep-alive, one at a time, a slow mirror.
    let mut b = Conn::open(&mut p, 30001);
    for _ in 0..3 {
        b.requests(&mut p, &["/same"]);
        b.responses(&mut p, OK, 20_000);
    }
    b.requests(&mut p, &["/slow"]);
    b.responses(&mut p, OK, 20_000);
    b.requests(&mut p, &["/refused"]);
    b.responses(&mut p, OK, 20_000);
    a.close(&mut p);
    b.close(&mut p);
    p.poll_comparisons();
    assert_eq!(
        outcomes(&p),
        vec![
            (Outcome::Same, 4),
            (Outcome::StatusClassDiffers, 1),
            (Outcome::HeadersDiffer, 1),
            (Outcome::MirrorFailed, 2),
        ]
    );
    assert_eq!(
        p.comparison().comparator().pending(),
        1,
        "the slow mirror's pair"
    );
    assert!(p.comparison().check_conservation());
    // The pair timeout ends the slow one.
    p.advance_time(120_000_000_000);
    assert!(outcomes(&p).contains(&(Outcome::PairTimeout, 1)));
    assert_eq!(p.comparison().comparator().pending(), 0);
    assert!(p.comparison().check_conservation());
    // Divergent pairs are logged, newest first.
    let doc: super::DivergenceDoc =
        serde_json::from_str(&p.comparison().divergences_json()).expect("json");
    let outcomes: Vec<&str> = doc.pairs.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["headers_differ", "status_class_differs"]);
    assert_eq!(doc.pairs[1].target, "/status");
    assert_eq!(
        (doc.pairs[1].primary_status, doc.pairs[1].mirror_status),
        (200, 500)
    );
    assert_eq!(
        doc.pairs[0].first_header.as_ref().map(|h| h.name.as_str()),
        Some("content-type")
    );
}

#[test]
fn hostile_primary_responses_never_mis_pair() {
    let mut p = pipeline();
    // Bad framing: the connection stops pairing; later requests are unseen, not paired
    // with the bytes after the bad response.
    let mut a = Conn::open(&mut p, 31000);
    a.requests(&mut p, &["/same"]);
    a.responses(
        &mut p,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        1,
    );
    a.requests(&mut p, &["/status"]);
    a.responses(&mut p, OK, 1);
    // Truncated: the connection ends in the middle of the response.
    let mut b = Conn::open(&mut p, 31001);
    b.requests(&mut p, &["/same"]);
    b.responses(
        &mut p,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab",
        1,
    );
    b.close(&mut p);
    // Early close: no response at all, and a request after the close.
    let mut c = Conn::open(&mut p, 31002);
    c.requests(&mut p, &["/same"]);
    c.close(&mut p);
    // A connection opened before capture (its response stream starts mid-stream).
    let d = flow(31003);
    p.push(Segment::response(d, 7000, ACK, 5, Bytes::from_static(OK)));
    p.push(Segment::new(
        d,
        100,
        ACK | PSH,
        6,
        Bytes::from_static(b"GET /same HTTP/1.1\r\nHost: a\r\n\r\n"),
    ));
    p.poll_comparisons();
    assert_eq!(outcomes(&p), vec![(Outcome::PrimaryUnseen, 5)]);
    let c = p.comparison().comparator().counters();
    use shadowtap_compare::Counter;
    assert_eq!(c.get(Counter::UnseenBadFraming), 2);
    assert_eq!(c.get(Counter::UnseenTruncated), 1);
    assert_eq!(c.get(Counter::UnseenNoResponse), 1);
    assert_eq!(c.get(Counter::UnseenRequestsLost), 1);
    assert!(p.comparison().check_conservation());
}

/// The latency families as the agent's registry encodes them.
fn encoded_latency(latency: &super::CompareLatency) -> String {
    let mut registry = prometheus_client::registry::Registry::with_prefix("shadowtap");
    registry.register(
        "route_primary_latency_seconds",
        "primary",
        latency.primary.clone(),
    );
    registry.register(
        "route_compared_mirror_latency_seconds",
        "mirror",
        latency.mirror.clone(),
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    text
}

#[test]
fn comparison_series_are_pruned_when_the_rule_stops_comparing() {
    let latency = super::CompareLatency::default();
    let mut p = pipeline().with_compare_latency(latency.clone());
    let compared_plan = p.plan().clone();
    let mut a = Conn::open(&mut p, 32000);
    a.requests(&mut p, &["/same", "/status", "/slow"]);
    let mut resp = Vec::new();
    for _ in 0..3 {
        resp.extend_from_slice(OK);
    }
    a.responses(&mut p, &resp, 50_000);
    p.poll_comparisons();
    assert_eq!(
        outcomes(&p),
        vec![(Outcome::Same, 1), (Outcome::StatusClassDiffers, 1)]
    );
    let rows = |p: &Pipeline<Mirror>| -> usize {
        p.comparison()
            .route_families()
            .iter()
            .map(|f| f.rows.len())
            .sum()
    };
    assert_eq!(rows(&p), Outcome::ALL.len(), "one key, every outcome");
    let text = encoded_latency(&latency);
    for family in [
        "shadowtap_route_primary_latency_seconds_count{",
        "shadowtap_route_compared_mirror_latency_seconds_count{",
    ] {
        assert!(text.contains(family), "{family} missing in:\n{text}");
    }

    // The same route without its compare annotation: the rule stays, its comparison goes.
    let yaml = ROUTE.replace("percent: 42", "percent: 100");
    let plain = plan_of(&yaml);
    assert!(plain.endpoints.iter().all(|e| e.compare.is_none()));
    p.set_plan(plain);
    assert_eq!(rows(&p), 0, "route_comparisons_total pruned");
    let text = encoded_latency(&latency);
    assert!(
        !text.contains("_count{"),
        "latency series pruned, left:\n{text}"
    );
    assert_eq!(p.comparison().retired(), 2);
    // The slow pair, still pending, ends after its series went: retired, not re-created.
    p.advance_time(120_000_000_000);
    assert_eq!(p.comparison().comparator().pending(), 0);
    assert_eq!(rows(&p), 0, "no series re-created by a late pair");
    assert_eq!(p.comparison().retired(), 3);
    assert!(p.comparison().check_conservation());

    // Comparing again: the series start from zero.
    p.set_plan(compared_plan);
    let mut b = Conn::open(&mut p, 32001);
    b.requests(&mut p, &["/same"]);
    b.responses(&mut p, OK, 1_000);
    p.poll_comparisons();
    assert_eq!(outcomes(&p), vec![(Outcome::Same, 1)]);
    assert!(p.comparison().check_conservation());
}

fn pipeline() -> Pipeline<Mirror> {
    comparing_pipeline("headers", Mirror::default())
}
