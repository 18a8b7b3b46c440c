//! Pending pairs end to end through the public API: every outcome, the divergence log and
//! its redaction, the byte budget, timeouts, late results, and conservation.

mod support;

use std::sync::Arc;
use std::time::Duration;

use shadowtap_compare::{
    BodyDigest, BodyOffset, Comparator, ComparatorConfig, CompareMode, CompareSpec, Counter,
    Finished, HeaderField, MirrorResult, Outcome, PairId, PrimaryEvent, PrimaryResult, Redaction,
    ResponseSummary, UnseenReason, PAIR_OUTCOMES,
};
use shadowtap_wire::http1::Method;
use support::{cl, Conn};

type Key = &'static str;

/// A mirror response: status, header fields, body.
type Mirror<'a> = (u16, &'a [(&'a str, &'a str)], &'a [u8]);

fn comparator(config: ComparatorConfig) -> Comparator<Key> {
    Comparator::new(config)
}

fn mirror_summary(
    spec: &CompareSpec,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> ResponseSummary {
    let mut s = ResponseSummary::new(status);
    for (n, v) in headers {
        s.observe_header(spec, n.as_bytes(), v.as_bytes());
    }
    s.body = if spec.mode().body() {
        BodyDigest::of(body)
    } else {
        BodyDigest::unhashed(body.len() as u64)
    };
    s.latency = Duration::from_millis(3);
    s
}

fn conserved(c: &Comparator<Key>) {
    let k = c.counters();
    assert_eq!(
        k.get(Counter::PairsMirrored),
        k.sum(PAIR_OUTCOMES) + c.pending() as u64,
        "conservation: {k:?}, pending {}",
        c.pending()
    );
}

/// One pair through a real connection: the primary's response bytes and the mirror's
/// summary.
fn run_pair(
    mode: CompareMode,
    primary: &str,
    mirror: (u16, &[(&str, &str)], &[u8]),
) -> (Vec<Finished<Key>>, Comparator<Key>) {
    let mut cmp = comparator(ComparatorConfig::default());
    let mut done = Vec::new();
    let mut conn = Conn::new(mode);
    let spec = conn.spec.clone();
    let id = cmp.register("route", spec.clone(), Method::Get, b"/p?q=1", 0, &mut done);
    conn.req(Method::Get, Some(id.0));
    conn.bytes(primary.as_bytes());
    for ev in conn.out.drain(..) {
        cmp.primary(ev, &mut done);
    }
    cmp.mirror(
        id,
        MirrorResult::Response(mirror_summary(&spec, mirror.0, mirror.1, mirror.2)),
        &mut done,
    );
    conserved(&cmp);
    (done, cmp)
}

const PRIMARY: &str = "HTTP/1.1 200 OK\r\nDate: Mon, 30 Nov 2026 14:00:00 GMT\r\nContent-Type: text/plain\r\nX-Request-Id: abc\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn every_compared_outcome_through_the_pipeline() {
    let ct: &[(&str, &str)] = &[
        ("Content-Type", "text/plain"),
        ("Date", "Tue"),
        ("X-Request-Id", "zzz"),
    ];
    let cases: Vec<(CompareMode, Mirror, Outcome)> = vec![
        (CompareMode::Body, (200, ct, b"hello"), Outcome::Same),
        (
            CompareMode::Body,
            (503, ct, b"hello"),
            Outcome::StatusClassDiffers,
        ),
        (
            CompareMode::Body,
            (203, ct, b"hello"),
            Outcome::StatusDiffers,
        ),
        (
            CompareMode::Body,
            (200, &[("Content-Type", "text/html")], b"hello"),
            Outcome::HeadersDiffer,
        ),
        (CompareMode::Body, (200, ct, b"hellO"), Outcome::BodyDiffers),
        (
            CompareMode::Headers,
            (200, ct, b"other body"),
            Outcome::Same,
        ),
        (CompareMode::Status, (200, &[], b"other"), Outcome::Same),
    ];
    for (mode, mirror, want) in cases {
        let (done, cmp) = run_pair(mode, PRIMARY, mirror);
        assert_eq!(done.len(), 1, "{mode:?} {want:?}");
        assert_eq!(done[0].outcome, want, "{mode:?}");
        assert_eq!(done[0].mirror_latency, Some(Duration::from_millis(3)));
        assert!(done[0].primary_latency.is_some());
        assert_eq!(cmp.log().len(), usize::from(want.diverges()));
        assert_eq!(cmp.counters().get(want.counter()), 1);
    }
}

