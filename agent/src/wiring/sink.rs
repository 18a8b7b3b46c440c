//! The pipeline's mirror sink: sampled requests queued on the mirror client, built from the
//! decoder's parsed request (no re-parse).

use std::collections::HashMap;

use foldhash::fast::RandomState;
use shadowtap_mirror::{
    BackendId, CompareTicket, DropReason, H2MirrorRequest, MirrorRequest, Replayer, Tally, Wake,
};
use shadowtap_reconstruct::{H2FlowRequest, Request};
use shadowtap_routes::{
    plan::{MirrorOptions, MirrorTarget, ServicePortRef},
    Plan,
};

use super::backend_id;
use crate::pipeline::MirrorSink;

/// Queues sampled requests on a [`Replayer`] (never blocks).
pub struct ReplayerSink {
    replayer: Replayer,
    ids: BackendIds,
    wake: Wake,
}

impl ReplayerSink {
    /// Wrap a replayer; every request wakes its backend's workers at once.
    pub fn new(replayer: Replayer) -> Self {
        Self {
            replayer,
            ids: BackendIds::default(),
            wake: Wake::Now,
        }
    }

    /// Wrap a replayer; the workers of a backend are woken once per pass over the ring
    /// ([`MirrorSink::flush`]), so a busy backend gets whole pipelined batches instead of a
    /// worker wake-up, a write and a read per request.
    pub fn deferring(replayer: Replayer) -> Self {
        Self {
            wake: Wake::Deferred,
            ..Self::new(replayer)
        }
    }
}

impl MirrorSink for ReplayerSink {
    fn submit(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        tally: Option<Tally>,
    ) -> Result<(), &'static str> {
        let id = self.ids.get(mirror);
        self.replayer
            .submit_tallied_waking(&id, MirrorRequest::from_decoded(request), tally, self.wake)
            .map_err(|reason| reason.as_str())
    }

    fn submit_compared(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        tally: Option<Tally>,
        ticket: CompareTicket,
    ) -> Result<(), &'static str> {
        let id = self.ids.get(mirror);
        self.replayer
            .submit_tallied_waking(
                &id,
                MirrorRequest::from_decoded(request).with_compare(ticket),
                tally,
                self.wake,
            )
            .map_err(|reason| reason.as_str())
    }

    fn submit_h2(
        &mut self,
        mirror: &MirrorTarget,
        request: &H2FlowRequest,
        tally: Option<Tally>,
    ) -> Result<(), &'static str> {
        let id = self.ids.get(mirror);
        submit_h2(&self.replayer, &id, request, tally, self.wake)
    }

    fn submit_h2_compared(
        &mut self,
        mirror: &MirrorTarget,
        request: &H2FlowRequest,
        tally: Option<Tally>,
        ticket: CompareTicket,
    ) -> Result<(), &'static str> {
        let id = self.ids.get(mirror);
        match H2MirrorRequest::from_decoded(&request.request) {
            Ok(r) => self
                .replayer
                .submit_h2_tallied_waking(&id, r.with_compare(ticket), tally, self.wake)
                .map_err(|reason| reason.as_str()),
            Err(e) => {
                // The ticket goes with the request: the pair's mirror side is failed.
                tracing::debug!(error = %e, "HTTP/2 request not replayable");
                Err(DropReason::BadRequest.as_str())
            }
        }
    }

    fn set_plan(&mut self, plan: &Plan) {
        self.ids.set_plan(plan);
    }

    fn flush(&mut self) {
        if self.wake == Wake::Deferred {
            self.replayer.wake_deferred();
        }
    }
}

/// The replayer's [`BackendId`] of each mirror of the current plan, computed once per plan
/// rather than once per submitted request (two strings and the rewrite options each time).
///
/// Keyed by the mirror's address in the plan, which the pipeline keeps alive until its next
/// plan (when this is rebuilt). An entry is used only when its Service port and options are
/// the mirror's (compared, not copied), so a mirror from anywhere else gets its id
/// computed, never a wrong one.
#[derive(Debug, Default)]
struct BackendIds {
    by_mirror: HashMap<usize, Entry, RandomState>,
}

/// What an id was computed from, and the id.
#[derive(Debug)]
struct Entry {
    backend: ServicePortRef,
    options: MirrorOptions,
    id: BackendId,
}

