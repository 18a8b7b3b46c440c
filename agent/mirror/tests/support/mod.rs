//! Test servers and helpers shared by the mirror client tests (real sockets on 127.0.0.1).

#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use shadowtap_mirror::{
    BackendId, BackendSnapshot, MirrorRequest, NoOwnFlows, OwnFlows, ReplayConfig, Replayer,
};
use shadowtap_wire::http1::{parse_request_head, ChunkedDecoder, Framing, Progress, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Upper bound for every wait in the tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A configuration with short timeouts for tests.
pub fn test_config() -> ReplayConfig {
    ReplayConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(500),
        backoff_max: Duration::from_secs(2),
        max_connections: 4,
        ..ReplayConfig::default()
    }
}

pub fn replayer(config: ReplayConfig) -> Replayer {
    Replayer::new(config, Arc::new(NoOwnFlows)).unwrap()
}

pub fn replayer_with(config: ReplayConfig, own: Arc<dyn OwnFlows>) -> Replayer {
    Replayer::new(config, own).unwrap()
}

pub fn backend(name: &str) -> BackendId {
    BackendId::new("test", name, 8080)
}

pub fn label(id: &BackendId) -> String {
    id.to_string()
}

/// A request from its raw head and body.
pub fn request(head: &str, body: &[u8]) -> MirrorRequest {
    MirrorRequest::new(Bytes::from(head.to_owned()), Bytes::from(body.to_vec())).unwrap()
}

/// A GET with an id header.
pub fn get(id: usize) -> MirrorRequest {
    request(
        &format!("GET /item/{id}?q=1 HTTP/1.1\r\nHost: app.example\r\nX-Id: {id}\r\n\r\n"),
        b"",
    )
}

/// The expected bytes on the wire: the head with `marker` inserted before the empty line.
pub fn with_marker(head: &str, marker: &str, body: &[u8]) -> Vec<u8> {
    let cut = head.len() - 2;
    let mut v = head.as_bytes()[..cut].to_vec();
    v.extend_from_slice(marker.as_bytes());
    v.extend_from_slice(b"\r\n\r\n");
    v.extend_from_slice(body);
    v
}

/// Polls `cond` until it holds or `WAIT` passes.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until `id` has nothing queued or in flight and has settled `n` requests; returns
/// its counts after checking conservation.
pub async fn settled(r: &Replayer, id: &BackendId, n: u64) -> BackendSnapshot {
    let name = label(id);
    eventually(&format!("{name} settles {n} requests"), || {
        let s = r.snapshot().backend(&name);
        s.is_idle() && s.sent + s.dropped_total() >= n
    })
    .await;
    let s = r.snapshot().backend(&name);
    assert!(s.is_conserved(), "conservation broken: {s:?}");
    assert_eq!(s.submitted, s.sent + s.dropped_total(), "{s:?}");
    s
}

/// What the recording server answers to one request.
pub enum Reply {
    /// Write these bytes and keep the connection.
    Send(Vec<u8>),
    /// Write these bytes and close.
    SendClose(Vec<u8>),
}

pub fn ok() -> Reply {
    Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec())
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub raw: Vec<u8>,
    pub conn: usize,
    pub peer: SocketAddr,
}

type Responder = Arc<dyn Fn(SocketAddr, &[u8]) -> Reply + Send + Sync>;

/// An HTTP/1.1 server that records every request's exact bytes.
#[derive(Clone)]
pub struct Recorder {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    pub closed: Arc<AtomicUsize>,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    pub async fn start(
        respond: impl Fn(SocketAddr, &[u8]) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rec = Recorder {
            addr: listener.local_addr().unwrap(),
            accepted: Arc::default(),
            closed: Arc::default(),
            requests: Arc::default(),
        };
        let respond: Responder = Arc::new(respond);
        let r = rec.clone();
        tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let conn = r.accepted.fetch_add(1, Ordering::SeqCst);
                let (log, respond, closed) =
                    (r.requests.clone(), respond.clone(), r.closed.clone());
                tokio::spawn(async move {
                    serve(stream, peer, conn, log, respond).await;
                    closed.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        rec
    }

    pub async fn ok() -> Self {
        Self::start(|_, _| ok()).await
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        eventually(&format!("{n} requests recorded"), || self.count() >= n).await;
        self.recorded()
    }
}

async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    conn: usize,
    log: Arc<Mutex<Vec<Recorded>>>,
    respond: Responder,
) {
    let mut buf = Vec::new();
    loop {
        let len = loop {
            if let Some(len) = request_len(&buf) {
                break len;
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let raw: Vec<u8> = buf.drain(..len).collect();
        let reply = respond(peer, &raw);
        log.lock().unwrap().push(Recorded { raw, conn, peer });
        match reply {
            Reply::Send(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::SendClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                return;
            }
        }
    }
}

/// The length of the complete request at the start of `buf`, if complete (framed with
/// shadowtap-wire, the grammar the decoder uses).
pub fn request_len(buf: &[u8]) -> Option<usize> {
    let head = match parse_request_head(buf, 64).ok()? {
        Status::Complete(head) => head,
        Status::Partial => return None,
    };
    let at = head.head_len();
    match head.framing() {
        Framing::None => Some(at),
        Framing::Length(n) => {
            let end = at + usize::try_from(n).ok()?;
            (buf.len() >= end).then_some(end)
        }
        Framing::Chunked => match ChunkedDecoder::new().feed(&buf[at..]).ok()? {
            Progress::Done(n) => Some(at + usize::try_from(n).ok()?),
            Progress::NeedMore => None,
        },
    }
}

/// A listener whose connections are handed to `handle` (for misbehaving servers).
pub async fn raw_server<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    addr
}

/// Reads until a complete request head arrived (bodies are not expected).
pub async fn read_head(stream: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// An address where nothing listens.
pub fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
