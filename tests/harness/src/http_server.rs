//! A small HTTP/1.1 server that records the exact bytes each connection sent it, run in a
//! test namespace. It understands Content-Length bodies and keep-alive, which is all the
//! capture tests need; every request gets `200 ok`, or what a [`Responder`] says (the
//! comparison tests give foo-v2 deliberate differences and foo-v1 hostile answers).

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

/// Every complete request received, raw, in arrival order.
pub type RequestLog = Arc<Mutex<Vec<Vec<u8>>>>;

/// What a server answers to one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// These bytes; the connection stays open.
    Send(Vec<u8>),
    /// These bytes after a pause (a deliberately slow backend); the connection stays open.
    SendAfter(Vec<u8>, Duration),
    /// These bytes, then the connection is closed.
    SendClose(Vec<u8>),
}

/// Chooses the answer to each request from its raw bytes.
pub type Responder = Arc<dyn Fn(&[u8]) -> Answer + Send + Sync>;

/// The default answer: `200 ok`.
pub const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// A running recording server; stops when dropped.
pub struct RecordingServer {
    /// What each connection sent.
    pub received: Received,
    /// Requests answered.
    pub requests: Arc<Mutex<u64>>,
    /// The raw bytes of every request answered.
    pub log: RequestLog,
    stop: Arc<AtomicBool>,
}

impl RecordingServer {
    /// Listen on `addr` inside `ns`; returns once the socket is bound.
    pub fn start(ns: &Netns, addr: SocketAddr) -> Self {
        Self::start_with(ns, addr, true, None)
    }

    /// As [`RecordingServer::start`], answering each request as `responder` says.
    pub fn answering(ns: &Netns, addr: SocketAddr, responder: Responder) -> Self {
        Self::start_with(ns, addr, true, Some(responder))
    }

    /// As [`RecordingServer::start`], but only counting requests: nothing is kept of their
    /// bytes (`received`, `log` stay empty), for benchmarks that send gigabytes.
    pub fn counting(ns: &Netns, addr: SocketAddr) -> Self {
        Self::start_with(ns, addr, false, None)
    }

    fn start_with(
        ns: &Netns,
        addr: SocketAddr,
        record: bool,
        responder: Option<Responder>,
    ) -> Self {
        let received: Received = Arc::default();
        let requests = Arc::new(Mutex::new(0));
        let log: RequestLog = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (bound_tx, bound_rx) = mpsc::channel();
        let (r, q, s, l) = (
            received.clone(),
            requests.clone(),
            stop.clone(),
            log.clone(),
        );
        ns.spawn(move || {
            let listener = TcpListener::bind(addr).expect("bind test server");
            listener.set_nonblocking(true).expect("nonblocking");
            bound_tx.send(()).expect("signal bound");
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, peer)) => {
                        let (r, q, l) = (r.clone(), q.clone(), l.clone());
                        let responder = responder.clone();
                        std::thread::spawn(move || serve(conn, peer, r, q, l, record, responder));
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
            log,
            stop,
        }
    }

    /// Requests answered so far.
    pub fn count(&self) -> u64 {
        *self.requests.lock().expect("lock")
    }

    /// A copy of every request received so far.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.log.lock().expect("lock").clone()
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

/// Length of the complete request at the start of `buf` (head + framed body), or `None`
/// if more bytes are needed. Also returns whether the head asked for `100-continue`.
pub fn request_len(buf: &[u8]) -> Option<(usize, usize, bool)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    let mut cl = 0usize;
    let mut chunked = false;
    let mut expect = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            cl = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked");
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect = h.value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    if !chunked {
        return (buf.len() >= head + cl).then_some((head, head + cl, expect));
    }
    // Chunked: sizes, data, then trailers up to an empty line.
    let mut pos = head;
    loop {
        let line_end = find(&buf[pos..], b"\r\n")? + pos;
        let size_str = String::from_utf8_lossy(&buf[pos..line_end]);
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            loop {
                let end = find(&buf[pos..], b"\r\n")? + pos;
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Some((head, pos, expect));
                }
            }
        }
        if buf.len() < pos + size + 2 {
            return None;
        }
        pos += size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve(
    mut conn: TcpStream,
    peer: SocketAddr,
    received: Received,
    requests: Arc<Mutex<u64>>,
    log: RequestLog,
    record: bool,
    responder: Option<Responder>,
) {
    conn.set_nonblocking(false).ok();
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut continued = false;
    loop {
        // Answer every complete request in the buffer.
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            let head_len = match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => n,
                _ => break,
            };
            match request_len(&buf) {
                Some((_, total, _)) => {
                    if record {
                        log.lock().expect("lock").push(buf[..total].to_vec());
                    }
                    let answer = match &responder {
                        Some(r) => r(&buf[..total]),
                        None => Answer::Send(OK_RESPONSE.to_vec()),
                    };
                    buf.drain(..total);
                    *requests.lock().expect("lock") += 1;
                    continued = false;
                    let (bytes, close) = match answer {
                        Answer::Send(b) => (b, false),
                        Answer::SendAfter(b, pause) => {
                            // The backend is slow on purpose: the pause is the behaviour
                            // under test, not a wait for something to happen.
                            std::thread::sleep(pause);
                            (b, false)
                        }
                        Answer::SendClose(b) => (b, true),
                    };
                    if conn.write_all(&bytes).is_err() || close {
                        return;
                    }
                }
                None => {
                    // Only the head is searched: bodies can be megabytes.
                    let expect = String::from_utf8_lossy(&buf[..head_len])
                        .to_ascii_lowercase()
                        .contains("expect: 100-continue");
                    if expect && !continued {
                        continued = true;
                        if conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                            return;
                        }
                    }
                    break;
                }
            }
        }
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if record {
            received
                .lock()
                .expect("lock")
                .entry(peer)
                .or_default()
                .extend_from_slice(&chunk[..n]);
        }
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

/// `connections` concurrent keep-alive connections from `ns`, each sending `per_connection`
/// requests made by `make(connection, index)` in lock-step.
pub fn concurrent_lockstep(
    ns: &Netns,
    addr: SocketAddr,
    connections: usize,
    per_connection: usize,
    make: impl Fn(usize, usize) -> Vec<u8> + Send + Sync + 'static,
) {
    timed_lockstep(ns, addr, connections, per_connection, make);
}

/// `connections` concurrent keep-alive lock-step connections (see [`concurrent_lockstep`]),
/// returning every request's round-trip time.
pub fn timed_lockstep(
    ns: &Netns,
    addr: SocketAddr,
    connections: usize,
    per_connection: usize,
    make: impl Fn(usize, usize) -> Vec<u8> + Send + Sync + 'static,
) -> Vec<Duration> {
    let make = Arc::new(make);
    let handles: Vec<_> = (0..connections)
        .map(|c| {
            let make = make.clone();
            ns.spawn(move || {
                let mut s =
                    TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
                s.set_nodelay(true).ok();
                s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                let mut chunk = [0u8; 4096];
                let mut times = Vec::with_capacity(per_connection);
                for i in 0..per_connection {
                    let req = make(c, i);
                    let start = std::time::Instant::now();
                    s.write_all(&req).expect("write request");
                    let mut got = Vec::new();
                    while !got.ends_with(b"ok") {
                        let n = s.read(&mut chunk).expect("read response");
                        assert!(n > 0, "server closed early");
                        got.extend_from_slice(&chunk[..n]);
                    }
                    times.push(start.elapsed());
                }
                times
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().expect("client thread"))
        .collect()
}

/// The `q`-quantile (0..=1) of `samples`, which it sorts.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let i = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[i.min(samples.len() - 1)]
}
