//! Lost bytes: inside a DATA payload the stream is dropped and the connection goes on;
//! inside a header block or a frame header the connection stops; inside other payloads of
//! known length nothing is lost.

mod support;

use shadowtap_h2::frame::FrameType;
use shadowtap_h2::{Counter, H2Decoder, H2Request, Limits, Start, StopReason};
use support::{Client, HeadersOpts};

/// Push `bytes` with `lost` (a range) reported as a gap instead of being pushed.
fn with_gap(bytes: &[u8], lost: std::ops::Range<usize>) -> (Vec<H2Request>, H2Decoder) {
    let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
    let mut out = Vec::new();
    d.push(&bytes[..lost.start], &mut out);
    d.gap(lost.len() as u64, &mut out);
    d.push(&bytes[lost.end..], &mut out);
    assert!(d.counters().check_conservation(d.open_streams() as u64));
    (out, d)
}

/// Offset of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

fn ids(reqs: &[H2Request]) -> Vec<u32> {
    reqs.iter().map(|r| r.stream_id).collect()
}

/// Two interleaved uploads; returns the bytes.
fn two_uploads() -> Vec<u8> {
    let mut c = Client::new();
    c.request(1, "POST", "/one", false);
    c.request(3, "POST", "/three", false);
    c.data(1, b"AAAAAAAAAA", false, None);
    c.data(3, b"BBBBBBBBBB", false, None);
    c.data(1, b"CCCCCCCCCC", true, Some(4));
    c.data(3, b"DDDDDDDDDD", true, None);
    c.request(5, "GET", "/after", true);
    c.bytes
}

#[test]
fn gap_inside_data_drops_that_stream_only() {
    let bytes = two_uploads();
    let at = find(&bytes, b"AAAA");
    // Every gap that stays inside the payload: the first byte, the middle, the last.
    for lost in [at..at + 1, at + 3..at + 7, at + 9..at + 10, at..at + 10] {
        let (out, d) = with_gap(&bytes, lost.clone());
        assert_eq!(ids(&out), vec![3, 5], "gap {lost:?}: {:?}", d.counters());
        assert_eq!(d.counters().get(Counter::DroppedGap), 1);
        assert!(d.is_decoding());
    }
}

#[test]
fn gap_past_the_end_of_a_data_payload_stops_the_connection() {
    let bytes = two_uploads();
    let at = find(&bytes, b"AAAA");
    let (out, d) = with_gap(&bytes, at + 5..at + 11);
    assert!(out.is_empty());
    assert_eq!(d.stopped(), Some(StopReason::GapInFraming));
    // Streams 1 (dropped by the gap) and 3 (open when the connection stopped).
    assert_eq!(d.counters().get(Counter::DroppedGap), 0);
    assert_eq!(d.counters().get(Counter::DroppedConnectionStopped), 2);
}

#[test]
fn gap_in_padding_loses_nothing() {
    let bytes = two_uploads();
    let at = find(&bytes, b"CCCC") + 10; // the 4 padding bytes
    let (out, d) = with_gap(&bytes, at..at + 4);
    assert_eq!(ids(&out), vec![1, 3, 5], "{:?}", d.counters());
    assert_eq!(out[0].body, &b"AAAAAAAAAACCCCCCCCCC"[..]);
    // The pad length byte itself: the split between data and padding is unknown.
    let (out, _) = with_gap(&bytes, at - 11..at - 10);
    assert_eq!(ids(&out), vec![3, 5]);
}

#[test]
fn gap_in_a_header_block_stops_the_connection() {
    let bytes = two_uploads();
    let at = find(&bytes, b"/three");
    let (out, d) = with_gap(&bytes, at..at + 2);
    assert!(out.is_empty());
    assert_eq!(d.stopped(), Some(StopReason::GapInHeaderBlock));
    assert_eq!(d.counters().get(Counter::StoppedGapInHeaderBlock), 1);
    assert_eq!(
        d.counters().get(Counter::DroppedConnectionStopped),
        1,
        "stream 1"
    );
}

#[test]
fn gap_between_header_and_continuation_stops_the_connection() {
    let mut c = Client::new();
    let v = "v".repeat(40);
    c.headers(
        1,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/"),
            ("x", &v),
        ],
        HeadersOpts {
            end_stream: true,
            fragment: Some(20),
            ..Default::default()
        },
    );
    // The first CONTINUATION's frame header starts 9 + 20 bytes after the HEADERS frame's.
    let headers_at = 24 + 9;
    let cont_at = headers_at + 9 + 20;
    let (out, d) = with_gap(&c.bytes, cont_at..cont_at + 3);
    assert!(out.is_empty());
    assert_eq!(d.stopped(), Some(StopReason::GapInHeaderBlock));
}

#[test]
fn gap_in_a_frame_header_stops_the_connection() {
    let bytes = two_uploads();
    let at = find(&bytes, b"BBBB") - 9; // stream 3's DATA frame header
    let (out, d) = with_gap(&bytes, at + 2..at + 4);
    assert!(out.is_empty());
    assert_eq!(d.stopped(), Some(StopReason::GapInFraming));
    // In the preface: the connection cannot be recognised at all.
    let (_, d) = with_gap(&bytes, 3..4);
    assert_eq!(d.stopped(), Some(StopReason::Midstream));
}

#[test]
fn gap_inside_payloads_of_known_length_loses_nothing() {
    let mut c = Client::new();
    c.request(1, "POST", "/kept", false);
    c.frame(FrameType::Ping, 0, 0, b"pingpong");
    c.frame(FrameType::Settings, 0, 0, &[0, 1, 0, 0, 0x10, 0]);
    c.frame(FrameType::GoAway, 0, 0, b"\0\0\0\0\0\0\0\0debug data");
    c.data(1, b"body", true, None);
    for what in [&b"pingpong"[..], &[0, 1, 0, 0, 0x10, 0], b"debug data"] {
        let at = find(&c.bytes, what);
        let (out, d) = with_gap(&c.bytes, at + 1..at + 4);
        assert_eq!(ids(&out), vec![1], "{what:?}: {:?}", d.counters());
        assert_eq!(out[0].body, &b"body"[..]);
    }
    // RST_STREAM's error code lost: the stream is reset all the same.
    let mut c = Client::new();
    c.request(1, "POST", "/reset", false);
    c.rst(1);
    c.request(3, "GET", "/next", true);
    let at = find(&c.bytes, &8u32.to_be_bytes());
    let (out, d) = with_gap(&c.bytes, at..at + 2);
    assert_eq!(ids(&out), vec![3]);
    assert_eq!(d.counters().get(Counter::DroppedReset), 1);
}

#[test]
fn gaps_are_counted_and_ignored_after_a_stop() {
    let bytes = two_uploads();
    let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
    let mut out = Vec::new();
    d.push(&bytes[..30], &mut out);
    d.gap(5, &mut out);
    d.gap(5, &mut out);
    d.gap(0, &mut out);
    assert_eq!(d.counters().get(Counter::Gaps), 1);
    assert_eq!(d.counters().get(Counter::BytesLost), 5);
}
