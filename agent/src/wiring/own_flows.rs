//! The replayer's connections, registered in the kernel's own-flow map so capture skips them.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use shadowtap_mirror::OwnFlows;

use crate::datapath::MapHandles;

/// [`OwnFlows`] on the kernel map.
pub struct KernelOwnFlows {
    maps: Arc<Mutex<MapHandles>>,
}

impl KernelOwnFlows {
    /// Register into these maps.
    pub fn new(maps: Arc<Mutex<MapHandles>>) -> Self {
        Self { maps }
    }
}

impl OwnFlows for KernelOwnFlows {
    fn register(&self, local: SocketAddr, remote: SocketAddr) {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = maps.add_own_flow(local, remote) {
            tracing::warn!(%local, %remote, error = %e, "own connection not registered; it may be captured");
        }
    }

    fn unregister(&self, local: SocketAddr, remote: SocketAddr) {
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = maps.remove_own_flow(local, remote) {
            tracing::debug!(%local, %remote, error = %e, "own connection not unregistered");
        }
    }
}
