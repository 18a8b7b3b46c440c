//! The server→client direction ([`H2ResponseDecoder`]): responses with their own HPACK
//! table, interleaved streams, CONTINUATION, trailers, resets, GOAWAY, frames cut anywhere,
//! and losses that never attribute a response to the wrong stream.

use bytes::Bytes;
use proptest::prelude::*;
use shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_h2::frame::{FrameType, FLAG_END_STREAM};
use shadowtap_h2::{H2ResponseDecoder, Limits, ServerEvent, ServerStop, StreamLoss};

/// The server's side: its SETTINGS, then frames written with its own HPACK encoder.
fn server() -> ClientBytes {
    let mut s = ClientBytes::without_preface();
    s.frame(FrameType::Settings, 0, 0, &[0, 3, 0, 0, 0, 100]);
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

/// Events with each stream's consecutive DATA merged (how the bytes were cut must not
/// matter).
fn merged(events: Vec<ServerEvent>) -> Vec<ServerEvent> {
    let mut out: Vec<ServerEvent> = Vec::new();
    for e in events {
        if let ServerEvent::Data { stream_id, bytes } = &e {
            if let Some(ServerEvent::Data {
                stream_id: last,
                bytes: prev,
            }) = out.last_mut()
            {
                if last == stream_id {
                    let mut v = prev.to_vec();
                    v.extend_from_slice(bytes);
                    *prev = Bytes::from(v);
                    continue;
                }
            }
        }
        if matches!(&e, ServerEvent::Data { bytes, .. } if bytes.is_empty()) {
            continue;
        }
        out.push(e);
    }
    out
}

fn decode_cut(bytes: &[u8], cuts: &[usize]) -> Vec<ServerEvent> {
    let mut d = H2ResponseDecoder::new(Limits::default());
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts.into_iter().chain([bytes.len()]) {
        if c > at {
            d.push(&Bytes::copy_from_slice(&bytes[at..c]), &mut out);
            at = c;
        }
    }
    merged(out)
}

fn decode(bytes: &[u8]) -> Vec<ServerEvent> {
    decode_cut(bytes, &[])
}

fn headers(id: u32, status: Option<u16>, fields: &[(&str, &str)], end: bool) -> ServerEvent {
    ServerEvent::Headers {
        stream_id: id,
        status,
        fields: fields
            .iter()
            .map(|(n, v)| shadowtap_h2::Field::new(n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        end_stream: end,
    }
}

fn data(id: u32, b: &str) -> ServerEvent {
    ServerEvent::Data {
        stream_id: id,
        bytes: Bytes::copy_from_slice(b.as_bytes()),
    }
}

/// Two interleaved gRPC-shaped responses: heads, DATA in turns, trailers (one in
/// CONTINUATION frames), the dynamic table reused between them.
fn interleaved() -> Vec<u8> {
    let mut s = server();
    head(
        &mut s,
        1,
        &[(":status", "200"), ("content-type", "application/grpc")],
        false,
    );
    head(
        &mut s,
        3,
        &[(":status", "200"), ("content-type", "application/grpc")],
        false,
    );
    s.data(3, b"three-a", false, None);
    s.data(1, b"one", false, Some(4));
    s.noise(1);
    s.data(3, b"three-b", false, None);
    s.headers(
        3,
        &[("grpc-status", "5"), ("grpc-message", "not found")],
        HeadersOpts {
            end_stream: true,
            fragment: Some(3),
            ..HeadersOpts::default()
        },
    );
    head(&mut s, 1, &[("grpc-status", "0")], true);
    s.bytes
}

fn interleaved_events() -> Vec<ServerEvent> {
    let grpc = [("content-type", "application/grpc")];
    vec![
        headers(1, Some(200), &grpc, false),
        headers(3, Some(200), &grpc, false),
        data(3, "three-a"),
        data(1, "one"),
        data(3, "three-b"),
        headers(
            3,
            None,
            &[("grpc-status", "5"), ("grpc-message", "not found")],
            true,
        ),
        headers(1, None, &[("grpc-status", "0")], true),
    ]
}

#[test]
fn responses_of_interleaved_streams_with_trailers() {
    assert_eq!(decode(&interleaved()), interleaved_events());
}

#[test]
fn byte_at_a_time_is_one_push() {
    let bytes = interleaved();
    let cuts: Vec<usize> = (0..bytes.len()).collect();
    assert_eq!(decode_cut(&bytes, &cuts), interleaved_events());
}

#[test]
fn its_own_table_not_the_clients() {
    // The client's encoder fills its table with other fields; the server's blocks index
    // into the server's table only.
    let mut client = ClientBytes::new();
    client.request(1, "GET", "/a", true);
    let mut s = server();
    head(&mut s, 1, &[(":status", "200"), ("x-v", "one")], true);
    head(&mut s, 3, &[(":status", "200"), ("x-v", "one")], true);
    let mut d = H2ResponseDecoder::new(Limits::default());
    let mut out = Vec::new();
    d.push(&Bytes::from(s.bytes), &mut out);
    assert_eq!(
        out,
        vec![
            headers(1, Some(200), &[("x-v", "one")], true),
            headers(3, Some(200), &[("x-v", "one")], true),
        ]
    );
}

#[test]
fn interim_heads_end_stream_on_data_resets_and_goaway() {
    let mut s = server();
    head(&mut s, 1, &[(":status", "103"), ("link", "</a>")], false);
    head(&mut s, 1, &[(":status", "204")], false);
    s.data(1, b"", true, None);
    head(&mut s, 3, &[(":status", "200")], false);
    s.frame(FrameType::RstStream, 0, 3, &2u32.to_be_bytes());
    let mut goaway = 3u32.to_be_bytes().to_vec();
    goaway.extend_from_slice(&0u32.to_be_bytes());
    goaway.extend_from_slice(b"debug data");
    s.frame(FrameType::GoAway, 0, 0, &goaway);
    head(&mut s, 5, &[(":status", "500")], true);
    assert_eq!(
        decode(&s.bytes),
        vec![
            headers(1, Some(103), &[("link", "</a>")], false),
            headers(1, Some(204), &[], false),
            ServerEvent::EndStream { stream_id: 1 },
            headers(3, Some(200), &[], false),
            ServerEvent::Reset {
                stream_id: 3,
                error_code: 2
            },
            ServerEvent::GoAway {
                last_stream_id: 3,
                error_code: 0
            },
            headers(5, Some(500), &[], true),
        ]
    );
}

#[test]
fn a_push_promise_keeps_the_table_and_emits_nothing() {
    let mut s = server();
    let block = s.encode(&[
        (":method", "GET"),
        (":path", "/pushed"),
        ("x-pushed", "yes"),
    ]);
    let mut payload = 2u32.to_be_bytes().to_vec();
    payload.extend_from_slice(&block);
    s.frame(
        FrameType::PushPromise,
        shadowtap_h2::frame::FLAG_END_HEADERS,
        1,
        &payload,
    );
    // Indexes the pushed fields from the table the promise filled.
    head(&mut s, 1, &[(":status", "200"), ("x-pushed", "yes")], true);
    assert_eq!(
        decode(&s.bytes),
        vec![headers(1, Some(200), &[("x-pushed", "yes")], true)]
    );
}

#[test]
fn not_a_server_preface_stops() {
    assert_eq!(
        decode(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        vec![ServerEvent::Stopped(ServerStop::NoServerPreface)]
    );
    let mut s = ClientBytes::without_preface();
    head(&mut s, 1, &[(":status", "200")], true);
    assert_eq!(
        decode(&s.bytes),
        vec![ServerEvent::Stopped(ServerStop::NoServerPreface)]
    );
}

#[test]
fn malformed_heads_lose_their_stream_only() {
    let mut s = server();
    head(&mut s, 1, &[(":status", "20x")], true);
    head(&mut s, 3, &[("x", "trailers without end_stream")], false);
    head(&mut s, 5, &[(":status", "200"), (":path", "/")], true);
    head(&mut s, 7, &[(":status", "200")], true);
    let lost = |id| ServerEvent::StreamLost {
        stream_id: id,
        loss: StreamLoss::Malformed,
    };
    assert_eq!(
        decode(&s.bytes),
        vec![lost(1), lost(3), lost(5), headers(7, Some(200), &[], true)]
    );
}

/// Where in `bytes` each frame header starts, and its type.
fn frames(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + 9 <= bytes.len() {
        let len = usize::from(bytes[at]) << 16
            | usize::from(bytes[at + 1]) << 8
            | usize::from(bytes[at + 2]);
        v.push((at, bytes[at + 3], len));
        at += 9 + len;
    }
    v
}

fn with_loss(bytes: &[u8], from: usize, len: usize, elided: bool) -> Vec<ServerEvent> {
    let mut d = H2ResponseDecoder::new(Limits::default());
    let mut out = Vec::new();
    d.push(&Bytes::copy_from_slice(&bytes[..from]), &mut out);
    if elided {
        d.push_elided(len as u64, &mut out);
    } else {
        d.push_gap(Some(len as u64), &mut out);
    }
    d.push(&Bytes::copy_from_slice(&bytes[from + len..]), &mut out);
    merged(out)
}

#[test]
fn a_gap_in_data_loses_that_stream_and_elided_data_only_counts() {
    let mut s = server();
    head(&mut s, 1, &[(":status", "200")], false);
    head(&mut s, 3, &[(":status", "200")], false);
    s.data(1, b"0123456789", true, None);
    s.data(3, b"abc", true, None);
    let data1 = frames(&s.bytes)
        .into_iter()
        .find(|(_, t, _)| *t == 0)
        .expect("a DATA frame")
        .0;
    let lost = with_loss(&s.bytes, data1 + 9 + 2, 5, false);
    assert_eq!(
        lost,
        vec![
            headers(1, Some(200), &[], false),
            headers(3, Some(200), &[], false),
            data(1, "01"),
            ServerEvent::StreamLost {
                stream_id: 1,
                loss: StreamLoss::Gap
            },
            data(3, "abc"),
            ServerEvent::EndStream { stream_id: 3 },
        ]
    );
    let elided = with_loss(&s.bytes, data1 + 9 + 2, 5, true);
    assert_eq!(
        elided,
        vec![
            headers(1, Some(200), &[], false),
            headers(3, Some(200), &[], false),
            data(1, "01"),
            ServerEvent::DataElided {
                stream_id: 1,
                len: 5
            },
            data(1, "789"),
            ServerEvent::EndStream { stream_id: 1 },
            data(3, "abc"),
            ServerEvent::EndStream { stream_id: 3 },
        ]
    );
}

#[test]
fn a_loss_on_framing_or_a_header_block_stops() {
    let mut s = server();
    head(
        &mut s,
        1,
        &[(":status", "200"), ("x-long", "value value")],
        true,
    );
    head(&mut s, 3, &[(":status", "200")], true);
    let hdr = frames(&s.bytes)[1].0;
    for (from, len, elided, reason) in [
        (hdr + 3, 2, false, ServerStop::GapInFraming),
        (hdr + 10, 2, false, ServerStop::GapInHeaderBlock),
        (hdr + 3, 2, true, ServerStop::Elided),
        (hdr + 10, 2, true, ServerStop::Elided),
    ] {
        assert_eq!(
            with_loss(&s.bytes, from, len, elided),
            vec![ServerEvent::Stopped(reason)],
            "loss at {from}, elided {elided}"
        );
    }
    let mut d = H2ResponseDecoder::new(Limits::default());
    let mut out = Vec::new();
    d.push(&Bytes::copy_from_slice(&s.bytes[..9]), &mut out);
    d.push_gap(None, &mut out);
    d.push(&Bytes::copy_from_slice(&s.bytes[9..]), &mut out);
    assert_eq!(out, vec![ServerEvent::Stopped(ServerStop::GapInFraming)]);
    assert_eq!(d.stopped(), Some(ServerStop::GapInFraming));
}

#[test]
fn a_large_data_frame_elided_past_its_prefix() {
    // A 4 KiB copied prefix of a 20 KiB segment that holds one DATA frame: its length is
    // known, the rest is skipped, the next frame is read.
    let body = vec![b'x'; 20_000];
    let mut s = server();
    head(&mut s, 1, &[(":status", "200")], false);
    s.data(1, &body, true, None);
    head(&mut s, 3, &[(":status", "404")], true);
    let data1 = frames(&s.bytes)[2].0;
    let copied = data1 + 9 + 100;
    let ev = with_loss(&s.bytes, copied, 19_900, true);
    assert_eq!(ev[1], data(1, &"x".repeat(100)));
    assert_eq!(
        ev[2],
        ServerEvent::DataElided {
            stream_id: 1,
            len: 19_900
        }
    );
    assert_eq!(ev[3], ServerEvent::EndStream { stream_id: 1 });
    assert_eq!(ev[4], headers(3, Some(404), &[], true));
}

#[test]
fn connection_errors_stop() {
    // CONTINUATION for another stream inside a block; DATA on stream 0; bad padding.
    let mut s = server();
    s.frame(FrameType::Headers, 0, 1, &[0x88]);
    s.frame(FrameType::Continuation, 0x4, 3, &[]);
    assert_eq!(
        decode(&s.bytes),
        vec![ServerEvent::Stopped(ServerStop::Protocol)]
    );
    let mut s = server();
    s.frame(FrameType::Data, FLAG_END_STREAM, 0, b"x");
    assert_eq!(
        decode(&s.bytes),
        vec![ServerEvent::Stopped(ServerStop::Protocol)]
    );
    let mut s = server();
    s.frame(FrameType::Data, 0x8, 1, &[9, b'a']);
    assert_eq!(
        decode(&s.bytes),
        vec![ServerEvent::Stopped(ServerStop::Protocol)]
    );
    let mut s = server();
    s.frame(FrameType::Headers, 0x4, 1, &[0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        decode(&s.bytes),
        vec![ServerEvent::Stopped(ServerStop::Hpack)]
    );
}

/// Many interleaved responses with random bodies, trailers on some, resets on some.
fn session(bodies: &[(u8, bool, bool)]) -> (Vec<u8>, usize) {
    let mut s = server();
    let n = bodies.len();
    for (i, _) in bodies.iter().enumerate() {
        let id = 2 * i as u32 + 1;
        let status = format!("{}", 200 + i);
        head(
            &mut s,
            id,
            &[(":status", &status), ("x-id", &status)],
            false,
        );
    }
    for (i, (len, trailers, reset)) in bodies.iter().enumerate() {
        let id = 2 * i as u32 + 1;
        let body = vec![b'a' + i as u8; usize::from(*len)];
        if *reset {
            s.rst(id);
        } else if *trailers {
            s.data(id, &body, false, None);
            head(&mut s, id, &[("grpc-status", "0")], true);
        } else {
            s.data(id, &body, true, None);
        }
    }
    (s.bytes, n)
}

proptest! {
    #[test]
    fn any_cuts_are_one_push(
        bodies in proptest::collection::vec((0u8..200, any::<bool>(), any::<bool>()), 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let (bytes, _) = session(&bodies);
        prop_assert_eq!(decode_cut(&bytes, &cuts), decode(&bytes));
    }

    /// Whatever is lost (gap or not copied, anywhere), every head that is emitted is the
    /// one its stream had, and a stream that loses bytes never ends as if whole.
    #[test]
    fn losses_never_attribute_to_the_wrong_stream(
        bodies in proptest::collection::vec((0u8..200, any::<bool>(), any::<bool>()), 1..8),
        from in any::<usize>(),
        len in 1usize..64,
        elided in any::<bool>(),
    ) {
        let (bytes, _) = session(&bodies);
        let from = from % bytes.len();
        let len = len.min(bytes.len() - from);
        let whole = decode(&bytes);
        let lossy = with_loss(&bytes, from, len, elided);
        let mut lost_streams = Vec::new();
        for e in &lossy {
            match e {
                ServerEvent::Headers { .. } | ServerEvent::Reset { .. } => {
                    prop_assert!(whole.contains(e), "{:?} not in the lossless events", e);
                }
                ServerEvent::StreamLost { stream_id, .. } => lost_streams.push(*stream_id),
                ServerEvent::EndStream { stream_id } => {
                    prop_assert!(!lost_streams.contains(stream_id));
                    prop_assert!(whole.contains(e));
                }
                _ => {}
            }
        }
    }
}