#[test]
fn divergent_pairs_are_logged_with_the_first_difference() {
    let (_, cmp) = run_pair(
        CompareMode::Body,
        PRIMARY,
        (200, &[("Content-Type", "text/plain")], b"help!"),
    );
    let e = cmp.log().iter().next().expect("logged");
    assert_eq!(
        (e.key, e.method, e.target.as_str(), e.outcome),
        ("route", "GET", "/p?q=1", Outcome::BodyDiffers)
    );
    assert_eq!((e.primary_status, e.mirror_status), (200, 200));
    assert_eq!((e.primary_body_bytes, e.mirror_body_bytes), (5, 5));
    assert_eq!(e.first_body_offset, Some(BodyOffset { from: 0, to: 5 }));
    assert_eq!(e.first_header, None);
    let json = serde_json::to_value(e).expect("serialises");
    assert_eq!(json["outcome"], "body_differs");
    assert_eq!(json["first_body_offset"]["to"], 5);

    let (_, cmp) = run_pair(
        CompareMode::Headers,
        PRIMARY,
        (200, &[("content-type", "application/json")], b""),
    );
    let h = cmp
        .log()
        .iter()
        .next()
        .and_then(|e| e.first_header.clone())
        .expect("a header");
    assert_eq!(
        (h.name.as_str(), h.primary.as_deref(), h.mirror.as_deref()),
        ("content-type", Some("text/plain"), Some("application/json"))
    );
}

#[test]
fn sensitive_headers_never_reach_the_log() {
    let mut cmp: Comparator<Key> = comparator(ComparatorConfig {
        redaction: Redaction::with_extra(["x-session"]).expect("valid names"),
        ..ComparatorConfig::default()
    });
    let spec = Arc::new(CompareSpec::new(CompareMode::Headers));
    let mut done = Vec::new();
    for (i, name) in ["Set-Cookie", "X-Session"].iter().enumerate() {
        let id = cmp.register("r", spec.clone(), Method::Get, b"/", i as u64, &mut done);
        let p = mirror_summary(&spec, 200, &[(name, "primary-secret")], b"");
        let m = mirror_summary(&spec, 200, &[(name, "mirror-secret")], b"");
        cmp.primary(
            PrimaryEvent {
                pair: id,
                result: PrimaryResult::Response(p),
            },
            &mut done,
        );
        cmp.mirror(id, MirrorResult::Response(m), &mut done);
    }
    assert_eq!(cmp.log().len(), 2);
    let json = serde_json::to_string(&cmp.log().iter().collect::<Vec<_>>()).expect("serialises");
    assert!(!json.contains("secret"), "{json}");
    assert!(json.contains("[redacted]"), "{json}");
}

