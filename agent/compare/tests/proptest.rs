//! Properties of the framing and pairing over generated response sequences: cutting the
//! stream anywhere gives the same results; a truncation or a gap anywhere leaves every
//! response before it paired correctly and none after it; pending pairs conserve.

mod support;

use proptest::prelude::*;
use shadowtap_compare::{
    digest::first_difference, BodyDigest, BodyHasher, CompareMode, PrimaryEvent, PrimaryResult,
    UnseenReason,
};
use shadowtap_wire::http1::Method;
use support::{got, summary, Conn};

/// One generated request/response exchange.
#[derive(Clone, Debug)]
struct Exchange {
    method: Method,
    mirrored: bool,
    status: u16,
    framing: u8,
    interim: bool,
    body: Vec<u8>,
}

impl Exchange {
    fn bodiless(&self) -> bool {
        self.method == Method::Head || self.status == 204 || self.status == 304
    }

    /// The response bytes, and the body length a summary must report.
    fn bytes(&self) -> (Vec<u8>, u64) {
        let mut s = Vec::new();
        if self.interim {
            s.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        s.extend_from_slice(
            format!("HTTP/1.1 {} X\r\nContent-Type: a/b\r\n", self.status).as_bytes(),
        );
        let body: &[u8] = if self.bodiless() { b"" } else { &self.body };
        match self.framing % 2 {
            0 => {
                s.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes(),
                );
                s.extend_from_slice(body);
            }
            _ => {
                s.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                if !self.bodiless() {
                    let size = 1 + usize::from(self.framing / 2) % 7;
                    for c in self.body.chunks(size) {
                        s.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
                        s.extend_from_slice(c);
                        s.extend_from_slice(b"\r\n");
                    }
                    s.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
                }
            }
        }
        (s, body.len() as u64)
    }
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        prop::sample::select(vec![
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Delete,
        ]),
        any::<bool>(),
        prop::sample::select(vec![200u16, 201, 204, 301, 304, 404, 500, 503]),
        any::<u8>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(method, mirrored, status, framing, interim, body)| Exchange {
                method,
                mirrored,
                status,
                framing,
                interim,
                body,
            },
        )
}

/// The stream, the offset where each response ends, and the expected results.
fn build(ex: &[Exchange]) -> (Vec<u8>, Vec<usize>, Vec<support::Got>) {
    let mut stream = Vec::new();
    let mut ends = Vec::new();
    let mut want = Vec::new();
    for (i, e) in ex.iter().enumerate() {
        let (b, len) = e.bytes();
        stream.extend_from_slice(&b);
        ends.push(stream.len());
        if e.mirrored {
            want.push((i as u64, Ok((e.status, len))));
        }
    }
    (stream, ends, want)
}

