//! HTTP/2 (h2c) flows through the reconstructor: prior knowledge, h2c upgrades accepted and
//! declined, gaps, flows that started before capture, and the in-flight budget.

mod support;

use shadowtap_reconstruct::shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_reconstruct::shadowtap_h2::frame::PREFACE;
use shadowtap_reconstruct::shadowtap_h2::Counter as H2;
use shadowtap_reconstruct::{Config, Counter, H2FlowRequest, Reconstructor, Request, Segment};
use support::{data, fin, flow, syn, ISN};

/// A reconstructor with everything it emitted, both protocols.
struct Run {
    r: Reconstructor,
    h1: Vec<Request>,
    h2: Vec<H2FlowRequest>,
}

impl Run {
    fn new(config: Config) -> Run {
        Run {
            r: Reconstructor::new(config),
            h1: Vec::new(),
            h2: Vec::new(),
        }
    }

    fn push(&mut self, seg: Segment) {
        self.h1.extend(self.r.push(seg));
        self.h2.extend(self.r.drain_h2());
    }

    fn advance(&mut self, now: u64) {
        self.h1.extend(self.r.advance_time(now));
        self.h2.extend(self.r.drain_h2());
    }

    fn flush(&mut self) {
        self.h1.extend(self.r.flush());
        self.h2.extend(self.r.drain_h2());
        assert!(
            self.r.counters().check_conservation(0),
            "{:?}",
            self.r.counters()
        );
        assert!(
            self.r.h2_counters().check_conservation(0),
            "{:?}",
            self.r.h2_counters()
        );
    }

    fn paths(&self) -> Vec<(u32, String)> {
        self.h2
            .iter()
            .map(|r| {
                let p = r.request.pseudo.path.clone().unwrap_or_default();
                (
                    r.request.stream_id,
                    String::from_utf8_lossy(&p).into_owned(),
                )
            })
            .collect()
    }
}

/// Sends `bytes` on a fresh flow in segments cut at `cuts`; returns the next sequence number.
fn send(run: &mut Run, n: u16, bytes: &[u8], cuts: &[usize]) -> u32 {
    let f = flow(n);
    run.push(syn(f, ISN, 1));
    let mut at = 0;
    for (ts, end) in (2..).zip(cuts.iter().copied().chain([bytes.len()])) {
        run.push(data(f, ISN + 1 + at as u32, ts, &bytes[at..end]));
        at = end;
    }
    ISN + 1 + bytes.len() as u32
}

#[test]
fn prior_knowledge_requests_are_decoded_whatever_the_cuts() {
    let mut c = ClientBytes::new();
    c.request(1, "GET", "/a", true);
    c.request(3, "POST", "/b", false);
    c.data(3, b"hello ", false, None);
    c.data(3, b"world", true, None);
    for cuts in [
        vec![],
        vec![3],
        vec![24, 30, 50],
        vec![PREFACE.len() + 9 + 2],
    ] {
        let mut run = Run::new(Config::default());
        let end = send(&mut run, 1, &c.bytes, &cuts);
        run.push(fin(flow(1), end, 99));
        assert!(run.h1.is_empty(), "no HTTP/1 request: {:?}", run.h1);
        assert_eq!(
            run.paths(),
            [(1, "/a".to_owned()), (3, "/b".to_owned())],
            "cuts {cuts:?}"
        );
        let body = &run.h2[1].request.body;
        assert_eq!(&body[..], b"hello world");
        assert_eq!(run.h2[0].flow, flow(1));
        assert_eq!(run.r.counters().get(Counter::FlowsHttp2), 1);
        assert_eq!(run.r.counters().get(Counter::DroppedHttp2), 0);
        assert_eq!(run.r.h2_counters().get(H2::RequestsEmitted), 2);
        assert_eq!(run.r.h2_counters().get(H2::H2Connections), 1);
        run.flush();
    }
}

const UPGRADE: &[u8] = b"GET /up HTTP/1.1\r\nHost: foo.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n";