#[test]
fn unpaired_outcomes_and_late_results() {
    let mut cmp = comparator(ComparatorConfig {
        pair_timeout: Duration::from_secs(1),
        ..ComparatorConfig::default()
    });
    let spec = Arc::new(CompareSpec::new(CompareMode::Status));
    let mut done = Vec::new();
    let a = cmp.register("r", spec.clone(), Method::Get, b"/a", 0, &mut done);
    let b = cmp.register("r", spec.clone(), Method::Get, b"/b", 0, &mut done);
    let c = cmp.register(
        "r",
        spec.clone(),
        Method::Get,
        b"/c",
        500_000_000,
        &mut done,
    );
    let d = cmp.register(
        "r",
        spec.clone(),
        Method::Get,
        b"/d",
        600_000_000,
        &mut done,
    );
    cmp.mirror(a, MirrorResult::Failed, &mut done);
    cmp.primary(
        PrimaryEvent {
            pair: b,
            result: PrimaryResult::Unseen(UnseenReason::Gap),
        },
        &mut done,
    );
    // c has its primary, d nothing: both time out once a second has passed.
    cmp.primary(
        PrimaryEvent {
            pair: c,
            result: PrimaryResult::Response(ResponseSummary::new(200)),
        },
        &mut done,
    );
    cmp.expire(1_550_000_000, &mut done);
    assert_eq!(cmp.pending(), 1, "d is still in time");
    cmp.expire(1_600_000_001, &mut done);
    let outcomes: Vec<_> = done.iter().map(|f| (f.pair, f.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (a, Outcome::MirrorFailed),
            (b, Outcome::PrimaryUnseen),
            (c, Outcome::PairTimeout),
            (d, Outcome::PairTimeout)
        ]
    );
    // Results after the end are counted, not compared.
    cmp.mirror(
        c,
        MirrorResult::Response(ResponseSummary::new(200)),
        &mut done,
    );
    cmp.primary(
        PrimaryEvent {
            pair: a,
            result: PrimaryResult::Response(ResponseSummary::new(200)),
        },
        &mut done,
    );
    cmp.mirror(PairId(999), MirrorResult::Failed, &mut done);
    assert_eq!(done.len(), 4);
    assert_eq!(cmp.counters().get(Counter::LateMirror), 2);
    assert_eq!(cmp.counters().get(Counter::LatePrimary), 1);
    assert_eq!(cmp.held_bytes(), 0);
    conserved(&cmp);
}

#[test]
fn budget_drops_oldest_first() {
    let spec = Arc::new(CompareSpec::new(CompareMode::Headers));
    let mut cmp = comparator(ComparatorConfig::default());
    let mut done = Vec::new();
    let id = cmp.register("r", spec.clone(), Method::Get, b"/", 0, &mut done);
    let one = cmp.held_bytes();
    cmp.mirror(id, MirrorResult::Failed, &mut done);
    // Room for 4 bare pairs.
    let mut cmp = comparator(ComparatorConfig {
        budget_bytes: one * 4,
        ..ComparatorConfig::default()
    });
    let mut done = Vec::new();
    let ids: Vec<PairId> = (0..6)
        .map(|i| cmp.register("r", spec.clone(), Method::Get, b"/", i, &mut done))
        .collect();
    assert_eq!(
        done.iter().map(|f| (f.pair, f.outcome)).collect::<Vec<_>>(),
        [(ids[0], Outcome::OverBudget), (ids[1], Outcome::OverBudget)]
    );
    assert!(cmp.held_bytes() <= one * 4);
    // A big summary arriving for a young pair pushes the oldest ones out.
    let mut big = ResponseSummary::new(200);
    big.headers.push(HeaderField {
        name: b"x-big".to_vec().into(),
        value: vec![b'v'; one * 2].into(),
    });
    cmp.primary(
        PrimaryEvent {
            pair: ids[5],
            result: PrimaryResult::Response(big),
        },
        &mut done,
    );
    assert!(
        cmp.held_bytes() <= one * 4,
        "{} > {}",
        cmp.held_bytes(),
        one * 4
    );
    let dropped: Vec<_> = done.iter().map(|f| f.pair).collect();
    assert_eq!(&dropped[..4], &ids[..4]);
    // A pair too big for the whole budget drops itself.
    let mut huge = ResponseSummary::new(200);
    huge.headers.push(HeaderField {
        name: b"x-huge".to_vec().into(),
        value: vec![b'v'; one * 8].into(),
    });
    cmp.primary(
        PrimaryEvent {
            pair: ids[5],
            result: PrimaryResult::Response(huge),
        },
        &mut done,
    );
    assert_eq!(cmp.pending(), 0);
    assert_eq!(cmp.held_bytes(), 0);
    assert_eq!(cmp.counters().get(Counter::OutcomeOverBudget), 6);
    conserved(&cmp);
}

