//! Property tests: a generated conversation (interleaved streams, CONTINUATION, padding,
//! priority, trailers, resets, ignored frames) decodes the same whatever the cuts between
//! pushes, and losses never produce a spliced request.

mod support;

use proptest::prelude::*;
use shadowtap_h2::{H2Decoder, H2Request, Limits, Start};
use support::{one_shot, split, Client, HeadersOpts};

/// One stream of a generated conversation.
#[derive(Clone, Debug)]
struct Plan {
    path: String,
    extra: Vec<(String, String)>,
    body: Vec<Vec<u8>>,
    trailers: bool,
    reset: bool,
    pad: Option<u8>,
    fragment: Option<usize>,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        "/[a-z0-9]{0,12}",
        prop::collection::vec(("x-[a-z]{1,6}", "[ -~]{0,20}"), 0..4),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        any::<bool>(),
        prop::bool::weighted(0.15),
        prop::option::of(0u8..20),
        prop::option::of(1usize..16),
    )
        .prop_map(|(path, extra, body, trailers, reset, pad, fragment)| Plan {
            path,
            // Values with edge whitespace are malformed; keep generated ones valid.
            extra: extra
                .into_iter()
                .map(|(n, v)| (n, v.trim().to_string()))
                .collect(),
            body,
            trailers,
            reset,
            pad,
            fragment,
        })
}

/// Write the streams interleaved by `order` (indices into the streams' pending frames).
fn conversation(plans: &[Plan], order: &[usize]) -> Vec<u8> {
    let mut c = Client::new();
    // Each stream's frames: head, DATA..., then trailers or END_STREAM (or a reset).
    let mut steps: Vec<Vec<Step>> = plans.iter().map(steps_of).collect();
    let ids: Vec<u32> = (0..plans.len()).map(|i| 2 * i as u32 + 1).collect();
    let mut started = vec![false; plans.len()];
    let mut next_to_start = 0;
    let mut pick = order.iter().cycle();
    while steps.iter().any(|s| !s.is_empty()) {
        // Streams open in id order; an open stream's frames interleave with the others'.
        let live: Vec<usize> = (0..plans.len())
            .filter(|&i| !steps[i].is_empty() && (started[i] || i == next_to_start))
            .collect();
        let i = live[pick.next().copied().unwrap_or(0) % live.len()];
        if !started[i] {
            started[i] = true;
            next_to_start += 1;
        }
        let step = steps[i].remove(0);
        write(&mut c, ids[i], &plans[i], step);
        if i.is_multiple_of(3) && steps[i].len() == 1 {
            c.noise(ids[i]);
        }
    }
    c.bytes
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Head { end: bool },
    Data { index: usize, end: bool },
    Trailers,
    Reset,
}

fn steps_of(p: &Plan) -> Vec<Step> {
    let mut s = vec![Step::Head {
        end: p.body.is_empty() && !p.trailers && !p.reset,
    }];
    for i in 0..p.body.len() {
        let last = i + 1 == p.body.len();
        s.push(Step::Data {
            index: i,
            end: last && !p.trailers && !p.reset,
        });
    }
    if p.reset {
        s.push(Step::Reset);
    } else if p.trailers {
        s.push(Step::Trailers);
    }
    s
}

fn write(c: &mut Client, id: u32, p: &Plan, step: Step) {
    match step {
        Step::Head { end } => {
            let mut fields: Vec<(&str, &str)> = vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", "svc.example"),
                (":path", p.path.as_str()),
            ];
            if p.path.len() == 1 {
                fields[3].1 = "/";
            }
            fields.extend(p.extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            c.headers(
                id,
                &fields,
                HeadersOpts {
                    end_stream: end,
                    pad: p.pad,
                    priority: id % 4 == 1,
                    fragment: p.fragment,
                },
            );
        }
        Step::Data { index, end } => c.data(id, &p.body[index], end, p.pad),
        Step::Trailers => c.headers(
            id,
            &[("grpc-status", "0"), ("x-sum", &p.body.len().to_string())],
            HeadersOpts {
                end_stream: true,
                fragment: p.fragment,
                ..HeadersOpts::default()
            },
        ),
        Step::Reset => c.rst(id),
    }
}

