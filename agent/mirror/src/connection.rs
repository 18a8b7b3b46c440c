//! One keep-alive connection to a mirror endpoint: connect, own-flow registration, and
//! exchanges of one or more pipelined requests written together, whose responses are read
//! in order.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use prometheus_client::metrics::gauge::Gauge;
use shadowtap_compare::{CompareSpec, ResponseSummary};
use shadowtap_wire::http1::ResponseLimits;
use tokio::io::{AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::compare::read_compared_response;
use crate::error::{ConnectError, ExchangeError};
use crate::own_flows::OwnFlows;
use crate::quickack::QuickAck;
use crate::reader::read_response;

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

/// Connects to `addr` within `timeout`, with Nagle off (requests are written whole; small
/// ones must not wait for delayed ACKs), and registers the flow in `own` before returning —
/// so before the first byte is written. Returns the stream and its local address; the caller
/// unregisters the flow when it ends. Shared by the HTTP/1 and HTTP/2 connections.
pub(crate) async fn connect_own(
    addr: SocketAddr,
    timeout: Duration,
    own: &dyn OwnFlows,
) -> Result<(TcpStream, SocketAddr), ConnectError> {
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
    stream
        .set_nodelay(true)
        .map_err(|source| ConnectError::Other { addr, source })?;
    own.register(local, addr);
    Ok((stream, local))
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
        let (stream, local) = connect_own(addr, timeout, own.as_ref()).await?;
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
    ///
    /// Asked through the runtime's readiness: when nothing arrived on the socket since its
    /// last read drained it (the usual case), the answer costs no system call; otherwise
    /// one peek tells (and a peek that finds nothing clears the stale readiness, so the
    /// next exchange's read does not try in vain either).
    pub fn is_stale(&self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut probe = [MaybeUninit::<u8>::uninit(); 1];
        let mut probe = ReadBuf::uninit(&mut probe);
        // Nobody waits on an idle connection: a no-op waker is all the poll needs.
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_peek(&mut cx, &mut probe) {
            Poll::Pending => false,
            // End of stream (0 bytes) or bytes nobody asked for.
            Poll::Ready(Ok(_)) => true,
            Poll::Ready(Err(e)) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }

    /// Writes `bytes` then `tail` (one or more whole requests, in order) and reads one
    /// response per entry of `request_is_head` (whether that request's method is `HEAD`),
    /// all before `deadline`, appending each to `answered`. Responses are read while
    /// writing, so an early answer is seen. The responses of requests with a comparison
    /// spec in `compare` (same order; missing entries compare nothing) are summarised.
    #[allow(
        clippy::too_many_arguments,
        reason = "one exchange's inputs, all distinct"
    )]
    pub async fn exchange(
        &mut self,
        bytes: &[u8],
        tail: &[u8],
        request_is_head: &[bool],
        compare: &[Option<Arc<CompareSpec>>],
        deadline: Instant,
        max_head: usize,
        answered: &mut Vec<Answered>,
    ) -> Exchanged {
        let start = Instant::now();
        let before = answered.len();
        let limits = ResponseLimits {
            max_head_bytes: max_head,
            ..ResponseLimits::default()
        };
        let mut written = false;
        let (error, ended) = {
            let (rd, mut wr) = self.stream.split();
            // Only a pipelined batch waits on responses with nothing to send meanwhile.
            let mut rd = QuickAck::new(rd, request_is_head.len() > 1);
            let write = async {
                wr.write_all(bytes).await?;
                if !tail.is_empty() {
                    wr.write_all(tail).await?;
                }
                wr.flush().await
            };
            let buf = &mut self.buf;
            let answers = &mut *answered;
            let read = async move {
                for (i, &is_head) in request_is_head.iter().enumerate() {
                    let (answer, summary) = match compare.get(i).cloned().flatten() {
                        None => (read_response(&mut rd, buf, is_head, limits).await?, None),
                        Some(spec) => {
                            let (a, s) =
                                read_compared_response(&mut rd, buf, is_head, spec, limits, start)
                                    .await?;
                            (a, Some(s))
                        }
                    };
                    answers.push(Answered {
                        status: answer.response.status,
                        latency: start.elapsed(),
                        summary,
                    });
                    if !answer.response.reusable {
                        // The server ends the connection here: later requests are lost.
                        return Ok(if answer.announces_close {
                            End::Announced
                        } else {
                            End::Silent
                        });
                    }
                }
                Ok::<End, ExchangeError>(End::Open)
            };
            let sleep = tokio::time::sleep_until(deadline);
            tokio::pin!(write, read, sleep);
            loop {
                tokio::select! {
                    biased;
                    r = &mut read => break match r {
                        Ok(end) => (None, end),
                        Err(e) => (Some(e), End::Silent),
                    },
                    w = &mut write, if !written => {
                        if let Err(e) = w {
                            break (Some(ExchangeError::from_io(e)), End::Silent);
                        }
                        written = true;
                    }
                    () = &mut sleep => break (Some(if written {
                        ExchangeError::ResponseTimeout
                    } else {
                        ExchangeError::WriteTimeout
                    }), End::Silent),
                }
            }
        };
        let complete = answered.len() - before == request_is_head.len();
        Exchanged {
            // Answered before every request was written, or bytes nobody asked for: the
            // rest would be read as the next exchange.
            reusable: ended == End::Open && complete && written && self.buf.is_empty(),
            unread: ended == End::Announced
                || matches!(error, Some(ExchangeError::ClosedBeforeAnswer)),
            error,
        }
    }
}

