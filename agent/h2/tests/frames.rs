//! Frame-level behaviour: interleaved streams, CONTINUATION, padding, priority, trailers,
//! RST_STREAM, ignored frames, the two ways a connection starts, and the connection errors
//! that stop decoding.

mod support;

use shadowtap_h2::frame::{FrameType, FLAG_END_HEADERS, FLAG_END_STREAM, PREFACE};
use shadowtap_h2::{Counter, Field, H2Decoder, Limits, ProtocolError, Start, StopReason};
use support::{decode, one_shot, Client, HeadersOpts};

fn f(n: &str, v: &str) -> Field {
    Field::new(n.as_bytes().to_vec(), v.as_bytes().to_vec())
}

#[test]
fn one_get_decodes_with_every_part() {
    let mut c = Client::new();
    c.request(1, "GET", "/a?b=c", true);
    let (reqs, counters) = decode(&c.bytes);
    assert_eq!(reqs.len(), 1, "{counters:?}");
    let r = &reqs[0];
    assert_eq!(r.stream_id, 1);
    assert_eq!(r.pseudo.method, "GET");
    assert_eq!(r.pseudo.scheme.as_deref(), Some(&b"http"[..]));
    assert_eq!(r.pseudo.authority.as_deref(), Some(&b"svc.example"[..]));
    assert_eq!(r.pseudo.path.as_deref(), Some(&b"/a?b=c"[..]));
    assert_eq!(r.headers, vec![f("user-agent", "shadowtap-test")]);
    assert!(r.body.is_empty() && r.trailers.is_empty());
    assert_eq!(counters.get(Counter::H2Connections), 1);
    assert_eq!(counters.get(Counter::RequestsEmitted), 1);
}

#[test]
fn headers_keep_wire_order_and_repeats() {
    let mut c = Client::new();
    let fields = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "a"),
        (":path", "/"),
        ("x-b", "1"),
        ("x-a", "2"),
        ("x-b", "3"),
        ("cookie", "k=v"),
    ];
    c.headers(
        1,
        &fields,
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    let (reqs, _) = decode(&c.bytes);
    assert_eq!(
        reqs[0].headers,
        vec![
            f("x-b", "1"),
            f("x-a", "2"),
            f("x-b", "3"),
            f("cookie", "k=v")
        ]
    );
}

#[test]
fn interleaved_streams_each_get_their_own_bytes() {
    let mut c = Client::new();
    c.request(1, "POST", "/one", false);
    c.request(3, "POST", "/three", false);
    c.data(1, b"a1", false, None);
    c.request(5, "GET", "/five", true);
    c.data(3, b"b1", false, None);
    c.noise(3);
    c.data(1, b"a2", false, None);
    c.data(3, b"b2", true, None);
    c.data(1, b"a3", true, None);
    let (reqs, counters) = decode(&c.bytes);
    let got: Vec<(u32, &[u8], &[u8])> = reqs
        .iter()
        .map(|r| {
            (
                r.stream_id,
                r.pseudo.path.as_deref().unwrap_or_default(),
                &r.body[..],
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (5, &b"/five"[..], &b""[..]),
            (3, b"/three", b"b1b2"),
            (1, b"/one", b"a1a2a3"),
        ]
    );
    assert_eq!(
        counters.get(Counter::FramesIgnored),
        1 + 6,
        "settings + noise"
    );
}

#[test]
fn continuation_padding_and_priority_are_undone() {
    let mut c = Client::new();
    let long = "v".repeat(300);
    let fields = [
        (":method", "PUT"),
        (":scheme", "http"),
        (":authority", "a"),
        (":path", "/p"),
        ("x-long", long.as_str()),
        ("x-after", "1"),
    ];
    c.headers(
        1,
        &fields,
        HeadersOpts {
            pad: Some(7),
            priority: true,
            fragment: Some(13),
            ..Default::default()
        },
    );
    c.data(1, b"padded", false, Some(200));
    c.data(1, b"", false, Some(0));
    c.data(1, b"!", true, Some(1));
    let (reqs, counters) = decode(&c.bytes);
    assert_eq!(reqs.len(), 1, "{counters:?}");
    assert_eq!(reqs[0].headers, vec![f("x-long", &long), f("x-after", "1")]);
    assert_eq!(reqs[0].body, &b"padded!"[..]);
}

#[test]
fn trailers_are_kept_and_end_the_request() {
    let mut c = Client::new();
    c.headers(
        1,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "grpc.example"),
            (":path", "/pkg.Svc/Call"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ],
        HeadersOpts::default(),
    );
    c.data(1, b"\0\0\0\0\x02hi", false, None);
    c.headers(
        1,
        &[("grpc-status", "0"), ("x-trailer", "t")],
        HeadersOpts {
            end_stream: true,
            fragment: Some(3),
            ..Default::default()
        },
    );
    let (reqs, _) = decode(&c.bytes);
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].trailers,
        vec![f("grpc-status", "0"), f("x-trailer", "t")]
    );
    assert_eq!(reqs[0].body, &b"\0\0\0\0\x02hi"[..]);
}

