//! A read half that re-arms TCP quick ACKs after every read.
//!
//! Pipelined responses are often written by servers one `write` each, with Nagle's
//! algorithm on: the second small response waits until the first is acknowledged. The
//! replayer has nothing to send until every response of its batch is read, so a delayed
//! ACK (up to 40 ms on Linux) would stall each batch. Quick-ACK mode is not sticky in the
//! kernel, so it is set again after each read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::ReadHalf;

/// Wraps a connection's read half; see the module docs.
pub(crate) struct QuickAck<'a> {
    inner: ReadHalf<'a>,
    on: bool,
}

impl<'a> QuickAck<'a> {
    /// Wraps `inner`; `on: false` reads without touching the socket options.
    pub fn new(inner: ReadHalf<'a>, on: bool) -> Self {
        QuickAck { inner, on }
    }
}

impl AsyncRead for QuickAck<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.on && matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Best effort: a failure only means ACKs may be delayed again.
            let _ = socket2::SockRef::from(self.inner.as_ref()).set_quickack(true);
        }
        polled
    }
}