/// One response read in an exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answered {
    /// Final status code.
    pub status: u16,
    /// Time from the start of the exchange to the end of this response.
    pub latency: Duration,
    /// The response's summary, when its request is compared.
    pub summary: Option<ResponseSummary>,
}

/// How the reading side of an exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Every response read; the server keeps the connection.
    Open,
    /// The server ended the connection after a response that said so: it processed no
    /// later request.
    Announced,
    /// The connection ended otherwise (a close-delimited body, a `101`, an error): the
    /// server may have read later requests.
    Silent,
}

/// The outcome of [`Connection::exchange`].
#[derive(Debug)]
pub(crate) struct Exchanged {
    /// Why the requests after the ones answered got no response. `None` with fewer answers
    /// than requests: the server ended the connection after its last answer.
    pub error: Option<ExchangeError>,
    /// Whether the connection may carry another exchange.
    pub reusable: bool,
    /// Whether the server provably did not read the unanswered requests: it announced its
    /// close with its last answer, or closed before any byte of the next answer. Only those
    /// may be sent again: a re-sent request the server had read would be applied twice.
    pub unread: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.own.unregister(self.local, self.remote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::own_flows::NoOwnFlows;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// Waits (bounded) until `conn` reads as stale.
    async fn becomes_stale(conn: &Connection) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if conn.is_stale() {
                return true;
            }
            tokio::task::yield_now().await;
        }
        false
    }

    async fn connected() -> (Connection, tokio::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let slots = Arc::new(SlotCounter::new(Gauge::default()));
        let (conn, accepted) = tokio::join!(
            Connection::connect(
                addr,
                Duration::from_secs(5),
                Arc::new(NoOwnFlows),
                slots.take()
            ),
            listener.accept()
        );
        (conn.expect("connect"), accepted.expect("accept").0)
    }

    #[tokio::test]
    async fn an_idle_connection_is_fresh_until_the_peer_speaks_or_closes() {
        let (conn, mut server) = connected().await;
        assert!(!conn.is_stale(), "nothing arrived");
        assert!(!conn.is_stale(), "still nothing");
        server
            .write_all(b"HTTP/1.1 200 OK\r\n")
            .await
            .expect("write");
        assert!(becomes_stale(&conn).await, "unsolicited bytes");

        let (conn, server) = connected().await;
        assert!(!conn.is_stale());
        drop(server);
        assert!(becomes_stale(&conn).await, "closed by the peer");
    }
}
