//! Compared requests: the mirror's response is summarised with the route's settings and
//! reported once per request on its ticket — pipelined or not — and a request that fails
//! anywhere (a dead backend, a bad response) reports `Failed`; requests without a ticket
//! are untouched.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::sync::Arc;

use shadowtap_compare::{CompareMode, CompareSpec, MirrorResult, PairId};
use shadowtap_mirror::{CompareTicket, MirrorReport};
use support::*;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

async fn reports(rx: &mut UnboundedReceiver<MirrorReport>, n: usize) -> Vec<MirrorReport> {
    let mut out = Vec::new();
    while out.len() < n {
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("reports within 10 s")
            .expect("channel open");
        out.push(r);
    }
    out.sort_by_key(|(p, _)| *p);
    out
}

#[tokio::test]
async fn summaries_come_back_per_pair() {
    let server = Recorder::start(|_, raw| {
        let head = String::from_utf8_lossy(raw);
        if head.starts_with("GET /fail") {
            Reply::Send(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n".to_vec())
        } else {
            Reply::Send(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
                    .to_vec(),
            )
        }
    })
    .await;
    let r = replayer(test_config());
    let id = backend("compared");
    r.set_endpoints(&id, vec![server.addr]);
    let spec = Arc::new(CompareSpec::new(CompareMode::Body));
    let (tx, mut rx) = unbounded_channel();
    for i in 0..20u64 {
        let path = if i % 4 == 0 { "/fail" } else { "/ok" };
        let req = request(&format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n"), b"")
            .with_compare(CompareTicket::new(PairId(i), spec.clone(), tx.clone()));
        r.submit(&id, req).unwrap();
    }
    // An uncompared request in between reports nothing.
    r.submit(&id, get(99)).unwrap();
    let got = reports(&mut rx, 20).await;
    settled(&r, &id, 21).await;
    for (pair, result) in &got {
        let MirrorResult::Response(s) = result else {
            panic!("{pair:?} failed");
        };
        if pair.0 % 4 == 0 {
            assert_eq!((s.status, s.body.len), (500, 0));
        } else {
            assert_eq!((s.status, s.body.len), (200, 5));
            assert!(s.body.content.is_some());
            assert_eq!(&*s.headers[0].name, b"content-type");
        }
    }
    drop(tx);
    assert!(
        rx.recv().await.is_none(),
        "no more than one report per pair"
    );
}

#[tokio::test]
async fn failures_report_failed() {
    let spec = Arc::new(CompareSpec::new(CompareMode::Status));
    let (tx, mut rx) = unbounded_channel();
    let r = replayer(test_config());
    let dead = backend("dead");
    r.set_endpoints(&dead, vec![closed_port()]);
    let ticket = |i| CompareTicket::new(PairId(i), spec.clone(), tx.clone());
    r.submit(&dead, get(0).with_compare(ticket(0))).unwrap();
    let bad = raw_server(|mut s| async move {
        if read_head(&mut s).await {
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .await;
        }
    })
    .await;
    let bad_id = backend("bad");
    r.set_endpoints(&bad_id, vec![bad]);
    r.submit(&bad_id, get(1).with_compare(ticket(1))).unwrap();
    let got = reports(&mut rx, 2).await;
    assert_eq!(
        got,
        vec![
            (PairId(0), MirrorResult::Failed),
            (PairId(1), MirrorResult::Failed)
        ]
    );
}
