//! HTTP/2 comparison through the pipeline: h2c connections of a comparing route at 100 %,
//! the primary's frames from the response direction paired by stream id (interleaved,
//! answered out of order), the mirror's side from a sink that answers per path; every pair
//! in its outcome, a loss in a header block never mis-pairing, conservation; and a
//! connection whose responses start as HTTP/1 stays HTTP/1.

use bytes::Bytes;
use shadowtap_common::record::tcp_flags::{ACK, FIN, PSH, SYN};
use shadowtap_compare::{Counter, MirrorResult, Outcome, ResponseSummary};
use shadowtap_mirror::{CompareTicket, Tally};
use shadowtap_reconstruct::shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_reconstruct::shadowtap_h2::frame::FrameType;
use shadowtap_reconstruct::{Config, FlowKey, H2FlowRequest, Request, Segment};
use shadowtap_routes::plan::MirrorTarget;

use super::tests_compare_support::{comparing_pipeline, flow, outcomes};
use super::{MirrorSink, Pipeline};

/// Answers each compared HTTP/2 request as a gRPC mirror would, by path: `/svc/Fail` with
/// `grpc-status: 5`, `/svc/Down` fails, `/svc/Big` a different body, others the primary's
/// answer (`grpc-status: 0`, body `ok`).
#[derive(Default)]
struct Mirror {
    h2_plain: u64,
}

impl MirrorSink for Mirror {
    fn submit(
        &mut self,
        _: &MirrorTarget,
        _: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        Ok(())
    }

    fn submit_h2(
        &mut self,
        _: &MirrorTarget,
        _: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.h2_plain += 1;
        Ok(())
    }

    fn submit_h2_compared(
        &mut self,
        _: &MirrorTarget,
        request: &H2FlowRequest,
        _: Option<Tally>,
        ticket: CompareTicket,
    ) -> Result<(), &'static str> {
        let spec = ticket.spec().clone();
        let answer = |grpc: &str, body: &[u8]| {
            let mut s = ResponseSummary::new(200);
            s.observe_header(&spec, b"content-type", b"application/grpc");
            s.observe_header(&spec, b"grpc-status", grpc.as_bytes());
            s.observe_grpc_status(b"grpc-status", grpc.as_bytes());
            s.body = shadowtap_compare::BodyDigest::of(body);
            MirrorResult::Response(s)
        };
        match request.request.pseudo.path.as_deref() {
            Some(b"/svc/Fail") => ticket.report(answer("5", b"ok")),
            Some(b"/svc/Down") => ticket.report(MirrorResult::Failed),
            Some(b"/svc/Big") => ticket.report(answer("0", b"OK")),
            _ => ticket.report(answer("0", b"ok")),
        }
        Ok(())
    }
}

struct Conn {
    flow: FlowKey,
    req_seq: u32,
    resp_seq: u32,
    ts: u64,
    client: ClientBytes,
    server: ClientBytes,
}

impl Conn {
    fn open(p: &mut Pipeline<Mirror>, port: u16) -> Conn {
        let flow = flow(port);
        p.push(Segment::new(flow, 999, SYN, 1, Bytes::new()));
        p.push(Segment::response(flow, 4999, SYN | ACK, 2, Bytes::new()));
        let mut srv = ClientBytes::without_preface();
        srv.frame(FrameType::Settings, 0, 0, &[]);
        Conn {
            flow,
            req_seq: 1000,
            resp_seq: 5000,
            ts: 10,
            client: ClientBytes::new(),
            server: srv,
        }
    }

