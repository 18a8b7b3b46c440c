//! Property tests: random valid requests, cut into random segments, reordered, duplicated and
//! overlapped, come out exactly; with segments lost, whatever comes out is an original
//! request, byte for byte, never a splice.
#![allow(clippy::unwrap_used)]

mod support;

use proptest::prelude::*;
use shadowtap_reconstruct::{Counter, Request};
use support::*;

#[derive(Clone, Debug)]
enum BodySpec {
    None,
    Length(Vec<u8>),
    Chunked(Vec<Vec<u8>>, bool, bool),
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,12}".prop_filter("framing headers", |n| {
        let l = n.to_ascii_lowercase();
        l != "content-length" && l != "transfer-encoding" && l != "upgrade"
    })
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec![
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH",
    ]);
    let target = prop_oneof![
        "/[a-z0-9/._~-]{0,30}(\\?[a-z0-9=&]{1,20})?",
        "http://[a-z]{1,10}\\.example/[a-z0-9]{0,10}",
    ];
    let headers = prop::collection::vec((token(), "[ -~]{0,40}"), 0..8);
    let body = prop_oneof![
        Just(BodySpec::None),
        prop::collection::vec(any::<u8>(), 0..400).prop_map(BodySpec::Length),
        (
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..200), 0..5),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(c, e, t)| BodySpec::Chunked(c, e, t)),
    ];
    (method, target, any::<bool>(), headers, body).prop_map(|(m, t, http10, headers, body)| {
        let http10 = http10 && !matches!(body, BodySpec::Chunked(..));
        let mut out = format!("{m} {t} HTTP/1.{}\r\n", if http10 { 0 } else { 1 }).into_bytes();
        if http10 {
            // The streams are keep-alive connections of many requests.
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        for (n, v) in headers {
            out.extend_from_slice(format!("{n}: {}\r\n", v.trim()).as_bytes());
        }
        match body {
            BodySpec::None => out.extend_from_slice(b"\r\n"),
            BodySpec::Length(b) => {
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", b.len()).as_bytes());
                out.extend_from_slice(&b);
            }
            BodySpec::Chunked(chunks, ext, trailer) => {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for c in chunks {
                    out.extend_from_slice(format!("{:x}", c.len()).as_bytes());
                    if ext {
                        out.extend_from_slice(b";name=\"v\"");
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n");
                if trailer {
                    out.extend_from_slice(b"X-Checksum: abc\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    })
}

/// Segments `(offset, len)` covering the stream, cut at random points.
fn cuts(len: usize, points: &[usize]) -> Vec<(usize, usize)> {
    let mut p: Vec<usize> = points.iter().map(|x| x % (len + 1)).collect();
    p.push(0);
    p.push(len);
    p.sort_unstable();
    p.dedup();
    p.windows(2).map(|w| (w[0], w[1] - w[0])).collect()
}

/// Apply a random permutation drawn from `keys` (stable sort by key).
fn shuffle<T>(v: &mut Vec<T>, keys: &[u32]) {
    let mut tagged: Vec<(u32, T)> = v
        .drain(..)
        .enumerate()
        .map(|(i, x)| (keys.get(i).copied().unwrap_or(0), x))
        .collect();
    tagged.sort_by_key(|(k, _)| *k);
    v.extend(tagged.into_iter().map(|(_, x)| x));
}

fn is_subsequence(got: &[Vec<u8>], of: &[Vec<u8>]) -> bool {
    let mut it = of.iter();
    got.iter().all(|g| it.any(|o| o == g))
}

/// Every request `stream` yields, and every counter, with the stream delivered in order in
/// segments of the given lengths (all at the same capture time).
fn decode_in(
    stream: &[u8],
    lens: impl IntoIterator<Item = usize>,
) -> (Vec<Request>, Vec<(Counter, u64)>) {
    let f = flow(1);
    let mut h = Harness::new();
    h.push(syn(f, ISN, 1));
    let mut off = 0;
    for len in lens {
        let end = (off + len).min(stream.len());
        if end > off {
            h.push(data(
                f,
                ISN.wrapping_add(1 + off as u32),
                2,
                &stream[off..end],
            ));
        }
        off = end;
    }
    h.flush();
    // How many segments carried the bytes is the one count that differs.
    let counters =
        h.r.counters()
            .iter()
            .filter(|(c, _)| *c != Counter::SegmentsSeen)
            .collect();
    (h.out, counters)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Heads parsed in place in the segment that holds them (each request alone in its own
    /// segment, or all of them in one) come out exactly as heads assembled byte by byte
    /// (every byte its own segment, so every head spans segments): the same bytes, head
    /// layout, framing, and the same counters.
    #[test]
    fn heads_in_place_and_split_at_every_byte_decode_the_same(
        reqs in prop::collection::vec(request(), 1..6),
    ) {
        let stream = reqs.concat();
        let byte_by_byte = decode_in(&stream, std::iter::repeat_n(1, stream.len()));
        let one_each = decode_in(&stream, reqs.iter().map(Vec::len));
        let all_in_one = decode_in(&stream, [stream.len()]);
        prop_assert_eq!(byte_by_byte.0.len(), reqs.len());
        for (r, want) in byte_by_byte.0.iter().zip(&reqs) {
            prop_assert_eq!(&r.raw()[..], &want[..]);
        }
        prop_assert_eq!(&one_each, &byte_by_byte);
        prop_assert_eq!(&all_in_one, &byte_by_byte);
    }

    #[test]
    fn reordered_duplicated_overlapping_segments_give_back_every_request(
        reqs in prop::collection::vec(request(), 1..8),
        points in prop::collection::vec(any::<usize>(), 0..40),
        keys in prop::collection::vec(0u32..8, 0..60),
        extra in prop::collection::vec((any::<usize>(), 1usize..300), 0..10),
        isn in any::<u32>(),
    ) {
        let stream = reqs.concat();
        let mut segs = cuts(stream.len(), &points);
        for (o, l) in extra {
            let o = o % stream.len();
            segs.push((o, l.min(stream.len() - o)));
        }
        shuffle(&mut segs, &keys);
        let f = flow(1);
        let mut h = Harness::new();
        h.push(syn(f, isn, 1));
        for (i, (o, l)) in segs.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(*o as u32);
            h.push(data(f, seq, 2 + i as u64, &stream[*o..o + l]));
        }
        h.flush();
        prop_assert_eq!(h.raws(), reqs);
        prop_assert_eq!(h.c(Counter::Gaps), 0);
        prop_assert_eq!(h.c(Counter::OverlapConflicts), 0);
    }

    #[test]
    fn with_segments_lost_only_original_requests_come_out(
        reqs in prop::collection::vec(request(), 1..10),
        points in prop::collection::vec(any::<usize>(), 0..40),
        keys in prop::collection::vec(0u32..4, 0..60),
        lost in prop::collection::vec(0u8..6, 0..60),
        isn in any::<u32>(),
        midstream in any::<bool>(),
        aligned in any::<bool>(),
    ) {
        let stream = reqs.concat();
        let mut points = points;
        if aligned {
            // Clients usually write each request in its own segment(s).
            let mut at = 0;
            for r in &reqs {
                points.push(at);
                at += r.len();
            }
        }
        let mut segs: Vec<(usize, usize)> = cuts(stream.len(), &points)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| lost.get(*i).copied().unwrap_or(1) != 0)
            .map(|(_, s)| s)
            .collect();
        shuffle(&mut segs, &keys);
        let f = flow(1);
        let mut h = Harness::new();
        if !midstream {
            h.push(syn(f, isn, 1));
        }
        for (i, (o, l)) in segs.iter().enumerate() {
            let seq = isn.wrapping_add(1).wrapping_add(*o as u32);
            h.push(data(f, seq, 2 + i as u64, &stream[*o..o + l]));
        }
        h.flush();
        let got = h.raws();
        prop_assert!(is_subsequence(&got, &reqs), "spliced or reordered output");
        for r in &h.out {
            prop_assert!(reqs.iter().any(|o| o.as_slice() == r.raw().as_ref()));
        }
    }

    #[test]
    fn interleaved_flows_are_independent(
        a in prop::collection::vec(request(), 1..5),
        b in prop::collection::vec(request(), 1..5),
        mss in 1usize..200,
    ) {
        let (sa, sb) = (a.concat(), b.concat());
        let (fa, fb) = (flow(1), flow(2));
        let mut h = Harness::new();
        h.push(syn(fa, 10, 1));
        h.push(syn(fb, 20, 1));
        let ca: Vec<_> = sa.chunks(mss).collect();
        let cb: Vec<_> = sb.chunks(mss).collect();
        let (mut oa, mut ob) = (0u32, 0u32);
        for i in 0..ca.len().max(cb.len()) {
            if let Some(c) = ca.get(i) {
                h.push(data(fa, 11 + oa, 2, c));
                oa += c.len() as u32;
            }
            if let Some(c) = cb.get(i) {
                h.push(data(fb, 21 + ob, 2, c));
                ob += c.len() as u32;
            }
        }
        h.flush();
        let got_a: Vec<Vec<u8>> = h.out.iter().filter(|r| *r.flow() == fa).map(|r| r.raw().to_vec()).collect();
        let got_b: Vec<Vec<u8>> = h.out.iter().filter(|r| *r.flow() == fb).map(|r| r.raw().to_vec()).collect();
        prop_assert_eq!(got_a, a);
        prop_assert_eq!(got_b, b);
    }
}