#[test]
fn accepted_h2c_upgrade_emits_the_upgrade_request_as_stream_1() {
    let mut c = ClientBytes::new();
    c.request(3, "GET", "/after", true);
    let mut bytes = UPGRADE.to_vec();
    bytes.extend_from_slice(&c.bytes);
    for cuts in [
        vec![],
        vec![UPGRADE.len()],
        vec![UPGRADE.len() + 5],
        vec![10],
    ] {
        let mut run = Run::new(Config::default());
        send(&mut run, 2, &bytes, &cuts);
        assert!(run.h1.is_empty(), "served as HTTP/2, cuts {cuts:?}");
        assert_eq!(
            run.paths(),
            [(1, "/up".to_owned()), (3, "/after".to_owned())],
            "cuts {cuts:?}"
        );
        let up = &run.h2[0].request;
        assert_eq!(up.pseudo.method, "GET");
        assert_eq!(up.pseudo.authority.as_deref(), Some(&b"foo.example"[..]));
        assert!(
            up.headers.is_empty(),
            "Host, Connection, Upgrade and HTTP2-Settings do not travel in HTTP/2: {:?}",
            up.headers
        );
        assert_eq!(run.r.counters().get(Counter::RequestsUpgradedH2), 1);
        assert_eq!(run.r.counters().get(Counter::DroppedUpgrade), 0);
        assert_eq!(run.r.h2_counters().get(H2::H2cUpgradeDeclined), 0);
        run.flush();
    }
}

#[test]
fn an_upgrade_request_with_a_body_keeps_it_and_its_other_fields() {
    let up = b"POST http://foo.example/form?x=1 HTTP/1.1\r\nHost: foo.example\r\nConnection: Upgrade, HTTP2-Settings, X-Hop\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\nX-Hop: gone\r\nX-Keep: Kept\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let mut bytes = up.to_vec();
    bytes.extend_from_slice(&ClientBytes::new().bytes);
    let mut run = Run::new(Config::default());
    send(&mut run, 10, &bytes, &[]);
    assert_eq!(run.paths(), [(1, "/form?x=1".to_owned())]);
    let r = &run.h2[0].request;
    assert_eq!(r.pseudo.authority.as_deref(), Some(&b"foo.example"[..]));
    assert_eq!(&r.body[..], b"abcde");
    let names: Vec<(&[u8], &[u8])> = r
        .headers
        .iter()
        .map(|f| (&f.name[..], &f.value[..]))
        .collect();
    assert_eq!(names, [(&b"x-keep"[..], &b"Kept"[..])]);
    run.flush();
}

#[test]
fn an_upgrade_request_with_nothing_after_it_is_emitted_as_http1() {
    let mut run = Run::new(Config::default());
    let end = send(&mut run, 11, UPGRADE, &[]);
    assert!(run.h1.is_empty(), "held until the next bytes tell");
    assert_eq!(run.r.requests_in_progress(), 1);
    run.push(fin(flow(11), end, 99));
    assert_eq!(run.h1.len(), 1);
    assert_eq!(run.h1[0].target(), b"/up");
    assert!(run.h2.is_empty());
    run.flush();
}

#[test]
fn declined_h2c_upgrade_resumes_http1() {
    let next = b"GET /next HTTP/1.1\r\nHost: foo.example\r\n\r\n";
    let mut bytes = UPGRADE.to_vec();
    bytes.extend_from_slice(next);
    bytes.extend_from_slice(UPGRADE);
    bytes.extend_from_slice(next);
    for cuts in [
        vec![],
        vec![UPGRADE.len()],
        vec![UPGRADE.len() + 3],
        vec![UPGRADE.len() + 30],
    ] {
        let mut run = Run::new(Config::default());
        send(&mut run, 3, &bytes, &cuts);
        let targets: Vec<&[u8]> = run.h1.iter().map(|r| r.target()).collect();
        assert_eq!(
            targets,
            [&b"/up"[..], b"/next", b"/up", b"/next"],
            "cuts {cuts:?}"
        );
        assert!(run.h2.is_empty());
        assert_eq!(run.r.h2_counters().get(H2::H2cUpgradeDeclined), 2);
        assert_eq!(run.r.counters().get(Counter::FlowsHttp2), 2);
        run.flush();
    }
}

#[test]
fn a_gap_inside_data_drops_that_stream_only() {
    let mut head = ClientBytes::new();
    head.request(1, "POST", "/lossy", false);
    head.request(3, "POST", "/whole", false);
    // DATA on stream 1: its 9-byte frame header in the first segment, its payload lost.
    head.data(1, &[b'x'; 100], true, None);
    let payload_at = head.bytes.len() - 100;
    let mut tail = ClientBytes::without_preface();
    tail.data(3, b"kept", true, None);
    let mut bytes = head.bytes.clone();
    bytes.extend_from_slice(&tail.bytes);

    let mut run = Run::new(Config::default());
    let f = flow(4);
    run.push(syn(f, ISN, 1));
    run.push(data(f, ISN + 1, 2, &bytes[..payload_at]));
    let after = payload_at + 100;
    run.push(data(f, ISN + 1 + after as u32, 3, &bytes[after..]));
    assert!(run.h2.is_empty(), "held behind the hole");
    run.advance(3 + Config::default().timeouts.gap_ns + 1);
    assert_eq!(run.paths(), [(3, "/whole".to_owned())]);
    assert_eq!(run.r.h2_counters().get(H2::DroppedGap), 1);
    assert_eq!(run.r.h2_counters().get(H2::BytesLost), 100);
    run.flush();
}

