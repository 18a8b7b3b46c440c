//! `h2-decode`: HTTP/2 request decoding throughput of `shadowtap-h2` next to the `h2`
//! crate's own server, both fed the same client→server bytes of one connection, in memory.
//!
//! The bytes are recorded once: the `h2` crate's client sends gRPC-shaped unary calls
//! (POST `/shadowtap.test.Echo/Unary`, `content-type: application/grpc`, `te: trailers`, a
//! per-call `x-call-id`, a 5-byte gRPC prefix and a 200 B message) with up to 100 streams
//! in flight to an `h2` server over an in-memory duplex; what the client wrote is kept.
//! Then, several times each:
//! - shadowtap: `H2Decoder::push` in 16 KiB reads, every request complete (fields, body);
//! - h2: `h2::server` reading the same bytes from an in-memory stream (its writes
//!   discarded), accepting each request and reading its body to the end, then answering a
//!   bare `200` (a server must answer; the `h2` crate also encodes that response, which
//!   shadowtap, a passive decoder, never does). Its flow-control windows are set larger than
//!   the connection (in the recording too), as the recorded bytes are read back faster than
//!   the first run released capacity.
//!
//! Both must see every request; the figures are wall-clock on a shared machine: noisy.

use std::{
    fmt::Write as _,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use shadowtap_h2::{H2Decoder, Limits, Start};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::write_result;

/// Calls on the recorded connection.
const CALLS: usize = 20_000;
/// Bytes of each call's message (after the 5-byte gRPC prefix).
const MESSAGE: usize = 200;
/// Streams the client keeps in flight.
const IN_FLIGHT: usize = 100;
/// Bytes handed to a decoder per read.
const READ: usize = 16 * 1024;
/// Measured passes of each decoder.
const PASSES: usize = 7;
/// The h2 server's stream and connection windows (bytes).
const WINDOW: u32 = 1 << 30;

/// A stream that records what is written to it (the client's side of the duplex).
struct Recording<S> {
    inner: S,
    written: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.written
            .lock()
            .expect("recording lock")
            .extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The recorded client bytes, read back in `READ`-sized pieces; writes are discarded.
/// After each piece the next read is `Pending` once (woken at once), as a socket's would be
/// between arrivals: the `h2` connection only sends its WINDOW_UPDATEs (and only then
/// counts the window as open) when a read leaves it time to write.
struct Replay {
    bytes: Bytes,
    at: usize,
    paused: bool,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at == self.bytes.len() {
            // Like a socket the client keeps open: no end of file, which would end the
            // connection before the server accepted the streams it has read.
            return Poll::Pending;
        }
        if !self.paused {
            self.paused = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.paused = false;
        let n = (self.bytes.len() - self.at).min(buf.remaining()).min(READ);
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The message of every call: a gRPC prefix (uncompressed, length) and `MESSAGE` bytes.
fn grpc_body() -> Bytes {
    let mut b = vec![0u8];
    b.extend_from_slice(&(MESSAGE as u32).to_be_bytes());
    b.extend((0..MESSAGE).map(|i| (i % 251) as u8));
    Bytes::from(b)
}

/// Serves one connection with the `h2` crate: reads each request's body to the end and
/// answers `200`, until the connection ends or `stop_at` requests are served. Returns the
/// requests served.
async fn serve<T: AsyncRead + AsyncWrite + Unpin>(io: T, stop_at: Option<usize>) -> usize {
    // Windows larger than the whole connection: the recorded client never waited for a
    // WINDOW_UPDATE, so the server reading the bytes back faster than it releases capacity
    // cannot see a flow-control violation.
    let mut conn = match h2::server::Builder::new()
        .initial_window_size(WINDOW)
        .initial_connection_window_size(WINDOW)
        .handshake::<T, Bytes>(io)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("h2 handshake: {e}");
            return 0;
        }
    };
    let mut served = 0;
    while let Some(accepted) = conn.accept().await {
        let (request, mut respond) = match accepted {
            Ok(a) => a,
            Err(e) => {
                eprintln!("h2 accept: {e}");
                break;
            }
        };
        let mut body = request.into_body();
        let mut complete = true;
        while let Some(chunk) = body.data().await {
            match chunk {
                Ok(c) => {
                    let _ = body.flow_control().release_capacity(c.len());
                }
                Err(_) => {
                    complete = false;
                    break;
                }
            }
        }
        if complete {
            served += 1;
        }
        let response = http::Response::builder()
            .status(200)
            .body(())
            .expect("response");
        let _ = respond.send_response(response, true);
        if Some(served) == stop_at {
            break;
        }
    }
    served
}

/// The client→server bytes of one connection carrying `CALLS` calls.
fn record(rt: &tokio::runtime::Runtime) -> Bytes {
    rt.block_on(async {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let written = Arc::new(Mutex::new(Vec::new()));
        let server = tokio::spawn(serve(server_io, None));
        let io = Recording {
            inner: client_io,
            written: written.clone(),
        };
        let (send, conn) = h2::client::handshake(io).await.expect("client handshake");
        let conn = tokio::spawn(conn);
        let body = grpc_body();
        let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut calls = Vec::with_capacity(CALLS);
        for i in 0..CALLS {
            let permit = gate.clone().acquire_owned().await.expect("permit");
            let mut send = send.clone().ready().await.expect("ready");
            let request = http::Request::builder()
                .method("POST")
                .uri("http://foo-grpc.default.svc.cluster.local:8080/shadowtap.test.Echo/Unary")
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header(
                    "user-agent",
                    "grpc-python/1.85.3 grpc-c/51.0.0 (linux; chttp2)",
                )
                .header("grpc-accept-encoding", "identity, deflate, gzip")
                .header("x-call-id", format!("unary-{i}"))
                .body(())
                .expect("request");
            let (response, mut stream) = send.send_request(request, false).expect("send");
            stream.send_data(body.clone(), true).expect("data");
            calls.push(tokio::spawn(async move {
                let ok = response.await.is_ok();
                drop(permit);
                ok
            }));
        }
        for c in calls {
            assert!(c.await.expect("call task"), "a call failed while recording");
        }
        drop(send);
        let _ = conn.await;
        let served = server.await.expect("server task");
        assert_eq!(served, CALLS, "the recording server saw every call");
        let bytes = written.lock().expect("recording lock").clone();
        Bytes::from(bytes)
    })
}

/// shadowtap-h2 over `bytes`: (requests, body bytes, time).
fn shadowtap_pass(bytes: &Bytes) -> (usize, usize, Duration) {
    let start = Instant::now();
    let mut dec = H2Decoder::new(Start::PriorKnowledge, Limits::default());
    let mut out = Vec::new();
    let (mut requests, mut body) = (0, 0);
    for chunk in bytes.chunks(READ) {
        dec.push(chunk, &mut out);
        requests += out.len();
        body += out.iter().map(|r| r.body.len()).sum::<usize>();
        out.clear();
    }
    dec.finish();
    (requests, body, start.elapsed())
}

/// The `h2` crate's server over `bytes`: (requests, time).
fn h2_pass(rt: &tokio::runtime::Runtime, bytes: &Bytes) -> (usize, Duration) {
    let start = Instant::now();
    let replay = Replay {
        bytes: bytes.clone(),
        at: 0,
        paused: false,
    };
    // A server stuck short of `CALLS` (its input never ends) fails the run, bounded.
    let served = rt
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), serve(replay, Some(CALLS))).await
        })
        .unwrap_or(0);
    (served, start.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the benchmark and writes `target/bench-results/h2-decode.md`.
pub fn run() {
    // One thread: both decoders run on one core, as one connection would.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let bytes = record(&rt);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..PASSES {
        let (requests, body, t) = shadowtap_pass(&bytes);
        assert_eq!(requests, CALLS, "shadowtap-h2 decoded every request");
        assert_eq!(body, CALLS * (MESSAGE + 5), "with every body byte");
        ours.push(t);
        let (served, t) = h2_pass(&rt, &bytes);
        assert_eq!(served, CALLS, "the h2 server read every request");
        theirs.push(t);
    }
    let row = |name: &str, t: Duration| {
        let s = t.as_secs_f64();
        format!(
            "| {name} | {:.0} | {:.1} | {:.2} |\n",
            CALLS as f64 / s,
            bytes.len() as f64 / s / 1e6,
            s * 1e9 / CALLS as f64 / 1e3,
        )
    };
    let (a, b) = (median(ours), median(theirs));
    let mut text = format!(
        "HTTP/2 request decoding, one connection in memory: {CALLS} gRPC unary calls \
         ({MESSAGE} B messages, up to {IN_FLIGHT} streams in flight), {} client bytes, read \
         {} KiB at a time; median of {PASSES} passes, one thread (wall clock on a shared \
         machine: noisy)\n\n\
         | decoder | requests/s | MB/s of connection bytes | µs per request |\n\
         |---|---:|---:|---:|\n",
        bytes.len(),
        READ / 1024
    );
    text.push_str(&row("shadowtap-h2 (H2Decoder::push)", a));
    text.push_str(&row("h2 crate server (accept + body + 200)", b));
    let _ = writeln!(
        text,
        "\nshadowtap-h2 / h2 speed: {:.2}× (the h2 server also encodes a response per request)",
        b.as_secs_f64() / a.as_secs_f64()
    );
    print!("{text}");
    write_result("h2-decode", &text);
}
