//! Fuzzing entry points, shared by the cargo-fuzz targets in `fuzz/` and by the test suite
//! (which runs them over generated inputs on every `cargo test`).
//!
//! Nothing here panics on its own account: a panic is a finding — the framing or pairing
//! panicked, or one of the invariants checked here failed.
//!
//! [`pairing`] (pod→client bytes, untrusted, with requests, gaps and uncopied ranges
//! interleaved as the input says):
//! - every mirrored request gets at most one result, and exactly one once the connection
//!   ended; requests that were not mirrored get none;
//! - responses come in request order;
//! - each unseen result is counted in exactly one `unseen_*` counter;
//! - the bytes held stay within a head's worth;
//! - without gaps and uncopied ranges, the results do not depend on how the bytes are cut.
//!
//! [`comparator`] (pending pairs under random registrations, results, timeouts and a tiny
//! budget): every pair ends exactly once, conservation holds at every step, the held
//! bytes stay within the budget and return to 0.

use std::sync::Arc;
use std::time::Duration;

use shadowtap_wire::http1::{Method, ResponseLimits};

use crate::counters::{Counter, Counters, PAIR_OUTCOMES, UNSEEN_REASONS};
use crate::pairing::{Http1Pairing, PairingLimits, PrimaryEvent, PrimaryResult, RequestSeen};
use crate::pending::{Comparator, ComparatorConfig, MirrorResult, PairId};
use crate::spec::{CompareMode, CompareSpec};
use crate::summary::ResponseSummary;

/// A small deterministic generator driven by a fuzz input.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in data.iter().take(16) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const METHODS: [Method; 4] = [Method::Get, Method::Head, Method::Post, Method::Connect];

fn limits() -> PairingLimits {
    PairingLimits {
        response: ResponseLimits {
            max_head_bytes: 512,
            max_headers: 16,
            ..ResponseLimits::default()
        },
        max_queued: 8,
    }
}

/// One connection: the first byte picks the mode, the rest is the response stream,
/// with requests, cuts, gaps and uncopied ranges placed by a generator seeded from it.
pub fn pairing(data: &[u8]) {
    let Some((&sel, stream)) = data.split_first() else {
        return;
    };
    let mode = [CompareMode::Status, CompareMode::Headers, CompareMode::Body][usize::from(sel % 3)];
    let spec = Arc::new(CompareSpec::new(mode));
    let mut rng = Rng::new(data);
    let requests: Vec<(Method, bool)> = (0..1 + rng.below(10))
        .map(|_| (METHODS[rng.below(4)], rng.below(3) != 0))
        .collect();
    let hostile = sel & 0x80 != 0;

    let run = |pieces: &[std::ops::Range<usize>], rng: &mut Rng| {
        let mut p = Http1Pairing::new(limits());
        let mut out = Vec::new();
        let mut counters = Counters::default();
        let mut next_req = 0;
        let push_req =
            |p: &mut Http1Pairing, out: &mut Vec<PrimaryEvent>, c: &mut Counters, i: usize| {
                let (method, mirrored) = requests[i];
                p.push_request(
                    RequestSeen {
                        method,
                        mirrored: mirrored.then(|| (PairId(i as u64), spec.clone())),
                        end_ns: 0,
                    },
                    out,
                    c,
                );
            };
        for r in pieces {
            // Requests arrive before, between or after response bytes.
            while next_req < requests.len() && rng.below(2) == 0 {
                push_req(&mut p, &mut out, &mut counters, next_req);
                next_req += 1;
            }
            if hostile {
                match rng.below(16) {
                    0 => p.push_gap(1 + rng.below(100) as u64, &mut out, &mut counters),
                    1 => p.push_elided(1 + rng.below(100) as u64, &mut out, &mut counters),
                    2 => p.requests_lost(&mut out, &mut counters),
                    _ => {}
                }
            }
            p.push_bytes(&stream[r.clone()], 0, &mut out, &mut counters);
            assert!(
                p.held_bytes() < 4096 + 64 * requests.len(),
                "holds {} bytes",
                p.held_bytes()
            );
        }
        while next_req < requests.len() {
            push_req(&mut p, &mut out, &mut counters, next_req);
            next_req += 1;
        }
        p.end(rng.below(2) == 0 || !hostile, &mut out, &mut counters);
        check(&requests, &out, &counters);
        out
    };

    let whole_piece = std::iter::once(0..stream.len()).collect::<Vec<_>>();
    let whole = run(&whole_piece, &mut Rng::new(data));
    let mut cuts = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let n = 1 + rng.below(64);
        cuts.push(at..(at + n).min(stream.len()));
        at += n;
    }
    let pieces = run(&cuts, &mut Rng::new(data));
    if !hostile {
        // Requests may come at different points relative to the bytes; the results may
        // only differ when a response arrived with no request queued and overflowed —
        // which the limits make impossible below a head's worth. Compare the responses.
        let responses = |v: &[PrimaryEvent]| {
            v.iter()
                .filter_map(|e| match &e.result {
                    PrimaryResult::Response(s) => Some((e.pair, s.clone())),
                    PrimaryResult::Unseen(_) => None,
                })
                .collect::<Vec<_>>()
        };
        let (w, p) = (responses(&whole), responses(&pieces));
        let n = w.len().min(p.len());
        assert_eq!(w[..n], p[..n], "cuts changed the responses");
    }
}

