//! The metrics server under abuse: idle connections, slow headers and more connections than
//! it serves must not stop `/metrics` and health from answering, nor hold descriptors.
#![allow(clippy::unwrap_used)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::{Duration, Instant},
};

use prometheus_client::registry::Registry;
use shadowtap_agent::metrics::{serve, DebugDocs, Health, ServerLimits};

const LIMITS: ServerLimits = ServerLimits {
    max_connections: 16,
    header_timeout: Duration::from_millis(300),
    max_connection_age: Duration::from_secs(30),
};
/// Upper bound for every wait.
const WAIT: Duration = Duration::from_secs(10);

async fn start() -> SocketAddr {
    let (addr, server) = serve(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Registry::with_prefix("shadowtap")),
        Health::default(),
        DebugDocs::default(),
        LIMITS,
    )
    .await
    .unwrap();
    tokio::spawn(server);
    addr
}

/// One GET; `Some(status line)` when the server answered.
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.lines().next().map(str::to_owned)
}

/// Retries `get` until it answers 200 or `WAIT` passes.
fn answers(addr: SocketAddr, path: &str) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if get(addr, path).is_some_and(|l| l.starts_with("HTTP/1.1 200")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Whether the server closed `s` (EOF or reset) within `WAIT`.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_and_metrics_keep_answering() {
    let addr = start().await;
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let idle = 2000u64.min(soft.max(hard).saturating_sub(200)) as usize;
    rlimit::increase_nofile_limit(idle as u64 + 200).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conns: Vec<TcpStream> = (0..idle)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        assert!(
            answers(addr, "/metrics"),
            "/metrics answers with {idle} idle clients"
        );
        assert!(answers(addr, "/healthz"));
        for (i, c) in conns.iter_mut().enumerate() {
            assert!(
                closed_by_server(c),
                "idle connection {i} of {idle} still open"
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let addr = start().await;
    tokio::task::spawn_blocking(move || {
        let mut slow = TcpStream::connect(addr).unwrap();
        let started = Instant::now();
        // One byte every 50 ms: the head would take seconds; the server stops waiting.
        let mut cut = false;
        for b in b"GET /metrics HTTP/1.1\r\nHost: a-long-host-name\r\n\r\n" {
            if slow.write_all(&[*b]).is_err() {
                cut = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            cut || closed_by_server(&mut slow),
            "a trickled head was served"
        );
        assert!(started.elapsed() < WAIT);
        assert!(answers(addr, "/metrics"));
    })
    .await
    .unwrap();
}