impl Entry {
    fn new(mirror: &MirrorTarget) -> Self {
        Entry {
            backend: mirror.backend.clone(),
            options: mirror.options.clone(),
            id: backend_id(mirror),
        }
    }
}

/// An id from the cache, or computed for a mirror outside the plan.
enum Id<'a> {
    Cached(&'a BackendId),
    Computed(BackendId),
}

impl std::ops::Deref for Id<'_> {
    type Target = BackendId;

    fn deref(&self) -> &BackendId {
        match self {
            Id::Cached(id) => id,
            Id::Computed(id) => id,
        }
    }
}

fn key(mirror: &MirrorTarget) -> usize {
    std::ptr::from_ref(mirror) as usize
}

impl BackendIds {
    fn set_plan(&mut self, plan: &Plan) {
        self.by_mirror.clear();
        let mirrors = plan
            .route_sets
            .values()
            .flat_map(|s| s.parents.iter())
            .flat_map(|p| p.rules.iter())
            .flat_map(|r| r.mirrors.iter());
        for m in mirrors {
            self.by_mirror.insert(key(m), Entry::new(m));
        }
    }

    fn get(&self, mirror: &MirrorTarget) -> Id<'_> {
        match self.by_mirror.get(&key(mirror)) {
            Some(e) if e.backend == mirror.backend && e.options == mirror.options => {
                Id::Cached(&e.id)
            }
            _ => Id::Computed(backend_id(mirror)),
        }
    }
}

/// Queues an HTTP/2 request on `replayer` for backend `id`; one the HTTP/2 client cannot
/// send as received is refused as `bad_request` (logged at debug level, counted by the
/// pipeline's refusals); `wake` says when its backend's workers are woken.
pub fn submit_h2(
    replayer: &Replayer,
    id: &shadowtap_mirror::BackendId,
    request: &H2FlowRequest,
    tally: Option<Tally>,
    wake: Wake,
) -> Result<(), &'static str> {
    match H2MirrorRequest::from_decoded(&request.request) {
        Ok(r) => replayer
            .submit_h2_tallied_waking(id, r, tally, wake)
            .map_err(|reason| reason.as_str()),
        Err(e) => {
            tracing::debug!(error = %e, "HTTP/2 request not replayable");
            Err(DropReason::BadRequest.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(name: &str, options: MirrorOptions) -> MirrorTarget {
        MirrorTarget {
            field: "spec.rules[0].filters[0]".into(),
            backend: ServicePortRef {
                namespace: "default".into(),
                name: name.into(),
                port: 8080,
            },
            fraction: shadowtap_routes::Fraction::ONE,
            endpoints: Vec::new(),
            cluster_ip: None,
            protocol: Default::default(),
            options,
        }
    }

    #[test]
    fn ids_are_the_computed_ones_and_never_another_mirrors() {
        let plain = mirror("foo-v2", MirrorOptions::default());
        let rewrite = mirror(
            "foo-v2",
            MirrorOptions {
                host: Some("shadow.example".into()),
                ..MirrorOptions::default()
            },
        );
        let mut ids = BackendIds::default();
        ids.by_mirror.insert(key(&plain), Entry::new(&plain));
        ids.by_mirror.insert(key(&rewrite), Entry::new(&rewrite));
        assert!(matches!(ids.get(&plain), Id::Cached(id) if *id == backend_id(&plain)));
        assert!(matches!(ids.get(&rewrite), Id::Cached(id) if *id == backend_id(&rewrite)));
        // A stale entry at a reused address is not used for another Service, nor for the
        // same Service with other options.
        let other = mirror("bar", MirrorOptions::default());
        ids.by_mirror.insert(key(&other), Entry::new(&plain));
        assert!(matches!(ids.get(&other), Id::Computed(id) if id == backend_id(&other)));
        ids.by_mirror.insert(key(&plain), Entry::new(&rewrite));
        assert!(matches!(ids.get(&plain), Id::Computed(id) if id == backend_id(&plain)));
        // A mirror the plan does not hold is computed.
        let outside = mirror("foo-v2", MirrorOptions::default());
        assert!(matches!(ids.get(&outside), Id::Computed(id) if id == backend_id(&plain)));
    }
}
