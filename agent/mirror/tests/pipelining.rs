//! Pipelining: requests waiting in a backend's queue are written together on one
//! connection and their responses read in order; a server that ends the connection
//! part-way through a batch gets the requests it did not take again on a new connection;
//! `pipeline_depth: 1` writes one request at a time.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::HashMap;

use shadowtap_mirror::{DropReason, ReplayConfig};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MARKER: &str = "x-shadowtap-mirrored: 1";

fn head(id: usize) -> String {
    format!("GET /item/{id}?q=1 HTTP/1.1\r\nHost: app.example\r\nX-Id: {id}\r\n\r\n")
}

/// A server that answers nothing until `n` complete requests are buffered on the
/// connection, then answers each with its own write; it reports what it received.
async fn answers_after(n: usize) -> (std::net::SocketAddr, tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let addr = raw_server(move |mut s: TcpStream| {
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let mut ends = Vec::new();
                let mut at = 0;
                while let Some(len) = request_len(&buf[at..]) {
                    at += len;
                    ends.push(at);
                }
                if ends.len() >= n {
                    break;
                }
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let _ = tx.send(buf).await;
            for _ in 0..n {
                let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                if s.write_all(ok).await.is_err() {
                    return;
                }
            }
            let mut rest = [0u8; 1];
            let _ = s.read(&mut rest).await;
        }
    })
    .await;
    (addr, rx)
}

#[tokio::test]
async fn waiting_requests_are_pipelined_in_order() {
    let (addr, mut received) = answers_after(4).await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("pipelined");
    r.set_endpoints(&id, vec![addr]);
    // Queued before the worker runs (current-thread runtime): one batch of four.
    for i in 0..4 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 4).await;
    assert_eq!(s.sent, 4, "{s:?}");
    let wire = received.recv().await.unwrap();
    let expected: Vec<u8> = (0..4)
        .flat_map(|i| with_marker(&head(i), MARKER, b""))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&wire),
        String::from_utf8_lossy(&expected),
        "four requests, in order, byte for byte, on one connection"
    );
}

#[tokio::test]
async fn depth_one_writes_one_request_at_a_time() {
    let (addr, _received) = answers_after(2).await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        pipeline_depth: 1,
        ..test_config()
    });
    let id = backend("serial");
    r.set_endpoints(&id, vec![addr]);
    for i in 0..2 {
        r.submit(&id, get(i)).unwrap();
    }
    // The server waits for a second request that never comes on the same connection.
    let s = settled(&r, &id, 2).await;
    assert_eq!(s.dropped(DropReason::ResponseTimeout), 2, "{s:?}");
}

#[tokio::test]
async fn requests_after_a_closing_answer_go_on_a_new_connection() {
    let server = Recorder::start(|_, raw| {
        if String::from_utf8_lossy(raw).contains("X-Id: 1\r\n") {
            Reply::SendClose(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".to_vec(),
            )
        } else {
            ok()
        }
    })
    .await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("closing");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..4 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 4).await;
    assert_eq!(s.sent, 4, "{s:?}");
    assert_eq!(server.accepted(), 2, "the server closed after request 1");
    let mut seen: HashMap<usize, (usize, Vec<u8>)> = HashMap::new();
    for rec in server.recorded() {
        let text = String::from_utf8_lossy(&rec.raw).into_owned();
        let i = (0..4)
            .find(|i| text.contains(&format!("X-Id: {i}\r\n")))
            .unwrap();
        assert!(
            seen.insert(i, (rec.conn, rec.raw)).is_none(),
            "request {i} twice"
        );
    }
    for i in 0..4 {
        let (conn, raw) = &seen[&i];
        assert_eq!(raw, &with_marker(&head(i), MARKER, b""));
        assert_eq!(
            *conn,
            usize::from(i >= 2),
            "request {i} on connection {conn}"
        );
    }
}

