//! One keep-alive connection to a mirror endpoint: connect, own-flow registration, one
//! request/response exchange at a time (no pipelining).

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::error::{ConnectError, ExchangeError};
use super::own_flows::OwnFlows;
use super::reader::read_response;
use super::response::Answer;

/// Counts a backend's open connections (including ones being established).
#[derive(Debug)]
pub(crate) struct SlotCounter {
    open: AtomicUsize,
    gauge: Gauge,
}

impl SlotCounter {
    /// A counter reported on `gauge`.
    pub fn new(gauge: Gauge) -> Self {
        SlotCounter {
            open: AtomicUsize::new(0),
            gauge,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Takes a slot, released when the returned guard is dropped.
    pub fn take(self: &Arc<Self>) -> Slot {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.gauge.inc();
        Slot {
            counter: Arc::clone(self),
        }
    }
}

/// One counted connection slot.
#[derive(Debug)]
pub(crate) struct Slot {
    counter: Arc<SlotCounter>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counter.open.fetch_sub(1, Ordering::AcqRel);
        self.counter.gauge.dec();
    }
}

/// An open connection. Dropping it closes the socket and unregisters the own flow.
pub(crate) struct Connection {
    stream: TcpStream,
    buf: BytesMut,
    local: SocketAddr,
    remote: SocketAddr,
    own: Arc<dyn OwnFlows>,
    /// When it last finished an exchange.
    pub idle_since: Instant,
    _slot: Slot,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `addr` within `timeout` and registers the flow in `own` before returning
    /// (so before the first byte is written).
    pub async fn connect(
        addr: SocketAddr,
        timeout: Duration,
        own: Arc<dyn OwnFlows>,
        slot: Slot,
    ) -> Result<Self, ConnectError> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => return Err(ConnectError::Timeout { addr }),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                return Err(ConnectError::Refused { addr })
            }
            Ok(Err(source)) => return Err(ConnectError::Other { addr, source }),
            Ok(Ok(s)) => s,
        };
        let local = stream
            .local_addr()
            .map_err(|source| ConnectError::Other { addr, source })?;
        // Requests are written whole; small ones must not wait for delayed ACKs.
        stream
            .set_nodelay(true)
            .map_err(|source| ConnectError::Other { addr, source })?;
        own.register(local, addr);
        Ok(Connection {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            local,
            remote: addr,
            own,
            idle_since: Instant::now(),
            _slot: slot,
        })
    }

    /// The endpoint.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Whether an idle connection can no longer be used: the peer closed it, or sent bytes
    /// nobody asked for.
    pub fn is_stale(&self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        match socket2::SockRef::from(&self.stream).peek(&mut probe) {
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
            Ok(_) => true,
        }
    }

    /// Writes `head` then `body` and reads the whole response, all before `deadline`. The
    /// response is read while writing, so an early answer is seen.
    pub async fn exchange(
        &mut self,
        head: &[u8],
        body: &[u8],
        request_is_head: bool,
        deadline: Instant,
        max_head: usize,
    ) -> Result<Answer, ExchangeError> {
        let (mut rd, mut wr) = self.stream.split();
        let write = async {
            wr.write_all(head).await?;
            if !body.is_empty() {
                wr.write_all(body).await?;
            }
            wr.flush().await
        };
        let read = read_response(&mut rd, &mut self.buf, request_is_head, max_head);
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(write, read, sleep);
        let mut written = false;
        loop {
            tokio::select! {
                biased;
                answer = &mut read => {
                    let mut answer = answer?;
                    // Answered before the request was fully written: the rest of the
                    // request would be read as the next one.
                    answer.reusable &= written;
                    return Ok(answer);
                }
                w = &mut write, if !written => {
                    w.map_err(ExchangeError::from_io)?;
                    written = true;
                }
                () = &mut sleep => {
                    return Err(if written {
                        ExchangeError::ResponseTimeout
                    } else {
                        ExchangeError::WriteTimeout
                    });
                }
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.own.unregister(self.local, self.remote);
    }
}