fn conn(ex: &[Exchange]) -> Conn {
    let mut c = Conn::new(CompareMode::Body);
    for (i, e) in ex.iter().enumerate() {
        c.req(e.method, e.mirrored.then_some(i as u64));
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_cuts_give_the_same_results(
        ex in prop::collection::vec(exchange(), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (stream, _, want) = build(&ex);
        let mut whole = conn(&ex);
        whole.bytes(&stream);
        prop_assert_eq!(whole.got(), want.clone());
        let cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        let mut cut = conn(&ex);
        cut.bytes_cut(&stream, &cuts);
        prop_assert_eq!(&cut.out, &whole.out);
        // Bodies hash as the generator wrote them.
        for e in &whole.out {
            let x = &ex[e.pair.0 as usize];
            let body: &[u8] = if x.bodiless() { b"" } else { &x.body };
            prop_assert_eq!(&summary(e).body, &BodyDigest::of(body));
        }
    }

    #[test]
    fn requests_interleaved_with_bytes_pair_alike(
        ex in prop::collection::vec(exchange(), 1..8),
        at in prop::collection::vec(any::<prop::sample::Index>(), 8),
    ) {
        // Each request is pushed at a random point of the stream, never after its own
        // response has fully arrived later than a head's worth (the decoder's lag).
        let (stream, ends, want) = build(&ex);
        let mut c = Conn::new(CompareMode::Body);
        let mut fed = 0;
        for (i, e) in ex.iter().enumerate() {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            let upto = at[i].index(start.max(fed) + 1).max(fed);
            c.bytes(&stream[fed..upto]);
            fed = upto;
            c.req(e.method, e.mirrored.then_some(i as u64));
        }
        c.bytes(&stream[fed..]);
        prop_assert_eq!(c.got(), want);
    }

    #[test]
    fn truncation_anywhere_never_mis_pairs(
        ex in prop::collection::vec(exchange(), 1..8),
        cut in any::<prop::sample::Index>(),
        graceful in any::<bool>(),
    ) {
        let (stream, ends, _) = build(&ex);
        let cut = cut.index(stream.len() + 1);
        let mut c = conn(&ex);
        c.bytes(&stream[..cut]);
        c.end(graceful);
        let mut expect = Vec::new();
        for (i, e) in ex.iter().enumerate() {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            let r = if ends[i] <= cut {
                let (_, len) = e.bytes();
                Ok((e.status, len))
            } else if start < cut {
                Err(UnseenReason::Truncated)
            } else {
                Err(UnseenReason::NoResponse)
            };
            if e.mirrored {
                expect.push((i as u64, r));
            }
        }
        prop_assert_eq!(c.got(), expect);
    }

    #[test]
    fn a_gap_anywhere_never_mis_pairs(
        ex in prop::collection::vec(exchange(), 1..8),
        at in any::<prop::sample::Index>(),
        len in 1usize..50,
    ) {
        let (stream, ends, _) = build(&ex);
        let at = at.index(stream.len() + 1);
        let end = (at + len).min(stream.len());
        let mut c = conn(&ex);
        c.bytes(&stream[..at]);
        c.gap((end - at) as u64);
        c.bytes(&stream[end..]);
        let mut expect = Vec::new();
        for (i, e) in ex.iter().enumerate() {
            let r = if ends[i] <= at {
                let (_, len) = e.bytes();
                Ok((e.status, len))
            } else {
                Err(UnseenReason::Gap)
            };
            if e.mirrored {
                expect.push((i as u64, r));
            }
        }
        // Results come in order of the events: responses first, then the gap's verdicts.
        let mut got = c.got();
        got.sort_by_key(|(id, _)| *id);
        prop_assert_eq!(got, expect);
    }

    #[test]
    fn pending_pairs_conserve(data in prop::collection::vec(any::<u8>(), 0..400)) {
        shadowtap_compare::fuzzing::comparator(&data);
    }
}

/// The first offset where `a` and `b` differ (one ending counts), `None` when equal.
fn true_first_difference(a: &[u8], b: &[u8]) -> Option<u64> {
    let n = a.len().min(b.len());
    (0..n)
        .find(|&i| a[i] != b[i])
        .or((a.len() != b.len()).then_some(n))
        .map(|i| i as u64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn body_offsets_bracket_the_first_difference(
        len in 0usize..200_000,
        seed in any::<u8>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        resize in -70_000i64..70_000,
        piece in 1usize..20_000,
    ) {
        let a: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let mut b = a.clone();
        for (at, v) in &edits {
            if !b.is_empty() {
                let i = at.index(b.len());
                b[i] = *v;
            }
        }
        let new_len = (b.len() as i64 + resize).max(0) as usize;
        b.resize(new_len, seed.wrapping_add(1));
        // The mirror's body fed in pieces, the primary's whole.
        let mut h = BodyHasher::new();
        for c in b.chunks(piece) {
            h.update(c);
        }
        let (da, db) = (BodyDigest::of(&a), h.finish());
        let got = first_difference(&da, &db);
        match true_first_difference(&a, &b) {
            None => prop_assert_eq!(got, None),
            Some(x) => {
                let off = got.expect("bodies differ");
                prop_assert!(off.from <= x && x < off.to, "{:?} does not hold {}", off, x);
                prop_assert_eq!(first_difference(&db, &da), Some(off), "symmetric");
            }
        }
    }
}

#[test]
fn unseen_results_carry_no_summary() {
    let ex = Exchange {
        method: Method::Get,
        mirrored: true,
        status: 200,
        framing: 0,
        interim: false,
        body: b"abc".to_vec(),
    };
    let (stream, _, _) = build(std::slice::from_ref(&ex));
    let mut c = conn(std::slice::from_ref(&ex));
    c.bytes(&stream[..stream.len() - 1]);
    c.end(true);
    assert!(matches!(
        c.out.as_slice(),
        [PrimaryEvent {
            result: PrimaryResult::Unseen(UnseenReason::Truncated),
            ..
        }]
    ));
    assert_eq!(got(&c.out).len(), 1);
}