#[test]
fn trailers_without_end_stream_or_with_pseudo_headers_are_malformed() {
    for (trailers, end) in [
        (vec![("grpc-status", "0")], false),
        (vec![(":path", "/x")], true),
    ] {
        let mut c = Client::new();
        c.request(1, "POST", "/", false);
        c.headers(
            1,
            &trailers,
            HeadersOpts {
                end_stream: end,
                ..Default::default()
            },
        );
        c.request(3, "GET", "/next", true);
        let (reqs, counters) = decode(&c.bytes);
        assert_eq!(reqs.len(), 1, "{trailers:?}: only the next request");
        assert_eq!(reqs[0].stream_id, 3);
        assert_eq!(counters.get(Counter::DroppedMalformed), 1);
    }
}

#[test]
fn rst_stream_drops_only_that_stream() {
    let mut c = Client::new();
    c.request(1, "POST", "/reset", false);
    c.request(3, "POST", "/kept", false);
    c.data(1, b"partial", false, None);
    c.rst(1);
    c.data(3, b"body", true, None);
    // Late frames for the reset stream are ignored, not errors.
    c.frame(FrameType::WindowUpdate, 0, 1, &1u32.to_be_bytes());
    let (reqs, counters) = decode(&c.bytes);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].pseudo.path.as_deref(), Some(&b"/kept"[..]));
    assert_eq!(counters.get(Counter::DroppedReset), 1);
    assert_eq!(counters.get(Counter::StreamsStarted), 2);
}