fn check(requests: &[(Method, bool)], out: &[PrimaryEvent], counters: &Counters) {
    let mut seen = vec![false; requests.len()];
    let mut last_response = None;
    let mut unseen = 0;
    for e in out {
        let i = usize::try_from(e.pair.0).unwrap_or(usize::MAX);
        assert!(
            i < requests.len() && requests[i].1,
            "result for pair {i} not mirrored"
        );
        assert!(!seen[i], "two results for pair {i}");
        seen[i] = true;
        match e.result {
            PrimaryResult::Response(_) => {
                assert!(last_response < Some(i), "responses out of order at {i}");
                last_response = Some(i);
            }
            PrimaryResult::Unseen(_) => unseen += 1,
        }
    }
    for (i, (_, mirrored)) in requests.iter().enumerate() {
        assert_eq!(seen[i], *mirrored, "pair {i} result after the end");
    }
    assert_eq!(counters.sum(UNSEEN_REASONS), unseen, "unseen counters");
}

/// Pending pairs under random operations, with a budget of a few pairs.
pub fn comparator(data: &[u8]) {
    let mut rng = Rng::new(data);
    let spec = Arc::new(CompareSpec::new(CompareMode::Headers));
    let mut cmp: Comparator<u8> = Comparator::new(ComparatorConfig {
        budget_bytes: 2048,
        pair_timeout: Duration::from_nanos(1000),
        log_capacity: 4,
        ..ComparatorConfig::default()
    });
    let mut done = Vec::new();
    let mut ids: Vec<PairId> = Vec::new();
    let mut now = 0u64;
    for &b in data {
        now += u64::from(b % 7) * 100;
        let pick = |rng: &mut Rng, ids: &[PairId]| {
            if ids.is_empty() || rng.below(8) == 0 {
                PairId(rng.next() % 64)
            } else {
                ids[rng.below(ids.len())]
            }
        };
        match b % 5 {
            0 => ids.push(cmp.register(
                b,
                spec.clone(),
                Method::Get,
                &data[..usize::from(b) % (data.len() + 1)],
                now,
                &mut done,
            )),
            1 => {
                let id = pick(&mut rng, &ids);
                let mut s = ResponseSummary::new(100 + u16::from(b));
                s.observe_header(&spec, b"x-a", &data[..rng.below(data.len() + 1)]);
                cmp.primary(
                    PrimaryEvent {
                        pair: id,
                        result: PrimaryResult::Response(s),
                    },
                    &mut done,
                );
            }
            2 => {
                let id = pick(&mut rng, &ids);
                let r = if rng.below(3) == 0 {
                    MirrorResult::Failed
                } else {
                    MirrorResult::Response(ResponseSummary::new(100 + u16::from(b >> 1)))
                };
                cmp.mirror(id, r, &mut done);
            }
            3 => cmp.expire(now, &mut done),
            _ => {
                let id = pick(&mut rng, &ids);
                cmp.primary(
                    PrimaryEvent {
                        pair: id,
                        result: PrimaryResult::Unseen(crate::UnseenReason::Gap),
                    },
                    &mut done,
                );
            }
        }
        let k = cmp.counters();
        assert_eq!(
            k.get(Counter::PairsMirrored),
            k.sum(PAIR_OUTCOMES) + cmp.pending() as u64,
            "conservation"
        );
        assert!(cmp.held_bytes() <= 2048, "held {}", cmp.held_bytes());
        assert!(cmp.log().len() <= 4);
    }
    cmp.expire(u64::MAX, &mut done);
    assert_eq!(cmp.pending(), 0);
    assert_eq!(cmp.held_bytes(), 0);
    let mut ended: Vec<PairId> = done.iter().map(|f| f.pair).collect();
    ended.sort_unstable();
    let n = ended.len();
    ended.dedup();
    assert_eq!(ended.len(), n, "a pair ended twice");
    assert_eq!(n, ids.len(), "every pair ends once");
}