#[test]
fn a_gap_in_a_frame_header_stops_the_connection() {
    let mut c = ClientBytes::new();
    c.request(1, "GET", "/first", true);
    let cut = c.bytes.len();
    c.request(3, "GET", "/lost", true);
    c.request(5, "GET", "/after", true);
    let mut run = Run::new(Config::default());
    let f = flow(5);
    run.push(syn(f, ISN, 1));
    run.push(data(f, ISN + 1, 2, &c.bytes[..cut]));
    run.push(data(f, ISN + 1 + cut as u32 + 4, 3, &c.bytes[cut + 4..]));
    run.advance(3 + Config::default().timeouts.gap_ns + 1);
    assert_eq!(run.paths(), [(1, "/first".to_owned())]);
    assert_eq!(run.r.h2_counters().get(H2::StoppedGapInFraming), 1);
    run.flush();
}

#[test]
fn an_h2_flow_that_started_before_capture_is_counted_and_left_alone() {
    let mut c = ClientBytes::without_preface();
    c.request(7, "GET", "/x", true);
    let mut run = Run::new(Config::default());
    let f = flow(6);
    run.push(data(f, 5000, 1, &c.bytes));
    let mut more = ClientBytes::without_preface();
    more.request(9, "GET", "/y", true);
    run.push(data(f, 5000 + c.bytes.len() as u32, 2, &more.bytes));
    assert!(run.h1.is_empty() && run.h2.is_empty());
    assert_eq!(run.r.counters().get(Counter::FlowsH2Midstream), 1);
    assert_eq!(run.r.h2_counters().get(H2::H2Midstream), 1);
    assert_eq!(run.r.counters().get(Counter::SegmentsIgnored), 1);

    // An HTTP/1 flow that started before capture still resynchronises.
    let g = flow(7);
    run.push(data(g, 7000, 3, b"GET /h1 HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert_eq!(run.h1.len(), 1);
    assert_eq!(run.r.counters().get(Counter::FlowsH2Midstream), 1);
    run.flush();
}

#[test]
fn a_preface_after_http1_requests_is_not_http2() {
    let mut bytes = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    bytes.extend_from_slice(&ClientBytes::new().bytes);
    let mut run = Run::new(Config::default());
    send(&mut run, 8, &bytes, &[]);
    assert_eq!(run.h1.len(), 1);
    assert!(run.h2.is_empty());
    assert_eq!(run.r.counters().get(Counter::DroppedHttp2), 1);
    assert_eq!(run.r.counters().get(Counter::FlowsHttp2), 0);
    run.flush();
}

#[test]
fn h2_bodies_are_charged_to_the_inflight_budget() {
    let mut config = Config::default();
    config.budgets.inflight_bytes = 64 * 1024;
    config.budgets.flow_inflight_bytes = 64 * 1024;
    config.budgets.flow_inflight_small_bytes = 64 * 1024;
    let mut c = ClientBytes::new();
    c.request(1, "POST", "/big", false);
    for _ in 0..10 {
        c.data(1, &[b'b'; 16 * 1024], false, None);
    }
    let mut run = Run::new(config);
    let f = flow(9);
    run.push(syn(f, ISN, 1));
    let mut seq = ISN + 1;
    for (i, part) in c.bytes.chunks(8 * 1024).enumerate() {
        run.push(data(f, seq, 2 + i as u64, part));
        seq += part.len() as u32;
        assert!(
            run.r.inflight_bytes() <= 64 * 1024,
            "held {} after segment {i}",
            run.r.inflight_bytes()
        );
    }
    assert!(run.h2.is_empty());
    assert_eq!(run.r.counters().get(Counter::FlowsH2OverBudget), 1);
    run.flush();
}

/// Two requests on flow `n`, each with a 2 000-byte field `x-big` coded as a literal with a
/// new name: with incremental indexing (the decoder's table keeps it) or without (it does
/// not). Both connections carry the same number of bytes in the same frames.
fn big_field_requests(run: &mut Run, n: u16, indexed: bool) -> u32 {
    let mut c = ClientBytes::new();
    for id in [1, 3] {
        let mut block = c.encode(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/t"),
        ]);
        // RFC 7541 §6.2.1 (0x40) or §6.2.2 (0x00); name of 5 bytes; value length 2 000
        // as a 7-bit-prefix integer: 127 + 1 873 (0xd1 0x0e).
        block.push(if indexed { 0x40 } else { 0x00 });
        block.push(5);
        block.extend_from_slice(b"x-big");
        block.extend_from_slice(&[0x7f, 0xd1, 0x0e]);
        block.extend_from_slice(&[b'v'; 2000]);
        c.raw_headers(
            id,
            &block,
            HeadersOpts {
                end_stream: true,
                ..Default::default()
            },
        );
    }
    send(run, n, &c.bytes, &[])
}

#[test]
fn the_hpack_dynamic_table_is_charged_to_the_inflight_budget_while_the_flow_lives() {
    let mut plain = Run::new(Config::default());
    big_field_requests(&mut plain, 11, false);
    let mut indexed = Run::new(Config::default());
    let seq = big_field_requests(&mut indexed, 11, true);
    for run in [&plain, &indexed] {
        assert_eq!(
            run.paths(),
            vec![(1, "/t".to_owned()), (3, "/t".to_owned())]
        );
    }
    // No request is in progress on either: what the indexed one holds more is its table.
    let table = indexed.r.inflight_bytes() as i64 - plain.r.inflight_bytes() as i64;
    assert!(
        table >= 2000,
        "the table's entry is charged: {} with it, {} without",
        indexed.r.inflight_bytes(),
        plain.r.inflight_bytes()
    );
    indexed.push(fin(flow(11), seq, 9));
    indexed.advance(10_000_000_000);
    assert_eq!(indexed.r.inflight_bytes(), 0, "a closed flow holds nothing");
    indexed.flush();
    plain.flush();
}

#[test]
fn a_gap_right_after_an_upgrade_request_drops_it() {
    let mut c = ClientBytes::new();
    c.request(3, "GET", "/after", true);
    let mut run = Run::new(Config::default());
    let f = flow(12);
    run.push(syn(f, ISN, 1));
    run.push(data(f, ISN + 1, 2, UPGRADE));
    // The preface's first 10 bytes are lost.
    let rest = &c.bytes[10..];
    run.push(data(f, ISN + 1 + UPGRADE.len() as u32 + 10, 3, rest));
    run.advance(3 + Config::default().timeouts.gap_ns + 1);
    assert!(run.h1.is_empty() && run.h2.is_empty());
    assert_eq!(run.r.counters().get(Counter::DroppedGap), 1);
    run.flush();
}

mod random_cuts_and_losses {
    use super::*;
    use proptest::prelude::*;

    /// A session of `n` POSTs on streams 1, 3, …, whose body names its stream.
    fn session(n: u32) -> Vec<u8> {
        let mut c = ClientBytes::new();
        for i in 0..n {
            let id = 1 + 2 * i;
            c.request(id, "POST", &format!("/s/{id}"), false);
            let body = format!("body of stream {id} ").repeat(1 + (i as usize % 5) * 40);
            c.data(id, body.as_bytes(), true, None);
        }
        c.bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the segment boundaries and whichever segments are lost, every emitted
        /// request is one the client sent, whole (its body names its own stream), and both
        /// protocols' counters stay conserved.
        #[test]
        fn never_a_spliced_stream(
            n in 1u32..12,
            cuts in proptest::collection::vec(1usize..3000, 0..24),
            lost in proptest::collection::vec(0u8..8, 24),
        ) {
            let bytes = session(n);
            let mut points: Vec<usize> = cuts.iter().map(|c| c % bytes.len()).filter(|c| *c > 0).collect();
            points.sort_unstable();
            points.dedup();
            let mut run = Run::new(Config::default());
            let f = flow(20);
            run.push(syn(f, ISN, 1));
            let mut at = 0;
            let mut lost_any = false;
            for (i, end) in points.iter().copied().chain([bytes.len()]).enumerate() {
                if lost[i % lost.len()] == 0 && i > 0 {
                    lost_any = true;
                } else {
                    run.push(data(f, ISN + 1 + at as u32, 2 + i as u64, &bytes[at..end]));
                }
                at = end;
            }
            run.advance(100 + Config::default().timeouts.gap_ns);
            for r in &run.h2 {
                let id = r.request.stream_id;
                let want = format!("body of stream {id} ");
                prop_assert!(r.request.body.starts_with(want.as_bytes()));
                prop_assert_eq!(r.request.body.len() % want.len(), 0);
                prop_assert!(r.request.body.chunks(want.len()).all(|c| c == want.as_bytes()));
                let path = r.request.pseudo.path.clone().unwrap_or_default();
                let want_path = format!("/s/{id}");
                prop_assert_eq!(&path[..], want_path.as_bytes());
            }
            if !lost_any {
                prop_assert_eq!(run.h2.len(), n as usize);
            }
            // Lost segments cost at most the streams they touched, never the others'.
            if !lost_any {
                prop_assert_eq!(run.r.h2_counters().get(H2::RequestsEmitted), u64::from(n));
            }
            run.flush();
        }
    }
}
