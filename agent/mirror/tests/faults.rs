//! Misbehaving mirror backends: each failure is dropped and counted by its reason,
//! `submit` never blocks, queued bytes stay within budget, and healthy backends keep
//! working meanwhile. Conservation holds throughout.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use shadowtap_mirror::{BackendId, DropReason, ReplayConfig, Replayer};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// Submits `n` requests and checks that no call took long.
fn submit_many(r: &Replayer, id: &BackendId, n: usize, body: usize) {
    let payload = vec![b'b'; body];
    for i in 0..n {
        let head = format!("POST /{i} HTTP/1.1\r\nHost: a\r\nContent-Length: {body}\r\n\r\n");
        let req = request(&head, &payload);
        let start = Instant::now();
        let _ = r.submit(id, req);
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "submit blocked"
        );
    }
}

/// Keeps accepted sockets open without reading them.
fn hold() -> (
    Arc<Mutex<Vec<TcpStream>>>,
    impl Fn(TcpStream) -> std::future::Ready<()> + Send,
) {
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let h = held.clone();
    (held, move |s| {
        h.lock().unwrap().push(s);
        std::future::ready(())
    })
}

#[tokio::test]
async fn refused_backs_off_and_drops_fast() {
    let r = replayer(ReplayConfig {
        backoff_initial: Duration::from_secs(5),
        ..test_config()
    });
    let id = backend("refused");
    r.set_endpoints(&id, vec![closed_port()]);
    r.submit(&id, get(0)).unwrap();
    let s = settled(&r, &id, 1).await;
    assert_eq!(s.dropped(DropReason::ConnectRefused), 1, "{s:?}");
    // The endpoint now backs off: submissions are refused at once.
    for i in 1..=10 {
        assert_eq!(r.submit(&id, get(i)), Err(DropReason::BackendDown));
    }
    let s = settled(&r, &id, 11).await;
    assert_eq!(s.dropped(DropReason::BackendDown), 10);
}

#[tokio::test]
async fn reset_is_counted() {
    let addr = raw_server(|s: TcpStream| async move {
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
    })
    .await;
    let r = replayer(test_config());
    let id = backend("reset");
    r.set_endpoints(&id, vec![addr]);
    submit_many(&r, &id, 5, 10);
    let s = settled(&r, &id, 5).await;
    assert_eq!(s.dropped(DropReason::Reset), 5, "{s:?}");
}

#[tokio::test]
async fn black_hole_times_out() {
    let (_held, handler) = hold();
    let addr = raw_server(handler).await;
    let r = replayer(ReplayConfig {
        max_connections: 2,
        ..test_config()
    });
    let id = backend("blackhole");
    r.set_endpoints(&id, vec![addr]);
    submit_many(&r, &id, 4, 10);
    let s = settled(&r, &id, 4).await;
    assert_eq!(s.dropped(DropReason::ResponseTimeout), 4, "{s:?}");
    assert_eq!(s.connections, 0, "timed-out connections are closed");
}

#[tokio::test]
async fn never_reading_backend_stalls_the_write_only() {
    let listener = {
        let sock = TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        sock.listen(16).unwrap()
    };
    let addr = listener.local_addr().unwrap();
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let h = held.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            h.lock().unwrap().push(s);
        }
    });
    let r = replayer(test_config());
    let id = backend("never-reads");
    r.set_endpoints(&id, vec![addr]);
    submit_many(&r, &id, 2, 16 << 20);
    let s = settled(&r, &id, 2).await;
    assert_eq!(s.dropped(DropReason::WriteTimeout), 2, "{s:?}");
}

#[tokio::test]
async fn trickle_times_out() {
    let addr = raw_server(|mut s: TcpStream| async move {
        if !read_head(&mut s).await {
            return;
        }
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
        if s.write_all(head).await.is_err() {
            return;
        }
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if s.write_all(b"x").await.is_err() {
                return;
            }
        }
    })
    .await;
    let r = replayer(test_config());
    let id = backend("trickle");
    r.set_endpoints(&id, vec![addr]);
    submit_many(&r, &id, 2, 0);
    let s = settled(&r, &id, 2).await;
    assert_eq!(s.dropped(DropReason::ResponseTimeout), 2, "{s:?}");
}

