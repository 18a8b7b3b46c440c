//! The HTTP/2 connections of one backend: at most `h2_connections` per endpoint, each
//! carrying many streams at once (prior-knowledge h2c). A request goes to the endpoint the
//! backend's round robin picks, on that endpoint's connection with the fewest streams in
//! flight; a new connection opens only while every open one is busy and the limit allows.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::time::Instant;

use crate::connection::{connect_own, Slot};
use crate::error::ConnectError;
use crate::own_flows::OwnFlows;

/// One open HTTP/2 connection.
#[derive(Clone)]
pub(crate) struct H2Conn {
    addr: SocketAddr,
    send: SendRequest<Bytes>,
    /// Cleared when the connection's task ends (closed by either side, or failed).
    alive: Arc<AtomicBool>,
    /// Streams in flight on it.
    streams: Arc<AtomicUsize>,
    /// When its last stream ended (or when it opened).
    idle_since: Arc<Mutex<Instant>>,
}

/// A stream slot on a connection: counted while it lives.
pub(crate) struct StreamGuard {
    streams: Arc<AtomicUsize>,
    idle_since: Arc<Mutex<Instant>>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }
}

impl H2Conn {
    /// The connection's request handle, with a stream counted until the guard drops.
    pub fn stream(&self) -> (SendRequest<Bytes>, StreamGuard) {
        self.streams.fetch_add(1, Ordering::AcqRel);
        (
            self.send.clone(),
            StreamGuard {
                streams: Arc::clone(&self.streams),
                idle_since: Arc::clone(&self.idle_since),
            },
        )
    }

    /// The endpoint.
    pub fn remote(&self) -> SocketAddr {
        self.addr
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    fn load(&self) -> usize {
        self.streams.load(Ordering::Acquire)
    }
}

/// What [`H2Pool::pick`] found for an endpoint.
pub(crate) enum H2Pick {
    /// Use this connection.
    Use(H2Conn),
    /// Open a new connection to the endpoint.
    Connect,
}

/// The HTTP/2 connections of one backend.
pub(crate) struct H2Pool {
    conns: Mutex<Vec<H2Conn>>,
    /// Held while a connection is being opened, so the streams of a batch that all find
    /// no connection open one, not one each.
    connecting: tokio::sync::Mutex<()>,
    per_endpoint: usize,
    /// Streams a connection takes before another one is opened beside it.
    busy_at: usize,
}

impl H2Pool {
    /// A pool of at most `per_endpoint` connections per endpoint; a connection counts as
    /// busy from `busy_at` streams in flight.
    pub fn new(per_endpoint: usize, busy_at: usize) -> Self {
        H2Pool {
            conns: Mutex::new(Vec::new()),
            connecting: tokio::sync::Mutex::new(()),
            per_endpoint: per_endpoint.max(1),
            busy_at: busy_at.max(1),
        }
    }

    /// The connection for the next request to `addr`.
    pub fn pick(&self, addr: SocketAddr) -> H2Pick {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(H2Conn::is_alive);
        let mine = conns.iter().filter(|c| c.addr == addr);
        let count = mine.clone().count();
        match mine.min_by_key(|c| c.load()) {
            Some(c) if c.load() < self.busy_at || count >= self.per_endpoint => {
                H2Pick::Use(c.clone())
            }
            _ => H2Pick::Connect,
        }
    }

    /// Waits for the right to open a connection (one at a time per backend); pick again
    /// once it is held, as another stream may have opened one meanwhile.
    pub async fn connecting(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.connecting.lock().await
    }

    /// Adds a connection just opened; returns the one to use (another worker may have
    /// opened one meanwhile, and the limit holds: the extra one is then closed).
    pub fn add(&self, conn: H2Conn) -> H2Conn {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(H2Conn::is_alive);
        let count = conns.iter().filter(|c| c.addr == conn.addr).count();
        if count >= self.per_endpoint {
            if let Some(c) = conns
                .iter()
                .filter(|c| c.addr == conn.addr)
                .min_by_key(|c| c.load())
            {
                return c.clone();
            }
        }
        conns.push(conn.clone());
        conn
    }

    /// Keeps only connections to `endpoints`.
    pub fn retain_endpoints(&self, endpoints: &[SocketAddr]) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| endpoints.contains(&c.addr));
    }

    /// Lets go of connections that carried no stream for `idle_timeout` (each closes).
    pub fn purge(&self, now: Instant, idle_timeout: Duration) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|c| {
                let since = *c.idle_since.lock().unwrap_or_else(|e| e.into_inner());
                c.is_alive()
                    && (c.load() > 0 || now.saturating_duration_since(since) < idle_timeout)
            });
    }

    /// Lets every connection go (each closes once its streams finish).
    pub fn clear(&self) {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Unregisters the own flow when the connection's task ends.
struct OwnFlowGuard {
    own: Arc<dyn OwnFlows>,
    local: SocketAddr,
    remote: SocketAddr,
}

impl Drop for OwnFlowGuard {
    fn drop(&mut self) {
        self.own.unregister(self.local, self.remote);
    }
}

/// Connects to `addr` and completes the HTTP/2 handshake (prior knowledge), both within
/// `timeout`. The flow is registered in `own` before the first byte is written; the
/// connection runs on its own task, which holds `slot` and unregisters the flow when the
/// connection ends (when no handle to it is left, or on error).
pub(crate) async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    own: Arc<dyn OwnFlows>,
    slot: Slot,
) -> Result<H2Conn, ConnectError> {
    let (stream, local) = connect_own(addr, timeout, own.as_ref()).await?;
    let guard = OwnFlowGuard {
        own,
        local,
        remote: addr,
    };
    let handshake = h2::client::Builder::new()
        .enable_push(false)
        .handshake::<_, Bytes>(stream);
    let (send, connection) = match tokio::time::timeout(timeout, handshake).await {
        Err(_) => return Err(ConnectError::Timeout { addr }),
        Ok(Err(e)) => {
            return Err(ConnectError::Other {
                addr,
                source: std::io::Error::other(e),
            })
        }
        Ok(Ok(pair)) => pair,
    };
    let alive = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&alive);
    tokio::spawn(async move {
        let _guard = guard;
        let _slot = slot;
        // The connection's outcome is seen by its streams (each fails with the error).
        let _ = connection.await;
        flag.store(false, Ordering::Release);
    });
    Ok(H2Conn {
        addr,
        send,
        alive,
        streams: Arc::new(AtomicUsize::new(0)),
        idle_since: Arc::new(Mutex::new(Instant::now())),
    })
}
