//! The pipeline's mirror sink: sampled requests queued on the replayer.

use std::hash::{Hash, Hasher};

use shadowtap_mirror::{BackendId, MirrorRequest, Replayer, RewriteOptions};
use shadowtap_reconstruct::Request;
use shadowtap_routes::plan::MirrorTarget;

use crate::pipeline::MirrorSink;

/// The replayer's id for a mirror of the plan: its Service port, plus a short digest of the
/// route's rewrite options when it has any (so routes mirroring to one Service with different
/// rewrites use separate replayer backends; the label set stays bounded by the routes).
pub fn backend_id(mirror: &MirrorTarget) -> BackendId {
    let b = &mirror.backend;
    let rewrite = rewrite_options(mirror);
    if rewrite == RewriteOptions::default() {
        return BackendId::new(&b.namespace, &b.name, b.port);
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&mirror.options.host, &mirror.options.remove_headers).hash(&mut h);
    BackendId::new(
        &b.namespace,
        format!("{}~{:08x}", b.name, h.finish() as u32),
        b.port,
    )
}

/// The replayer's rewrite options for a mirror (from its route's annotations).
pub fn rewrite_options(mirror: &MirrorTarget) -> RewriteOptions {
    RewriteOptions {
        host: mirror.options.host.clone(),
        remove_headers: mirror.options.remove_headers.clone(),
    }
}

/// Queues sampled requests on a [`Replayer`] (never blocks).
pub struct ReplaySink {
    replayer: Replayer,
}

impl ReplaySink {
    /// Wrap a replayer.
    pub fn new(replayer: Replayer) -> Self {
        Self { replayer }
    }
}

impl MirrorSink for ReplaySink {
    fn submit(&mut self, mirror: &MirrorTarget, request: &Request) -> Result<(), &'static str> {
        self.replayer
            .submit(&backend_id(mirror), MirrorRequest::from_decoded(request))
            .map_err(|reason| reason.as_str())
    }
}