    /// gRPC-shaped unary calls on streams 1, 3, 5, … (one per path).
    fn calls(&mut self, p: &mut Pipeline<Mirror>, first_stream: u32, paths: &[&str]) {
        for (i, path) in paths.iter().enumerate() {
            let id = first_stream + 2 * i as u32;
            self.client.headers(
                id,
                &[
                    (":method", "POST"),
                    (":scheme", "http"),
                    (":authority", "foo-v1:8080"),
                    (":path", path),
                    ("content-type", "application/grpc"),
                ],
                HeadersOpts::default(),
            );
            self.client.data(id, b"\0\0\0\0\x02hi", true, None);
        }
        let raw = std::mem::take(&mut self.client.bytes);
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

    /// The server's answer on `stream`: a head, `body`, trailers with `grpc`.
    fn answer(&mut self, stream: u32, body: &[u8], grpc: &str) {
        let h = HeadersOpts::default();
        self.server.headers(
            stream,
            &[(":status", "200"), ("content-type", "application/grpc")],
            h,
        );
        self.server.data(stream, body, false, None);
        self.server.headers(
            stream,
            &[("grpc-status", grpc)],
            HeadersOpts {
                end_stream: true,
                ..h
            },
        );
    }

    /// Sends what the server wrote so far as one segment (`lose` bytes in its middle
    /// never arriving when given).
    fn flush(&mut self, p: &mut Pipeline<Mirror>, after_ns: u64) {
        let raw = std::mem::take(&mut self.server.bytes);
        self.ts += after_ns;
        p.push(Segment::response(
            self.flow,
            self.resp_seq,
            ACK | PSH,
            self.ts,
            Bytes::from(raw.clone()),
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

#[test]
fn h2_pairs_by_stream_id_every_outcome() {
    let mut p = pipeline();
    let mut a = Conn::open(&mut p, 40000);
    a.calls(
        &mut p,
        1,
        &[
            "/svc/Same",
            "/svc/Fail",
            "/svc/Down",
            "/svc/Big",
            "/svc/Same",
        ],
    );
    // Answered out of order, interleaved in one segment.
    a.answer(9, b"ok", "0");
    a.answer(5, b"ok", "0");
    a.answer(3, b"ok", "0");
    a.answer(7, b"ok", "0");
    a.answer(1, b"ok", "0");
    a.flush(&mut p, 50_000);
    // A later call on the same connection, answered after it.
    a.calls(&mut p, 11, &["/svc/Same"]);
    a.answer(11, b"ok", "0");
    a.flush(&mut p, 10_000);
    a.close(&mut p);
    p.poll_comparisons();
    assert_eq!(
        outcomes(&p),
        vec![
            (Outcome::Same, 3),
            (Outcome::StatusDiffers, 1),
            (Outcome::BodyDiffers, 1),
            (Outcome::MirrorFailed, 1),
        ]
    );
    assert_eq!(p.sink().h2_plain, 0, "every HTTP/2 mirror compared");
    assert_eq!(p.comparison().comparator().pending(), 0);
    assert!(p.comparison().check_conservation());
    let doc: super::DivergenceDoc =
        serde_json::from_str(&p.comparison().divergences_json()).expect("json");
    let targets: Vec<(&str, &str)> = doc
        .pairs
        .iter()
        .map(|e| (e.target.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        targets,
        [
            ("/svc/Big", "body_differs"),
            ("/svc/Fail", "status_differs")
        ]
    );
}

#[test]
fn h2_a_loss_in_a_header_block_never_mis_pairs() {
    let mut p = pipeline();
    let mut a = Conn::open(&mut p, 40001);
    a.calls(&mut p, 1, &["/svc/Same", "/svc/Fail"]);
    a.answer(1, b"ok", "0");
    a.flush(&mut p, 1_000);
    // Stream 3's head loses 2 bytes: the table is unknown, stream 3 and later are unseen,
    // never given stream 5's response.
    a.answer(3, b"ok", "5");
    let raw = std::mem::take(&mut a.server.bytes);
    a.ts += 1_000;
    p.push(Segment::response(
        a.flow,
        a.resp_seq,
        ACK | PSH,
        a.ts,
        Bytes::copy_from_slice(&raw[..10]),
    ));
    p.push(Segment::response(
        a.flow,
        a.resp_seq + 12,
        ACK | PSH,
        a.ts,
        Bytes::copy_from_slice(&raw[12..]),
    ));
    a.resp_seq += raw.len() as u32;
    a.calls(&mut p, 5, &["/svc/Same"]);
    a.answer(5, b"ok", "0");
    a.flush(&mut p, 1_000);
    p.advance_time(a.ts + Config::default().timeouts.gap_ns + 1);
    a.close(&mut p);
    p.poll_comparisons();
    assert_eq!(
        outcomes(&p),
        vec![(Outcome::Same, 1), (Outcome::PrimaryUnseen, 2)]
    );
    let c = p.comparison().comparator().counters();
    assert_eq!(c.get(Counter::UnseenGap), 2);
    assert!(p.comparison().check_conservation());
}

#[test]
fn h2_requests_on_an_http1_connection_are_not_paired() {
    // Responses that begin as HTTP/1 settle the connection (an h2c upgrade's 101): its
    // HTTP/2 streams are unseen, not framed as HTTP/1.
    let mut p = pipeline();
    let mut a = Conn::open(&mut p, 40002);
    a.server.bytes =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    a.flush(&mut p, 10);
    a.calls(&mut p, 1, &["/svc/Same"]);
    a.close(&mut p);
    p.poll_comparisons();
    assert_eq!(outcomes(&p), vec![(Outcome::PrimaryUnseen, 1)]);
    assert_eq!(
        p.comparison()
            .comparator()
            .counters()
            .get(Counter::UnseenRequestsLost),
        1
    );
    assert!(p.comparison().check_conservation());
}

fn pipeline() -> Pipeline<Mirror> {
    comparing_pipeline("body", Mirror::default())
}