#[test]
fn the_log_keeps_the_latest_pairs() {
    let spec = Arc::new(CompareSpec::new(CompareMode::Status));
    let mut cmp = comparator(ComparatorConfig {
        log_capacity: 3,
        ..ComparatorConfig::default()
    });
    let mut done = Vec::new();
    for i in 0..10 {
        let id = cmp.register(
            "r",
            spec.clone(),
            Method::Get,
            format!("/{i}").as_bytes(),
            i,
            &mut done,
        );
        cmp.primary(
            PrimaryEvent {
                pair: id,
                result: PrimaryResult::Response(ResponseSummary::new(200)),
            },
            &mut done,
        );
        cmp.mirror(
            id,
            MirrorResult::Response(ResponseSummary::new(500)),
            &mut done,
        );
    }
    let targets: Vec<_> = cmp.log().iter().map(|e| e.target.clone()).collect();
    assert_eq!(targets, ["/7", "/8", "/9"]);
    assert_eq!(cmp.counters().get(Counter::DivergentLogged), 10);
    assert_eq!(cmp.counters().get(Counter::DivergentEvicted), 7);
}

#[test]
fn body_mode_without_fingerprints_is_counted() {
    let spec = Arc::new(CompareSpec::new(CompareMode::Body));
    let mut cmp = comparator(ComparatorConfig::default());
    let mut done = Vec::new();
    let id = cmp.register("r", spec.clone(), Method::Get, b"/", 0, &mut done);
    let mut p = ResponseSummary::new(200);
    p.body = BodyDigest::unhashed(3);
    cmp.primary(
        PrimaryEvent {
            pair: id,
            result: PrimaryResult::Response(p),
        },
        &mut done,
    );
    cmp.mirror(
        id,
        MirrorResult::Response(mirror_summary(&spec, 200, &[], b"abc")),
        &mut done,
    );
    assert_eq!(done[0].outcome, Outcome::Same);
    assert_eq!(cmp.counters().get(Counter::BodyNotHashed), 1);
}

#[test]
fn a_hostile_connection_never_mis_pairs() {
    // Requests 0..6 mirrored on one connection; the pod answers 0 and 1 correctly, then
    // breaks the framing; what it sends next must not be compared with 2..6's mirrors.
    let spec = Arc::new(CompareSpec::new(CompareMode::Body));
    let mut cmp = comparator(ComparatorConfig::default());
    let mut done = Vec::new();
    let mut conn = Conn::new(CompareMode::Body);
    let ids: Vec<PairId> = (0..6)
        .map(|i| cmp.register("r", spec.clone(), Method::Get, b"/", i, &mut done))
        .collect();
    for id in &ids {
        conn.req(Method::Get, Some(id.0));
    }
    conn.bytes(cl(200, "zero").as_bytes());
    conn.bytes(cl(200, "one").as_bytes());
    conn.bytes(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
    conn.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo");
    conn.bytes(cl(200, "three").as_bytes());
    for ev in conn.out.drain(..) {
        cmp.primary(ev, &mut done);
    }
    for (i, id) in ids.iter().enumerate() {
        let body = ["zero", "one", "two", "three", "four", "five"][i];
        cmp.mirror(
            *id,
            MirrorResult::Response(mirror_summary(
                &spec,
                200,
                &[("content-type", "text/plain")],
                body.as_bytes(),
            )),
            &mut done,
        );
    }
    let outcomes: Vec<_> = done.iter().map(|f| f.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::PrimaryUnseen,
            Outcome::PrimaryUnseen,
            Outcome::PrimaryUnseen,
            Outcome::PrimaryUnseen,
            Outcome::Same,
            Outcome::Same
        ]
    );
    conserved(&cmp);
}
