//! Framing rules and limits of the HTTP/1.x decoder, through the whole pipeline.
#![allow(clippy::unwrap_used)]

mod support;

use shadowtap_reconstruct::{Body, Config, Counter, Limits, Method, Version};
use support::*;

const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

fn one(stream: &[u8]) -> Harness {
    let h = decode(stream, 7);
    let h1 = decode(stream, 100_000);
    assert_eq!(h.raws(), h1.raws(), "segmentation changes the result");
    h
}

#[test]
fn content_length_body_and_pipelining() {
    let post = b"POST /p?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    let stream = [post.as_slice(), GET, post].concat();
    let h = one(&stream);
    assert_eq!(h.raws(), vec![post.to_vec(), GET.to_vec(), post.to_vec()]);
    let r = &h.out[0];
    assert_eq!(r.method(), Method::Post);
    assert_eq!(r.target(), b"/p?q=1");
    assert_eq!(r.version(), Version::Http11);
    assert_eq!(r.body_raw(), b"hello");
    assert_eq!(r.body_framing(), &Body::Length(5));
    assert_eq!(r.host(), Some(&b"x"[..]));
    assert_eq!(r.header_count(), 2);
    assert_eq!(h.c(Counter::RequestsEmitted), 3);
}

#[test]
fn headers_keep_order_and_case() {
    let req = b"GET / HTTP/1.1\r\nX-B: 2\r\nhost: h\r\nX-A: 1\r\nX-b: 3\r\n\r\n";
    let h = one(req);
    let hs: Vec<_> = h.out[0]
        .headers()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = [("X-B", "2"), ("host", "h"), ("X-A", "1"), ("X-b", "3")]
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    assert_eq!(hs, want);
    assert_eq!(h.out[0].header("x-b"), Some(&b"2"[..]));
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let req = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n";
    let stream = [req.as_slice(), GET].concat();
    let h = one(&stream);
    assert_eq!(h.raws(), vec![req.to_vec(), GET.to_vec()]);
    assert_eq!(&h.out[0].body()[..], b"Wikipedia");
    assert!(matches!(h.out[0].body_framing(), Body::Chunked(_)));
}

#[test]
fn http10_absolute_form_and_leading_crlf() {
    let req = b"GET http://example.com/x?y HTTP/1.0\r\nUser-Agent: a\r\n\r\n";
    let opts = b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
    let stream = [&b"\r\n"[..], req, b"\r\n", opts].concat();
    // HTTP/1.0 without keep-alive: the server closes after answering, so the OPTIONS
    // pipelined after it is never read.
    let h = one(&stream);
    assert_eq!(h.raws(), vec![req.to_vec()]);
    assert_eq!(h.c(Counter::FlowsClosedByRequest), 1);
    assert_eq!(h.out[0].version(), Version::Http10);
    assert_eq!(h.out[0].target(), b"http://example.com/x?y");
    let keep = b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let h = one(&[&b"\r\n"[..], keep, b"\r\n", opts].concat());
    assert_eq!(h.raws(), vec![keep.to_vec(), opts.to_vec()]);
}

#[test]
fn expect_100_continue_body_follows_later() {
    let head = b"PUT /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    h.push(data(f, ISN + 1, 2, head));
    assert!(h.out.is_empty());
    h.push(data(f, ISN + 1 + head.len() as u32, 3_000_000_000, b"abc"));
    assert_eq!(h.out.len(), 1);
    assert_eq!(h.out[0].body_raw(), b"abc");
    assert_eq!(h.out[0].first_ts_ns(), 2);
    assert_eq!(h.out[0].last_ts_ns(), 3_000_000_000);
    h.flush();
}

fn dropped(stream: &[u8], reason: Counter) -> Harness {
    let h = decode(stream, 100_000);
    let small = decode(stream, 7);
    assert_eq!(small.c(reason), 1);
    assert!(small.out.iter().all(|r| r.raw() == GET));
    assert_eq!(h.c(reason), 1, "{reason:?} in {:?}", h.r.counters());
    h
}

#[test]
fn hostile_framing_is_counted_never_emitted() {
    let cases: &[(&[u8], Counter)] = &[
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Counter::DroppedClAndTe,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            Counter::DroppedConflictingContentLength,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\nabc",
            Counter::DroppedInvalidContentLength,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            Counter::DroppedInvalidContentLength,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Counter::DroppedBadTransferEncoding,
        ),
        (
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Counter::DroppedBadTransferEncoding,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
            Counter::DroppedInvalidChunked,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            Counter::DroppedInvalidChunked,
        ),
        (
            b"GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            Counter::DroppedObsFold,
        ),
        (b"GET / HTTP/1.1\nHost: x\n\n", Counter::DroppedBareLf),
        (b"GET / HTTP/1.1\r\nHost: x\n\r\n", Counter::DroppedBareLf),
        // The preface after an HTTP/1 request (at a flow's start it begins HTTP/2: tests/http2.rs).
        (
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            Counter::DroppedHttp2,
        ),
        (
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            Counter::DroppedUpgrade,
        ),
        (
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            Counter::DroppedConnect,
        ),
        (
            b"GET /\x01 HTTP/1.1\r\n\r\n",
            Counter::DroppedInvalidRequest,
        ),
    ];
    for (stream, reason) in cases {
        let s = [*stream, GET].concat();
        let h = dropped(&s, *reason);
        assert!(
            h.out.iter().all(|r| r.raw() == GET),
            "{}",
            String::from_utf8_lossy(stream)
        );
    }
}

