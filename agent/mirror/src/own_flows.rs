//! Registration of the replayer's own connections, so that capture skips them.

use std::net::SocketAddr;

/// Told about every connection the replayer opens to a mirror endpoint, so that the kernel
/// programs skip the agent's own traffic (a mirrored request is never captured again).
///
/// `register` is called after the connection is established and before its first byte is
/// written; `unregister` when the connection is closed (on every path, including errors and
/// shutdown). Both must be quick and must not block on the network.
pub trait OwnFlows: Send + Sync {
    /// A connection from `local` to `remote` was opened.
    fn register(&self, local: SocketAddr, remote: SocketAddr);
    /// The connection from `local` to `remote` was closed.
    fn unregister(&self, local: SocketAddr, remote: SocketAddr);
}

/// An [`OwnFlows`] that does nothing, for tests and for replaying without capture.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoOwnFlows;

impl OwnFlows for NoOwnFlows {
    fn register(&self, _local: SocketAddr, _remote: SocketAddr) {}
    fn unregister(&self, _local: SocketAddr, _remote: SocketAddr) {}
}