#[tokio::test]
async fn garbage_and_truncated_responses() {
    let garbage = raw_server(|mut s: TcpStream| async move {
        if read_head(&mut s).await {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
            let _ = s.flush().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
    .await;
    let truncated = raw_server(|mut s: TcpStream| async move {
        if read_head(&mut s).await {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                .await;
        }
    })
    .await;
    let r = replayer(test_config());
    let (g, t) = (backend("garbage"), backend("truncated"));
    r.set_endpoints(&g, vec![garbage]);
    r.set_endpoints(&t, vec![truncated]);
    submit_many(&r, &g, 3, 0);
    submit_many(&r, &t, 3, 0);
    let s = settled(&r, &g, 3).await;
    assert_eq!(s.dropped(DropReason::BadResponse), 3, "{s:?}");
    let s = settled(&r, &t, 3).await;
    assert_eq!(s.dropped(DropReason::Closed), 3, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_backend_unaffected_by_misbehaving_ones() {
    let (_held, handler) = hold();
    let hole = raw_server(handler).await;
    let reset = raw_server(|s: TcpStream| async move {
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    })
    .await;
    let healthy = Recorder::ok().await;
    let r = replayer(ReplayConfig {
        queue_depth: 16,
        queue_bytes: 1 << 20,
        ..test_config()
    });
    let ids = [
        backend("hole"),
        backend("reset"),
        backend("down"),
        backend("healthy"),
    ];
    r.set_endpoints(&ids[0], vec![hole]);
    r.set_endpoints(&ids[1], vec![reset]);
    r.set_endpoints(&ids[2], vec![closed_port()]);
    r.set_endpoints(&ids[3], vec![healthy.addr]);
    for round in 0..10 {
        for id in &ids[..3] {
            submit_many(&r, id, 20, 1000);
        }
        for i in 0..10 {
            r.submit(&ids[3], get(round * 10 + i)).unwrap();
        }
        assert!(r.snapshot().queue_bytes <= 1 << 20);
        // The healthy backend keeps up while the others are stuck or failing.
        let s = settled(&r, &ids[3], (round as u64 + 1) * 10).await;
        assert_eq!(s.sent, (round as u64 + 1) * 10, "healthy backend: {s:?}");
    }
    let s = settled(&r, &ids[3], 100).await;
    assert_eq!(s.sent, 100, "healthy backend: {s:?}");
    for id in &ids[..3] {
        let s = settled(&r, id, 200).await;
        assert_eq!(s.sent, 0);
        assert_eq!(s.submitted, 200);
    }
    let hole_s = r.snapshot().backend(&label(&ids[0]));
    assert!(hole_s.dropped(DropReason::QueueFull) > 0, "{hole_s:?}");
    assert!(
        hole_s.dropped(DropReason::ResponseTimeout) > 0,
        "{hole_s:?}"
    );
    let down = r.snapshot().backend(&label(&ids[2]));
    assert!(down.dropped(DropReason::ConnectRefused) >= 1, "{down:?}");
    assert!(down.dropped(DropReason::BackendDown) > 100, "{down:?}");
}

#[tokio::test]
async fn queue_bytes_stay_within_budget_oldest_dropped() {
    let (_held, handler) = hold();
    let addr = raw_server(handler).await;
    let budget = 64 * 1024;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        queue_depth: 10_000,
        queue_bytes: budget,
        request_timeout: Duration::from_secs(5),
        ..test_config()
    });
    let id = backend("budget");
    r.set_endpoints(&id, vec![addr]);
    for _ in 0..50 {
        submit_many(&r, &id, 1, 4000);
        assert!(r.snapshot().queue_bytes <= budget);
    }
    assert_eq!(
        r.submit(
            &id,
            request("POST / HTTP/1.1\r\n\r\n", &vec![0; budget + 1])
        ),
        Err(DropReason::QueueBudget)
    );
    let s = r.snapshot().backend(&label(&id));
    assert!(
        s.dropped(DropReason::QueueBudget) >= 50 - budget as u64 / 4000,
        "{s:?}"
    );
    assert!(s.is_conserved() || s.in_flight > 0);
    let report = r.shutdown(Duration::from_millis(100)).await;
    assert!(!report.drained);
    let s = settled(&r, &id, 51).await;
    assert_eq!(report.dropped, s.dropped(DropReason::Shutdown));
    assert_eq!(r.snapshot().queue_bytes, 0);
}

#[tokio::test]
async fn shutdown_drains_then_refuses() {
    let server = Recorder::ok().await;
    let r = replayer(test_config());
    let id = backend("drain");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..50 {
        r.submit(&id, get(i)).unwrap();
    }
    let report = r.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained);
    assert_eq!(report.dropped, 0);
    assert_eq!(r.submit(&id, get(99)), Err(DropReason::Shutdown));
    let s = settled(&r, &id, 51).await;
    assert_eq!((s.sent, s.dropped(DropReason::Shutdown)), (50, 1));
}

#[tokio::test]
async fn shutdown_deadline_drops_queued_and_in_flight() {
    let (_held, handler) = hold();
    let addr = raw_server(handler).await;
    let r = replayer(ReplayConfig {
        max_connections: 2,
        request_timeout: Duration::from_secs(30),
        ..test_config()
    });
    let id = backend("stuck");
    r.set_endpoints(&id, vec![addr]);
    submit_many(&r, &id, 10, 10);
    eventually("requests in flight on both connections", || {
        r.snapshot().backend(&label(&id)).in_flight >= 2
    })
    .await;
    let start = Instant::now();
    let report = r.shutdown(Duration::from_millis(100)).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(!report.drained);
    assert_eq!(report.dropped, 10);
    let s = settled(&r, &id, 10).await;
    assert_eq!(s.dropped(DropReason::Shutdown), 10);
    assert_eq!(s.connections, 0);
}
