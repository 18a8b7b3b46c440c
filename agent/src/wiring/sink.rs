//! The pipeline's mirror sink: sampled requests queued on the mirror client, built from the
//! decoder's parsed request (no re-parse).

use shadowtap_mirror::{
    CompareTicket, DropReason, H2MirrorRequest, MirrorRequest, Replayer, Tally,
};
use shadowtap_reconstruct::{H2FlowRequest, Request};
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

    fn submit_compared(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        tally: Option<Tally>,
        ticket: CompareTicket,
    ) -> Result<(), &'static str> {
        self.replayer
            .submit_tallied(
                &backend_id(mirror),
                MirrorRequest::from_decoded(request).with_compare(ticket),
                tally,
            )
            .map_err(|reason| reason.as_str())
    }

    fn submit_h2(
        &mut self,
        mirror: &MirrorTarget,
        request: &H2FlowRequest,
        tally: Option<Tally>,
    ) -> Result<(), &'static str> {
        submit_h2(&self.replayer, &backend_id(mirror), request, tally)
    }
}

/// Queues an HTTP/2 request on `replayer` for backend `id`; one the HTTP/2 client cannot
/// send as received is refused as `bad_request` (logged at debug level, counted by the
/// pipeline's refusals).
pub fn submit_h2(
    replayer: &Replayer,
    id: &shadowtap_mirror::BackendId,
    request: &H2FlowRequest,
    tally: Option<Tally>,
) -> Result<(), &'static str> {
    match H2MirrorRequest::from_decoded(&request.request) {
        Ok(r) => replayer
            .submit_h2_tallied(id, r, tally)
            .map_err(|reason| reason.as_str()),
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/2 request not replayable");
            Err(DropReason::BadRequest.as_str())
        }
    }
}
