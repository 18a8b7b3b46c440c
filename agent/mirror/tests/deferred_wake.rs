//! Deferred wake-ups: requests submitted with `Wake::Deferred` wait in the queue until
//! `wake_deferred` (or until enough of them wait, or shutdown), then go out in whole
//! pipelined batches; a worker that leaves requests in the queue wakes the next worker.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shadowtap_mirror::{BackendId, ReplayConfig, Replayer, Wake};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Long enough that a worker's idle timer (which also looks at the queue) never delivers
/// a request within a test's wait: only the wake-ups under test can.
fn config() -> ReplayConfig {
    ReplayConfig {
        idle_timeout: Duration::from_secs(60),
        ..test_config()
    }
}

fn submit_deferred(r: &Replayer, id: &BackendId, n: usize) {
    for i in 0..n {
        r.submit_tallied_waking(id, get(i), None, Wake::Deferred)
            .unwrap();
    }
}

async fn let_every_task_run() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

/// A replayer whose backend `name` has the one endpoint `addr` and whose workers have
/// started, found nothing queued and wait.
async fn parked(name: &str, addr: std::net::SocketAddr) -> (Replayer, BackendId) {
    parked_with(name, addr, config()).await
}

async fn parked_with(
    name: &str,
    addr: std::net::SocketAddr,
    config: ReplayConfig,
) -> (Replayer, BackendId) {
    let r = replayer(config);
    let id = backend(name);
    r.set_endpoints(&id, vec![addr]);
    let_every_task_run().await;
    (r, id)
}

#[tokio::test]
async fn deferred_requests_wait_for_the_wake_then_go_in_whole_batches() {
    let server = Recorder::ok().await;
    let (r, id) = parked("deferred", server.addr).await;
    submit_deferred(&r, &id, 20);
    // Every task of this (current-thread) runtime runs again: no worker was woken.
    let_every_task_run().await;
    let s = r.snapshot().backend(&label(&id));
    assert_eq!((s.queued, s.in_flight, s.sent), (20, 0, 0), "{s:?}");
    assert_eq!(server.count(), 0);

    r.wake_deferred();
    let s = settled(&r, &id, 20).await;
    assert_eq!(s.sent, 20, "{s:?}");
    // 20 requests at depth 8: three batches, so at most three connections.
    assert!(server.accepted() <= 3, "accepted {}", server.accepted());
    // A second wake with nothing deferred wakes nobody and breaks nothing.
    r.wake_deferred();
    assert_eq!(server.wait_for(20).await.len(), 20);
}

#[tokio::test]
async fn enough_deferred_requests_wake_the_workers_without_a_wake_call() {
    let server = Recorder::ok().await;
    let (r, id) = parked("threshold", server.addr).await;
    // 64 is where a backend's deferred requests wake its workers on their own.
    submit_deferred(&r, &id, 64);
    let s = settled(&r, &id, 64).await;
    assert_eq!(s.sent, 64, "{s:?}");
    assert_eq!(server.count(), 64);
}

#[tokio::test]
async fn a_worker_leaving_requests_behind_wakes_the_next() {
    // Answers nothing until two connections are open: one worker alone (never waking a
    // second for the requests it left in the queue) would time out.
    let accepted = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&accepted);
    let addr = raw_server(move |mut s| {
        let accepted = Arc::clone(&seen);
        async move {
            accepted.fetch_add(1, Ordering::SeqCst);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
                let mut complete = 0;
                while let Some(len) = request_len(&buf) {
                    buf.drain(..len);
                    complete += 1;
                }
                let until = tokio::time::Instant::now() + WAIT;
                while accepted.load(Ordering::SeqCst) < 2 {
                    if tokio::time::Instant::now() > until {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                for _ in 0..complete {
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if s.write_all(ok).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    let config = ReplayConfig {
        request_timeout: Duration::from_secs(5),
        ..config()
    };
    let (r, id) = parked_with("chained", addr, config).await;
    submit_deferred(&r, &id, 16);
    r.wake_deferred();
    let s = settled(&r, &id, 16).await;
    assert_eq!(s.sent, 16, "{s:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn shutdown_sends_what_was_deferred() {
    let server = Recorder::ok().await;
    let (r, id) = parked("shutdown", server.addr).await;
    submit_deferred(&r, &id, 5);
    let report = r.shutdown(WAIT).await;
    assert!(report.drained, "{report:?}");
    assert_eq!(report.dropped, 0);
    assert_eq!(r.snapshot().backend(&label(&id)).sent, 5);
    assert_eq!(server.count(), 5);
}
