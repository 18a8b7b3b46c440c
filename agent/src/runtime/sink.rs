//! The pipeline's mirror sink: sampled requests queued on the replayer.

use shadowtap_reconstruct::Request;
use shadowtap_routes::plan::{MirrorTarget, ServicePortRef};

use crate::{
    pipeline::MirrorSink,
    replay::{BackendId, MirrorRequest, Replayer},
};

/// The replayer's id for a mirror backend of the plan.
pub fn backend_id(backend: &ServicePortRef) -> BackendId {
    BackendId::new(&backend.namespace, &backend.name, backend.port)
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
        let req = MirrorRequest::from_raw(request.raw().clone(), request.head().len())
            .map_err(|_| "unreplayable")?;
        self.replayer
            .submit(&backend_id(&mirror.backend), req)
            .map_err(|reason| reason.as_str())
    }
}