#[test]
fn header_blocks_of_dropped_streams_still_feed_the_table() {
    // Stream 1 is reset; its trailers (HPACK-indexed) arrive anyway, and stream 3 reuses
    // the entries they added. Decoding stream 3 right proves the block was decoded.
    let mut c = Client::new();
    c.request(1, "POST", "/", false);
    c.rst(1);
    c.headers(
        1,
        &[("x-new-entry", "abc")],
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    c.headers(
        3,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/"),
            ("x-new-entry", "abc"),
        ],
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    let (reqs, counters) = decode(&c.bytes);
    assert_eq!(reqs.len(), 1, "{counters:?}");
    assert_eq!(reqs[0].headers, vec![f("x-new-entry", "abc")]);
    assert_eq!(counters.get(Counter::FramesOnClosedStream), 1);
}

#[test]
fn content_length_must_match_the_data() {
    let mut c = Client::new();
    let head = |c: &mut Client, id: u32, cl: &str| {
        c.headers(
            id,
            &[
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", "a"),
                (":path", "/"),
                ("content-length", cl),
            ],
            HeadersOpts::default(),
        )
    };
    head(&mut c, 1, "5");
    c.data(1, b"12345", true, None);
    head(&mut c, 3, "5");
    c.data(3, b"1234", true, None);
    head(&mut c, 5, "3");
    c.data(5, b"1234", true, None);
    let (reqs, counters) = decode(&c.bytes);
    assert_eq!(
        reqs.iter().map(|r| r.stream_id).collect::<Vec<_>>(),
        vec![1]
    );
    assert_eq!(counters.get(Counter::DroppedMalformed), 2);
}

#[test]
fn midstream_start_is_counted_not_decoded() {
    let mut c = Client::without_preface();
    c.frame(FrameType::Settings, 0, 0, &[]);
    c.request(1, "GET", "/", true);
    let (reqs, counters) = decode(&c.bytes);
    assert!(reqs.is_empty());
    assert_eq!(counters.get(Counter::H2Midstream), 1);
    assert_eq!(counters.get(Counter::BytesSkipped), c.bytes.len() as u64);
    // Even one wrong byte after a correct start of the preface.
    let mut bytes = PREFACE[..10].to_vec();
    bytes.push(b'X');
    let (_, counters) = decode(&bytes);
    assert_eq!(counters.get(Counter::H2Midstream), 1);
}

#[test]
fn after_h2c_upgrade_the_preface_follows_and_stream_1_is_taken() {
    let mut c = Client::new();
    // Stream 1 was the upgrade request: the client's next streams are 3, 5, ...
    c.request(3, "GET", "/after-upgrade", true);
    let (reqs, counters) = one_shot(&c.bytes, Start::AfterH2cUpgrade, Limits::default());
    assert_eq!(reqs.len(), 1, "{counters:?}");
    assert_eq!(reqs[0].stream_id, 3);
    // A WINDOW_UPDATE for stream 1 is legal there, and not an idle stream.
    let mut c = Client::new();
    c.frame(FrameType::WindowUpdate, 0, 1, &10u32.to_be_bytes());
    c.request(3, "GET", "/", true);
    let (reqs, _) = one_shot(&c.bytes, Start::AfterH2cUpgrade, Limits::default());
    assert_eq!(reqs.len(), 1);
}

#[test]
fn a_declined_upgrade_hands_the_http1_bytes_back() {
    let next = b"GET /still-http1 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut d = H2Decoder::new(Start::AfterH2cUpgrade, Limits::default());
    let mut out = Vec::new();
    // A first byte that matches the preface ("P" of "PRI"/"POST") is held, then handed back.
    d.push(b"P", &mut out);
    assert!(d.is_decoding());
    d.push(b"OST / HTTP/1.1\r\n\r\n", &mut out);
    assert_eq!(d.stopped(), Some(StopReason::UpgradeDeclined));
    d.push(next, &mut out);
    let back = d.take_declined_bytes();
    assert_eq!(&back[..], [&b"POST / HTTP/1.1\r\n\r\n"[..], next].concat());
    assert_eq!(d.counters().get(Counter::H2cUpgradeDeclined), 1);
    assert!(out.is_empty());
}

/// Each connection error a server answers with GOAWAY stops decoding, and the streams it
/// had open are dropped and counted.
#[test]
fn connection_errors_stop_decoding() {
    type Build = fn(&mut Client);
    let cases: Vec<(&str, Build, ProtocolError)> = vec![
        (
            "no SETTINGS first",
            |c| {
                c.bytes.truncate(PREFACE.len());
                c.request(1, "GET", "/", true);
            },
            ProtocolError::NoInitialSettings,
        ),
        (
            "PING of 7 bytes",
            |c| c.frame(FrameType::Ping, 0, 0, b"1234567"),
            ProtocolError::FrameSize,
        ),
        (
            "SETTINGS of 5 bytes",
            |c| c.frame(FrameType::Settings, 0, 0, b"12345"),
            ProtocolError::FrameSize,
        ),
        (
            "SETTINGS ACK with payload",
            |c| c.frame(FrameType::Settings, 1, 0, b"123456"),
            ProtocolError::FrameSize,
        ),
        (
            "SETTINGS on a stream",
            |c| c.frame(FrameType::Settings, 0, 1, &[]),
            ProtocolError::WrongStream,
        ),
        (
            "HEADERS on stream 0",
            |c| c.request(0, "GET", "/", true),
            ProtocolError::WrongStream,
        ),
        (
            "HEADERS on an even stream",
            |c| c.request(2, "GET", "/", true),
            ProtocolError::EvenStreamId,
        ),
        (
            "DATA on an idle stream",
            |c| c.data(9, b"x", true, None),
            ProtocolError::IdleStream,
        ),
        (
            "RST on an idle stream",
            |c| c.rst(9),
            ProtocolError::IdleStream,
        ),
        (
            "CONTINUATION alone",
            |c| c.frame(FrameType::Continuation, FLAG_END_HEADERS, 1, &[0x82]),
            ProtocolError::Continuation,
        ),
        (
            "DATA inside a header block",
            |c| {
                c.frame(FrameType::Headers, 0, 3, &[0x82]);
                c.data(1, b"x", false, None);
            },
            ProtocolError::Continuation,
        ),
        (
            "CONTINUATION on another stream",
            |c| {
                c.frame(FrameType::Headers, 0, 3, &[0x82]);
                c.frame(FrameType::Continuation, FLAG_END_HEADERS, 5, &[0x84]);
            },
            ProtocolError::Continuation,
        ),
        (
            "DATA padding past the frame",
            |c| c.frame(FrameType::Data, 0x8, 1, &[5, b'a']),
            ProtocolError::Padding,
        ),
        (
            "HEADERS padding past the frame",
            |c| c.frame(FrameType::Headers, 0x8 | FLAG_END_HEADERS, 3, &[9, 0x82]),
            ProtocolError::Padding,
        ),
        (
            "PUSH_PROMISE",
            |c| c.frame(FrameType::PushPromise, 0, 1, &[0, 0, 0, 2, 0x82]),
            ProtocolError::PushPromise,
        ),
        (
            "GOAWAY too short",
            |c| c.frame(FrameType::GoAway, 0, 0, b"1234"),
            ProtocolError::FrameSize,
        ),
    ];
    for (what, build, want) in cases {
        let mut c = Client::new();
        c.request(1, "POST", "/open", false);
        build(&mut c);
        c.request(11, "GET", "/after", true);
        let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
        let mut out = Vec::new();
        d.push(&c.bytes, &mut out);
        assert_eq!(
            d.stopped(),
            Some(StopReason::Protocol(want)),
            "{what}: {:?}",
            d.counters()
        );
        assert!(out.is_empty(), "{what}: nothing after the error is emitted");
        let k = d.counters();
        assert_eq!(k.get(Counter::StoppedProtocolError), 1, "{what}");
        assert!(k.check_conservation(0), "{what}: {k:?}");
        if what != "no SETTINGS first" {
            assert_eq!(
                k.get(Counter::DroppedConnectionStopped),
                1,
                "{what}: stream 1 dropped"
            );
        }
    }
}

#[test]
fn hpack_errors_stop_decoding() {
    // An index beyond both tables, a size update after a field, and one to 65 537 bytes
    // (the limit is 65 536).
    for (block, want) in [
        (vec![0xff, 0x00], StopReason::Hpack),
        (vec![0x82, 0x20], StopReason::Hpack),
        (
            vec![0x3f, 0xe2, 0xff, 0x03, 0x82],
            StopReason::TableSizeOverLimit,
        ),
    ] {
        let mut c = Client::new();
        c.frame(
            FrameType::Headers,
            FLAG_END_HEADERS | FLAG_END_STREAM,
            1,
            &block,
        );
        c.request(3, "GET", "/", true);
        let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
        let mut out = Vec::new();
        d.push(&c.bytes, &mut out);
        assert_eq!(d.stopped(), Some(want), "{block:x?}");
        assert!(out.is_empty());
    }
}

#[test]
fn bytes_after_finish_or_stop_are_skipped() {
    let mut c = Client::new();
    c.request(1, "GET", "/", true);
    let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
    let mut out = Vec::new();
    d.finish();
    d.push(&c.bytes, &mut out);
    assert!(out.is_empty());
    assert_eq!(
        d.counters().get(Counter::BytesSkipped),
        c.bytes.len() as u64
    );
}
