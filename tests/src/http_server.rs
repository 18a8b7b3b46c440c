//! A small HTTP/1.1 server that records the exact bytes each connection sent it, run in a
//! test namespace. It understands Content-Length bodies and keep-alive, which is all the
//! capture tests need; every request gets `200 ok`.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc, Mutex,
    },
    time::Duration,
};

use crate::topology::Netns;

/// Bytes received per client connection (keyed by the client's address).
pub type Received = Arc<Mutex<HashMap<SocketAddr, Vec<u8>>>>;

/// A running recording server; stops when dropped.
pub struct RecordingServer {
    /// What each connection sent.
    pub received: Received,
    /// Requests answered.
    pub requests: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
}

impl RecordingServer {
    /// Listen on `addr` inside `ns`; returns once the socket is bound.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Self {
        let received: Received = Arc::default();
        let requests = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (bound_tx, bound_rx) = mpsc::channel();
        let (r, q, s) = (received.clone(), requests.clone(), stop.clone());
        ns.spawn(move || {
            let listener = TcpListener::bind(addr).expect("bind test server");
            listener.set_nonblocking(true).expect("nonblocking");
            bound_tx.send(()).expect("signal bound");
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        let (r, q) = (r.clone(), q.clone());
                        std::thread::spawn(move || serve(conn, peer, r, q));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        bound_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server bound");
        Self {
            received,
            requests,
            stop,
        }
    }

    /// Total bytes received over all connections.
    pub fn total_bytes(&self) -> usize {
        self.received
            .lock()
            .expect("lock")
            .values()
            .map(Vec::len)
            .sum()
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

fn serve(mut conn: TcpStream, peer: SocketAddr, received: Received, requests: Arc<Mutex<u64>>) {
    conn.set_nonblocking(false).ok();
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Answer every complete request in the buffer.
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            let total = end + 4 + content_length(&buf[..end]);
            if buf.len() < total {
                break;
            }
            buf.drain(..total);
            *requests.lock().expect("lock") += 1;
            if conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .is_err()
            {
                return;
            }
        }
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        received
            .lock()
            .expect("lock")
            .entry(peer)
            .or_default()
            .extend_from_slice(&chunk[..n]);
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Send `requests` over one keep-alive connection to `addr` from inside `ns`, reading one
/// `200 ok` per request. Returns the client's local address.
pub fn send_requests(ns: &Netns, addr: SocketAddr, requests: Vec<Vec<u8>>) -> SocketAddr {
    ns.spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let local = s.local_addr().expect("local addr");
        let want = requests.len();
        for r in &requests {
            s.write_all(r).expect("write request");
        }
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        while got.windows(2).filter(|w| w == b"ok").count() < want {
            let n = s.read(&mut chunk).expect("read response");
            assert!(n > 0, "server closed early");
            got.extend_from_slice(&chunk[..n]);
        }
        local
    })
    .join()
    .expect("client thread")
}

/// Send `count` copies of `request` over one keep-alive connection, one at a time: write,
/// wait for the `200 ok`, repeat (so each request is its own packet). Runs inside `ns`.
pub fn lockstep(ns: &Netns, addr: SocketAddr, request: Vec<u8>, count: usize) {
    ns.spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut chunk = [0u8; 4096];
        for _ in 0..count {
            s.write_all(&request).expect("write request");
            let mut got = Vec::new();
            while !got.ends_with(b"ok") {
                let n = s.read(&mut chunk).expect("read response");
                assert!(n > 0, "server closed early");
                got.extend_from_slice(&chunk[..n]);
            }
        }
    })
    .join()
    .expect("client thread");
}