fn expected(plans: &[Plan]) -> Vec<(u32, Vec<u8>, bool)> {
    let mut v: Vec<(u32, Vec<u8>, bool)> = plans
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.reset)
        .map(|(i, p)| (2 * i as u32 + 1, p.body.concat(), p.trailers))
        .collect();
    v.sort();
    v
}

fn summary(reqs: &[H2Request]) -> Vec<(u32, Vec<u8>, bool)> {
    let mut v: Vec<(u32, Vec<u8>, bool)> = reqs
        .iter()
        .map(|r| (r.stream_id, r.body.to_vec(), !r.trailers.is_empty()))
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The one-shot result is the intended requests, and any cuts give the same result.
    #[test]
    fn cuts_anywhere_give_the_one_shot_result(
        plans in prop::collection::vec(plan(), 1..6),
        order in prop::collection::vec(0usize..8, 1..16),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes = conversation(&plans, &order);
        let (whole, k) = one_shot(&bytes, Start::PriorKnowledge, Limits::default());
        prop_assert_eq!(summary(&whole), expected(&plans), "{:?}", k);
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let (pieces, k2) = split(&bytes, &at, Start::PriorKnowledge, Limits::default());
        prop_assert_eq!(&pieces, &whole);
        prop_assert_eq!(k2.get(shadowtap_h2::Counter::RequestsEmitted), k.get(shadowtap_h2::Counter::RequestsEmitted));
    }

    /// A lost range never yields a request that differs from the one the client sent:
    /// every emitted request is one of the one-shot requests, byte for byte.
    #[test]
    fn losses_never_splice(
        plans in prop::collection::vec(plan(), 1..6),
        order in prop::collection::vec(0usize..8, 1..16),
        start in any::<prop::sample::Index>(),
        len in 1usize..40,
    ) {
        let bytes = conversation(&plans, &order);
        let (whole, _) = one_shot(&bytes, Start::PriorKnowledge, Limits::default());
        let s = start.index(bytes.len());
        let e = (s + len).min(bytes.len());
        let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
        let mut out = Vec::new();
        d.push(&bytes[..s], &mut out);
        d.gap((e - s) as u64, &mut out);
        d.push(&bytes[e..], &mut out);
        prop_assert!(d.counters().check_conservation(d.open_streams() as u64));
        for r in &out {
            prop_assert!(whole.contains(r), "spliced or invented: {:?}", r);
        }
        prop_assert!(out.len() <= whole.len());
    }
}

/// The deterministic form of the split property on one rich conversation: every single
/// cut point, and one byte per push.
#[test]
fn every_single_cut_and_byte_by_byte() {
    let plans = vec![
        Plan {
            path: "/a".into(),
            extra: vec![("x-k".into(), "v".into())],
            body: vec![b"hello".to_vec(), b"world".to_vec()],
            trailers: true,
            reset: false,
            pad: Some(3),
            fragment: Some(5),
        },
        Plan {
            path: "/b".into(),
            extra: vec![],
            body: vec![],
            trailers: false,
            reset: false,
            pad: None,
            fragment: None,
        },
        Plan {
            path: "/c".into(),
            extra: vec![],
            body: vec![vec![0; 30]],
            trailers: false,
            reset: true,
            pad: None,
            fragment: Some(2),
        },
        Plan {
            path: "/d".into(),
            extra: vec![("x-z".into(), "zz".into())],
            body: vec![b"1".to_vec(), b"".to_vec(), b"2".to_vec()],
            trailers: false,
            reset: false,
            pad: Some(0),
            fragment: None,
        },
    ];
    let bytes = conversation(&plans, &[0, 1, 3, 2, 0, 3]);
    let (whole, _) = one_shot(&bytes, Start::PriorKnowledge, Limits::default());
    assert_eq!(summary(&whole), expected(&plans));
    for cut in 0..=bytes.len() {
        let (pieces, _) = split(&bytes, &[cut], Start::PriorKnowledge, Limits::default());
        assert_eq!(pieces, whole, "cut at {cut}");
    }
    let every: Vec<usize> = (1..bytes.len()).collect();
    let (pieces, _) = split(&bytes, &every, Start::PriorKnowledge, Limits::default());
    assert_eq!(pieces, whole, "byte by byte");
}
