//! The pipeline's mirror sink: sampled requests queued on the mirror client, built from the
//! decoder's parsed request (no re-parse).

use shadowtap_mirror::{MirrorRequest, Replayer, Tally};
use shadowtap_reconstruct::Request;
use shadowtap_routes::plan::MirrorTarget;

use super::backend_id;
use crate::pipeline::MirrorSink;

/// Queues sampled requests on a [`Replayer`] (never blocks).
pub struct ReplayerSink {
    replayer: Replayer,
}

impl ReplayerSink {
    /// Wrap a replayer.
    pub fn new(replayer: Replayer) -> Self {
        Self { replayer }
    }
}

impl MirrorSink for ReplayerSink {
    fn submit(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        tally: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.replayer
            .submit_tallied(
                &backend_id(mirror),
                MirrorRequest::from_decoded(request),
                tally,
            )
            .map_err(|reason| reason.as_str())
    }
}
