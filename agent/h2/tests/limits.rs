//! Every limit: an overflow drops the one stream (or, for the encoded block size and the
//! table size, stops the connection), is counted, and the other streams go on.

mod support;

use shadowtap_h2::frame::{FrameType, FLAG_END_HEADERS};
use shadowtap_h2::{Counter, H2Decoder, Limits, Start, StopReason};
use support::{one_shot, Client, HeadersOpts};

fn paths(reqs: &[shadowtap_h2::H2Request]) -> Vec<String> {
    reqs.iter()
        .map(|r| String::from_utf8_lossy(r.pseudo.path.as_deref().unwrap_or_default()).into())
        .collect()
}

fn head(path: &str, extra: &[(&'static str, String)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "a"),
        (":path", path),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    v.extend(extra.iter().map(|(n, v)| (n.to_string(), v.clone())));
    v
}

fn headers(c: &mut Client, id: u32, fields: &[(String, String)], o: HeadersOpts) {
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    c.headers(id, &refs, o);
}

#[test]
fn header_list_size_drops_the_stream_and_keeps_the_table() {
    let limits = Limits {
        max_header_list_bytes: 1000,
        ..Limits::default()
    };
    let mut c = Client::new();
    // Stream 1: a large field that the encoder indexes; stream 3 refers to it by index, so
    // it only decodes right if stream 1's block went into the table although dropped.
    let big = ("x-big", "b".repeat(1000));
    let small = ("x-small", "s".to_string());
    headers(
        &mut c,
        1,
        &head("/big", &[small.clone(), big.clone()]),
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    headers(
        &mut c,
        3,
        &head("/small", &[small]),
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    // Stream 5's list is exactly the limit: kept. Four pseudo-headers: (7+4+32) + (7+4+32)
    // + (10+1+32) + (5+3+32) = 169; x-pad brings it to 1000 with its name 5 + 32.
    let pad = ("x-pad", "p".repeat(1000 - 169 - 37));
    headers(
        &mut c,
        5,
        &head("/at", &[pad]),
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    // The trailers of stream 7 are over the limit: stream 7 dropped.
    headers(&mut c, 7, &head("/trailers", &[]), HeadersOpts::default());
    c.headers(
        7,
        &[("x-t", &"t".repeat(1000))],
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    headers(
        &mut c,
        9,
        &head("/big-again", &[big]),
        HeadersOpts {
            end_stream: true,
            ..Default::default()
        },
    );
    let (reqs, k) = one_shot(&c.bytes, Start::PriorKnowledge, limits);
    assert_eq!(paths(&reqs), vec!["/small", "/at"], "{k:?}");
    assert_eq!(
        reqs[0].headers,
        vec![shadowtap_h2::Field::new(&b"x-small"[..], &b"s"[..])]
    );
    assert_eq!(k.get(Counter::DroppedHeaderListTooLarge), 3);
}

#[test]
fn open_streams_limit_drops_the_newcomer() {
    let limits = Limits {
        max_open_streams: 2,
        ..Limits::default()
    };
    let mut c = Client::new();
    for id in [1, 3, 5] {
        c.request(id, "POST", &format!("/{id}"), false);
    }
    for id in [1, 3, 5] {
        c.data(id, b"x", true, None);
    }
    // With 1 and 3 done there is room again.
    c.request(7, "GET", "/7", true);
    let (reqs, k) = one_shot(&c.bytes, Start::PriorKnowledge, limits);
    assert_eq!(paths(&reqs), vec!["/1", "/3", "/7"]);
    assert_eq!(k.get(Counter::DroppedTooManyStreams), 1);
    assert_eq!(k.get(Counter::FramesOnClosedStream), 1, "stream 5's DATA");
}

#[test]
fn body_size_drops_the_stream_at_the_byte_it_passes() {
    let limits = Limits {
        max_body_bytes: 10,
        ..Limits::default()
    };
    let mut c = Client::new();
    c.request(1, "POST", "/exact", false);
    c.data(1, b"12345", false, None);
    c.data(1, b"67890", true, None);
    c.request(3, "POST", "/over", false);
    c.request(5, "POST", "/other", false);
    c.data(3, b"1234567890", false, None);
    c.data(5, b"ok", false, None);
    c.data(3, b"1", true, None);
    c.data(5, b"!", true, None);
    let (reqs, k) = one_shot(&c.bytes, Start::PriorKnowledge, limits);
    assert_eq!(paths(&reqs), vec!["/exact", "/other"]);
    assert_eq!(reqs[1].body, &b"ok!"[..]);
    assert_eq!(k.get(Counter::DroppedBodyTooLarge), 1);
}

#[test]
fn connection_budget_drops_the_stream_that_needs_the_room() {
    let limits = Limits {
        max_connection_bytes: 64 * 1024,
        ..Limits::default()
    };
    let mut c = Client::new();
    c.request(1, "POST", "/hog", false);
    c.request(3, "POST", "/small", false);
    let chunk = vec![7u8; 16 * 1024];
    for _ in 0..4 {
        c.data(1, &chunk, false, None);
    }
    c.data(3, b"fits", true, None);
    c.data(1, b"end", true, None);
    let mut d = H2Decoder::new(Start::PriorKnowledge, limits.clone());
    let mut out = Vec::new();
    let mut peak = 0;
    for piece in c.bytes.chunks(1000) {
        d.push(piece, &mut out);
        peak = peak.max(d.held_bytes());
    }
    assert!(peak <= limits.max_connection_bytes, "held {peak}");
    assert_eq!(paths(&out), vec!["/small"]);
    assert_eq!(d.counters().get(Counter::DroppedConnectionBudget), 1);
    // Once every stream is done only the small buffer frame headers are read into is kept.
    assert!(d.held_bytes() <= 4096, "held {}", d.held_bytes());
}

#[test]
fn encoded_header_block_size_stops_the_connection() {
    let limits = Limits {
        max_header_block_bytes: 100,
        ..Limits::default()
    };
    // One HEADERS frame announcing more than the block limit plus the largest padding and
    // priority stops at its frame header, before any of its payload is held.
    let mut c = Client::new();
    c.request(1, "POST", "/open", false);
    let header_only = shadowtap_h2::frame::FrameHeader {
        length: 100 + 262,
        kind: FrameType::Headers,
        flags: FLAG_END_HEADERS,
        stream_id: 3,
    };
    c.bytes.extend_from_slice(&header_only.encode());
    let mut d = H2Decoder::new(Start::PriorKnowledge, limits.clone());
    let mut out = Vec::new();
    d.push(&c.bytes, &mut out);
    assert_eq!(d.stopped(), Some(StopReason::HeaderBlockTooLarge));
    assert_eq!(d.counters().get(Counter::DroppedConnectionStopped), 1);
    // A block spread over CONTINUATION frames passes the limit on the frame that crosses it.
    let mut c = Client::new();
    let long = "l".repeat(200);
    c.headers(
        1,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/"),
            ("x", &long),
        ],
        HeadersOpts {
            end_stream: true,
            fragment: Some(60),
            ..Default::default()
        },
    );
    let mut d = H2Decoder::new(Start::PriorKnowledge, limits);
    d.push(&c.bytes, &mut out);
    assert_eq!(d.stopped(), Some(StopReason::HeaderBlockTooLarge));
    assert!(out.is_empty());
    assert_eq!(d.held_bytes(), 0, "a stopped connection holds nothing");
}

#[test]
fn declined_upgrade_bytes_are_bounded() {
    let limits = Limits {
        max_header_block_bytes: 64,
        ..Limits::default()
    };
    let mut d = H2Decoder::new(Start::AfterH2cUpgrade, limits);
    let mut out = Vec::new();
    for _ in 0..100 {
        d.push(&[b'G'; 50], &mut out);
    }
    assert_eq!(d.take_declined_bytes().len(), 64);
}
