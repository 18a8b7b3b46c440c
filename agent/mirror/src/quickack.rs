//! A read half that asks for an immediate ACK when the replayer is about to wait for the
//! rest of a batch's responses.
//!
//! Pipelined responses are often written by servers one `write` each, with Nagle's
//! algorithm on: the second small response waits until the first is acknowledged. The
//! replayer has nothing to send while it reads a batch's responses, so a delayed ACK (up
//! to 40 ms on Linux) would stall each batch. Setting `TCP_QUICKACK` takes the socket out
//! of the kernel's delayed-ACK ("pingpong") mode and sends the pending ACK at once; the
//! kernel goes back to that mode only when this side sends again, that is with the next
//! batch. So the option is set at most once per exchange, and only when it can matter: when
//! a read comes back empty (the reader is about to wait) after bytes of the responses have
//! arrived. A batch whose responses arrive together — the usual case with a fast server —
//! costs no system call for it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::ReadHalf;

/// Wraps a connection's read half for one exchange; see the module docs.
pub(crate) struct QuickAck<'a> {
    inner: ReadHalf<'a>,
    /// Bytes arrived and the option is not set yet in this exchange.
    armed: bool,
    /// The option was set (or is not wanted): nothing more to do.
    done: bool,
}

impl<'a> QuickAck<'a> {
    /// Wraps `inner`; `on: false` reads without touching the socket options.
    pub fn new(inner: ReadHalf<'a>, on: bool) -> Self {
        QuickAck {
            inner,
            armed: false,
            done: !on,
        }
    }

    /// Whether the option was set in this exchange.
    #[cfg(test)]
    pub fn was_set(&self) -> bool {
        self.done && self.armed
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
        if !self.done {
            match &polled {
                Poll::Ready(Ok(())) if buf.filled().len() > before => self.armed = true,
                Poll::Pending if self.armed => {
                    self.done = true;
                    // Best effort: a failure only means ACKs may be delayed again.
                    let _ = socket2::SockRef::from(self.inner.as_ref()).set_quickack(true);
                }
                _ => {}
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.expect("connect"), accepted.expect("accept").0)
    }

    #[tokio::test]
    async fn set_only_when_waiting_after_bytes_arrived() {
        let (mut client, mut server) = pair().await;
        server.write_all(b"first").await.expect("write");
        let (rd, _wr) = client.split();
        let mut rd = QuickAck::new(rd, true);
        let mut got = [0u8; 5];
        rd.read_exact(&mut got).await.expect("read");
        assert!(
            !rd.was_set(),
            "everything asked for arrived: no wait, no option"
        );
        // The next read waits: the option is set before it does, once.
        let mut more = [0u8; 6];
        let (read, ()) = tokio::join!(rd.read_exact(&mut more), async {
            tokio::task::yield_now().await;
            server.write_all(b"second").await.expect("write");
        });
        read.expect("read");
        assert_eq!(&more, b"second");
        assert!(rd.was_set());
    }

    #[tokio::test]
    async fn off_never_sets_it() {
        let (mut client, mut server) = pair().await;
        let (rd, _wr) = client.split();
        let mut rd = QuickAck::new(rd, false);
        let mut got = [0u8; 2];
        let (read, ()) = tokio::join!(rd.read_exact(&mut got), async {
            server.write_all(b"a").await.expect("write");
            tokio::task::yield_now().await;
            server.write_all(b"b").await.expect("write");
        });
        read.expect("read");
        assert!(!rd.was_set());
    }
}
