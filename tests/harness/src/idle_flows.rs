//! Many concurrent keep-alive connections without a thread per connection, for shadowtap's
//! flow-scale benchmark: a server answering every request `200 ok` and a client that opens
//! connections in batches, sends one request on each, reads its response and keeps them
//! open and idle. Both run a single-threaded tokio runtime on a thread inside a namespace.
#![allow(unsafe_code)]

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    task::JoinSet,
};

use crate::{http_server::request_len, topology::Netns};

/// The answer to every request.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// How often the server looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// How long one connection may take to connect, send its request and read the response.
const PER_CONNECTION: Duration = Duration::from_secs(30);

/// Raise this process's RLIMIT_NOFILE (soft and, if needed, hard) to at least `want`;
/// returns the soft limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur >= want {
            return lim.rlim_cur;
        }
        let wanted = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            return want;
        }
        // Not allowed to raise the hard limit: go as far as it allows.
        let capped = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &capped) == 0 {
            lim.rlim_max
        } else {
            lim.rlim_cur
        }
    }
}

/// Counters of an [`IdleServer`].
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed (by the peer or on error).
    pub closed: AtomicU64,
}

/// A keep-alive HTTP/1.1 server for many connections; stops when dropped.
///
/// Its thread has a file descriptor table of its own (`unshare(CLONE_FILES)`): the limit
/// RLIMIT_NOFILE bounds descriptor numbers per table, so the server's connections and the
/// client's (in this process's table) may each come close to it. Nothing crosses between
/// the threads but atomics and a channel, never a descriptor number (but tokio's signal pipe,
/// created before the table is copied).
pub struct IdleServer {
    /// What it has done so far.
    pub stats: Arc<ServerStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl IdleServer {
    /// Listen on `addr` inside `ns` (backlog `backlog`); returns once the socket listens.
    pub fn start(ns: &Netns, addr: SocketAddr, backlog: u32) -> Self {
        let stats = Arc::new(ServerStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (bound_tx, bound_rx) = mpsc::channel();
        let (st, stopping) = (stats.clone(), stop.clone());
        // The first tokio runtime of the process creates tokio's process-wide signal pipe,
        // which every later runtime duplicates by descriptor number: create it now, in the
        // process's table, so that the server's copy of the table holds it too.
        drop(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        );
        let thread = ns.spawn(move || {
            // SAFETY: unshare only detaches this thread's descriptor table from the process's.
            let rc = unsafe { libc::unshare(libc::CLONE_FILES) };
            assert_eq!(rc, 0, "unshare: {}", std::io::Error::last_os_error());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()
                } else {
                    TcpSocket::new_v6()
                }
                .expect("server socket");
                socket.set_reuseaddr(true).expect("SO_REUSEADDR");
                socket.bind(addr).expect("bind idle-flow server");
                let listener = socket.listen(backlog).expect("listen");
                bound_tx.send(()).expect("signal bound");
                // The stop flag is polled: a waker called from another thread would write to
                // this runtime's eventfd by a number that is not valid in that thread's table.
                let mut poll = tokio::time::interval(STOP_POLL);
                while !stopping.load(Ordering::Relaxed) {
                    tokio::select! {
                        _ = poll.tick() => {}
                        accepted = listener.accept() => match accepted {
                            Ok((conn, _)) => {
                                st.accepted.fetch_add(1, Ordering::Relaxed);
                                tokio::spawn(serve(conn, st.clone()));
                            }
                            // Out of descriptors or the like: keep serving those accepted.
                            Err(e) => {
                                eprintln!("idle-flow server: accept: {e}");
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        },
                    }
                }
            });
            // Dropping the runtime cancels the connection tasks; the thread's descriptor
            // table goes with the thread.
        });
        bound_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("idle-flow server bound");
        Self {
            stats,
            stop,
            thread: Some(thread),
        }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }

    /// Connections currently open.
    pub fn open(&self) -> u64 {
        self.stats
            .accepted
            .load(Ordering::Relaxed)
            .saturating_sub(self.stats.closed.load(Ordering::Relaxed))
    }
}

impl Drop for IdleServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answer every complete request on `conn` until the peer closes it.
async fn serve(mut conn: TcpStream, stats: Arc<ServerStats>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        while let Some((_, len, _)) = request_len(&buf) {
            buf.drain(..len);
            if conn.write_all(RESPONSE).await.is_err() {
                stats.closed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            stats.requests.fetch_add(1, Ordering::Relaxed);
        }
        buf.reserve(1024);
        match conn.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    stats.closed.fetch_add(1, Ordering::Relaxed);
}

/// Connections opened by [`open_idle`], each having sent one request and read its response;
/// they stay open (and idle) until this is dropped.
#[derive(Debug)]
pub struct IdleFlows {
    /// The open connections.
    pub streams: Vec<std::net::TcpStream>,
    /// Connections that failed (connect, send or response).
    pub failed: usize,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// From `ns`, open `n` connections to `addr`, at most `batch` being set up at a time; on
/// connection `i` send `request(i)` and read the response (`Content-Length` framed).
pub fn open_idle(
    ns: &Netns,
    addr: SocketAddr,
    n: usize,
    batch: usize,
    request: impl Fn(usize) -> Vec<u8> + Send + 'static,
) -> IdleFlows {
    ns.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        rt.block_on(async move {
            let mut out = IdleFlows {
                streams: Vec::with_capacity(n),
                failed: 0,
                first_error: None,
            };
            let mut set = JoinSet::new();
            let mut next = 0;
            while next < n || !set.is_empty() {
                while next < n && set.len() < batch.max(1) {
                    let req = request(next);
                    set.spawn(tokio::time::timeout(PER_CONNECTION, one(addr, req)));
                    next += 1;
                }
                let Some(done) = set.join_next().await else {
                    break;
                };
                let result = match done {
                    Ok(Ok(Ok(stream))) => stream.into_std().map_err(|e| e.to_string()),
                    Ok(Ok(Err(e))) => Err(e.to_string()),
                    Ok(Err(_)) => Err(format!("no response within {PER_CONNECTION:?}")),
                    Err(e) => Err(e.to_string()),
                };
                match result {
                    Ok(s) => out.streams.push(s),
                    Err(e) => {
                        out.failed += 1;
                        out.first_error.get_or_insert(e);
                    }
                }
            }
            out
        })
    })
    .join()
    .expect("idle-flow client thread")
}

/// Connect, send `req`, read one response; the connection stays open.
async fn one(addr: SocketAddr, req: Vec<u8>) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(&req).await?;
    let mut buf = Vec::with_capacity(128);
    loop {
        if s.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if response_complete(&buf) {
            return Ok(s);
        }
    }
}

/// Whether `buf` holds a complete response.
fn response_complete(buf: &[u8]) -> bool {
    matches!(crate::load::response::frame(buf), Ok(Some(_)))
}