#[test]
fn after_upgrade_nothing_is_decoded() {
    let up = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let h = dropped(&[up.as_slice(), GET, GET].concat(), Counter::DroppedUpgrade);
    assert!(h.out.is_empty());
    assert_eq!(h.c(Counter::FlowsNotHttp1), 1);
}

/// RFC 9110 §7.8: an `Upgrade` field that `Connection` does not list is not for this hop;
/// the server serves the request as usual, and so does the decoder (one client's header
/// must not silence a pooled connection).
#[test]
fn upgrade_without_connection_upgrade_is_an_ordinary_request() {
    let up = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";
    let h = decode(&[up.as_slice(), GET, GET].concat(), 1000);
    assert_eq!(h.raws(), vec![up.to_vec(), GET.to_vec(), GET.to_vec()]);
    assert_eq!(h.c(Counter::DroppedUpgrade), 0);
}

#[test]
fn unknown_method_is_skipped_in_sync() {
    let brew = b"BREW /pot HTTP/1.1\r\nContent-Length: 4\r\n\r\nGET ";
    let h = dropped(
        &[brew.as_slice(), GET].concat(),
        Counter::DroppedUnknownMethod,
    );
    assert_eq!(h.raws(), vec![GET.to_vec()]);
    assert_eq!(h.c(Counter::Resyncs), 0);
}

fn small() -> Config {
    Config {
        limits: Limits {
            max_header_bytes: 100,
            max_headers: 4,
            max_body_bytes: 10,
        },
        ..Config::default()
    }
}

fn decode_with(config: Config, stream: &[u8], mss: usize) -> Harness {
    let mut h = Harness::with(config);
    h.connection(flow(1), stream, mss);
    h.flush();
    h
}

#[test]
fn body_over_limit_is_skipped_in_sync() {
    // The skipped body contains a request line: in sync it is body, never a request.
    let big = [
        &b"POST / HTTP/1.1\r\nContent-Length: 31\r\n\r\n"[..],
        b"GET /evil HTTP/1.1\r\nHost: e\r\n\r\n",
    ]
    .concat();
    assert_eq!(big.len() - 39, 31);
    for mss in [1, 5, 1000] {
        let h = decode_with(small(), &[big.as_slice(), GET].concat(), mss);
        assert_eq!(h.c(Counter::DroppedBodyTooLarge), 1);
        assert_eq!(h.raws(), vec![GET.to_vec()], "mss {mss}");
    }
    let chunked =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    for mss in [1, 5, 1000] {
        let h = decode_with(small(), &[chunked.as_slice(), GET].concat(), mss);
        assert_eq!(h.c(Counter::DroppedBodyTooLarge), 1);
        assert_eq!(h.raws(), vec![GET.to_vec()], "mss {mss}");
    }
}

#[test]
fn header_limits() {
    let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    let h = decode_with(small(), &[many.as_slice(), GET].concat(), 1000);
    assert_eq!(h.c(Counter::DroppedTooManyHeaders), 1);
    assert!(h.out.is_empty(), "resync needs a segment start");
    let long = [&b"GET / HTTP/1.1\r\nX: "[..], &[b'a'; 200], b"\r\n\r\n"].concat();
    let h = decode_with(small(), &long, 10);
    assert_eq!(h.c(Counter::DroppedHeaderTooLarge), 1);
    // With the next request in its own segment, the flow resyncs on it.
    let mut h = Harness::with(small());
    let f = flow(2);
    h.push(syn(f, ISN, 1));
    h.push(data(f, ISN + 1, 2, many));
    h.push(data(f, ISN + 1 + many.len() as u32, 3, GET));
    h.flush();
    assert_eq!(h.raws(), vec![GET.to_vec()]);
    assert_eq!(h.c(Counter::ResyncAccepted), 1);
}

#[test]
fn inflight_budget_drops_and_skips() {
    let mut config = Config::default();
    config.budgets.inflight_bytes = 64;
    let post = [
        &b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n"[..],
        &[b'x'; 100],
    ]
    .concat();
    let h = decode_with(config, &[post.as_slice(), GET].concat(), 20);
    assert_eq!(h.c(Counter::DroppedBodyBudget), 1);
    assert_eq!(h.raws(), vec![GET.to_vec()]);
}

#[test]
fn incomplete_at_close() {
    let h = one(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    assert_eq!(h.c(Counter::DroppedIncomplete), 1);
    assert!(h.out.is_empty());
}