/// Which requests a server received, by connection, in order (`X-Id` of each).
fn ids_by_connection(server: &Recorder) -> Vec<(usize, usize)> {
    server
        .recorded()
        .iter()
        .map(|rec| {
            let text = String::from_utf8_lossy(&rec.raw).into_owned();
            let id = (0..16)
                .find(|i| text.contains(&format!("X-Id: {i}\r\n")))
                .unwrap();
            (rec.conn, id)
        })
        .collect()
}

/// A response delimited by the close, without `Connection: close`: the server may have read
/// (and applied) the requests pipelined after it, so they are dropped as `unanswered`, never
/// written again.
#[tokio::test]
async fn requests_after_a_close_delimited_answer_are_not_sent_again() {
    let server = Recorder::start(|_, raw| {
        if String::from_utf8_lossy(raw).contains("X-Id: 1\r\n") {
            Reply::SendClose(b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec())
        } else {
            ok()
        }
    })
    .await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("close-delimited");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..4 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 4).await;
    assert_eq!(s.sent, 2, "{s:?}");
    assert_eq!(s.dropped(DropReason::Unanswered), 2, "{s:?}");
    assert_eq!(server.accepted(), 1, "nothing written on a new connection");
    assert_eq!(ids_by_connection(&server), vec![(0, 0), (0, 1)]);
}

/// A response with ambiguous framing (Content-Length and Transfer-Encoding) on a connection
/// the server keeps: its end is unknown, the requests after it are dropped and counted,
/// never written again.
#[tokio::test]
async fn requests_after_an_ambiguous_answer_are_not_sent_again() {
    let server = Recorder::start(|_, raw| {
        if String::from_utf8_lossy(raw).contains("X-Id: 1\r\n") {
            Reply::Send(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
                    .to_vec(),
            )
        } else {
            ok()
        }
    })
    .await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("ambiguous");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..4 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 4).await;
    assert_eq!(s.sent, 1, "{s:?}");
    assert_eq!(s.dropped(DropReason::BadResponse), 3, "{s:?}");
    // Give a wrong re-send the time to arrive.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(server.accepted(), 1, "nothing written on a new connection");
    let ids = ids_by_connection(&server);
    let mut unique = ids.iter().map(|(_, i)| *i).collect::<Vec<_>>();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "no request received twice: {ids:?}"
    );
}

/// A server that closes cleanly before any byte of the second answer: requests 1–3 are
/// written again on a new connection, once each.
#[tokio::test]
async fn requests_the_server_closed_on_before_answering_are_sent_again() {
    let conns = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Vec<u8>)>();
    let c = conns.clone();
    let addr = raw_server(move |mut s: TcpStream| {
        let conn = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let tx = tx.clone();
        async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let want = if conn == 0 { 4 } else { 1 };
            loop {
                let mut at = 0;
                let mut n = 0;
                while let Some(len) = request_len(&buf[at..]) {
                    let _ = tx.send((conn, buf[at..at + len].to_vec()));
                    at += len;
                    n += 1;
                }
                buf.drain(..at);
                if conn == 0 && n >= want {
                    // The whole batch read (so the close is a FIN, not a reset), one answer.
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                    return;
                }
                for _ in 0..n {
                    if conn > 0
                        && s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
        }
    })
    .await;
    let r = replayer(ReplayConfig {
        max_connections: 1,
        ..test_config()
    });
    let id = backend("closed-early");
    r.set_endpoints(&id, vec![addr]);
    for i in 0..4 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 4).await;
    assert_eq!(s.sent, 4, "{s:?}");
    assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 2);
    let mut got = Vec::new();
    while let Ok((conn, raw)) = rx.try_recv() {
        let text = String::from_utf8_lossy(&raw).into_owned();
        let id = (0..4)
            .find(|i| text.contains(&format!("X-Id: {i}\r\n")))
            .unwrap();
        got.push((conn, id));
    }
    assert_eq!(
        got,
        vec![(0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)],
        "requests 1-3 again on the second connection"
    );
}
