//! Per-submitter tallies: every queued request's outcome is counted once on the tally it was
//! submitted with, next to the per-backend counts.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use shadowtap_mirror::{DropReason, Tally};
use support::*;

#[tokio::test]
async fn outcomes_are_counted_on_the_submitters_tally() {
    let server = Recorder::ok().await;
    let r = replayer(test_config());
    let id = backend("shared");
    r.set_endpoints(&id, vec![server.addr]);
    let (a, b) = (Tally::new(), Tally::new());
    for i in 0..10 {
        let tally = if i % 3 == 0 { &b } else { &a };
        r.submit_tallied(&id, get(i), Some(tally.clone())).unwrap();
    }
    r.submit(&id, get(10)).unwrap();
    let s = settled(&r, &id, 11).await;
    assert_eq!(s.sent, 11, "{s:?}");
    assert_eq!((a.sent_count(), b.sent_count()), (6, 4));
    assert_eq!(a.dropped_counts().count() + b.dropped_counts().count(), 0);
}

#[tokio::test]
async fn drops_after_queueing_carry_their_reason() {
    let r = replayer(test_config());
    let id = backend("dead");
    r.set_endpoints(&id, vec![closed_port()]);
    let tally = Tally::new();
    r.submit_tallied(&id, get(0), Some(tally.clone())).unwrap();
    let s = settled(&r, &id, 1).await;
    assert_eq!(s.dropped(DropReason::ConnectRefused), 1, "{s:?}");
    assert_eq!(tally.sent_count(), 0);
    assert_eq!(
        tally.dropped_counts().collect::<Vec<_>>(),
        vec![(DropReason::ConnectRefused, 1)]
    );
    // The endpoint now backs off: the next request is refused at submission, which is the
    // submitter's to count, not the tally's.
    let refused = r.submit_tallied(&id, get(1), Some(tally.clone()));
    assert_eq!(refused, Err(DropReason::BackendDown));
    assert_eq!(tally.dropped_counts().map(|(_, n)| n).sum::<u64>(), 1);
}

#[tokio::test]
async fn sent_requests_bring_their_class_and_latency() {
    let server = Recorder::ok().await;
    let r = replayer(test_config());
    let id = backend("timed");
    r.set_endpoints(&id, vec![server.addr]);
    let histogram = shadowtap_mirror::latency_histogram();
    let tally = Tally::with_latency(histogram.clone());
    for i in 0..3 {
        r.submit_tallied(&id, get(i), Some(tally.clone())).unwrap();
    }
    settled(&r, &id, 3).await;
    assert_eq!(
        tally.response_counts().collect::<Vec<_>>(),
        vec![("2xx", 3)]
    );
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("route_latency_seconds", "test", histogram);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("route_latency_seconds_count 3"), "{text}");
}
