//! The control side: keeps the kernel (attachments, endpoint map) and the mirror client's
//! backends equal to the current plan.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use shadowtap_common::EndpointValue;
use shadowtap_routes::Plan;

use super::{telemetry::ControlGauges, Attachments};
use crate::wiring::{desired_endpoints, sync_backends, sync_endpoints};
use shadowtap_mirror::{BackendId, Replayer};

use crate::datapath::{Datapath, MapHandles};

/// What has been applied to the kernel and the mirror client.
pub struct Control {
    attachments: Attachments,
    maps: Arc<Mutex<MapHandles>>,
    replayer: Replayer,
    gauges: ControlGauges,
    endpoints: BTreeMap<SocketAddr, EndpointValue>,
    backends: BTreeSet<BackendId>,
}

impl Control {
    /// Nothing applied yet.
    pub fn new(
        attachments: Attachments,
        maps: Arc<Mutex<MapHandles>>,
        replayer: Replayer,
        gauges: ControlGauges,
    ) -> Self {
        Self {
            attachments,
            maps,
            replayer,
            gauges,
            endpoints: BTreeMap::new(),
            backends: BTreeSet::new(),
        }
    }

    /// Apply `plan`: attachments first (so an endpoint is captured as soon as it is in the
    /// map), then the endpoint map, then the mirror backends and the gauges. Failures are
    /// logged and retried on the next call.
    pub fn apply(&mut self, dp: &mut Datapath, plan: &Plan) {
        tokio::task::block_in_place(|| self.attachments.reconcile(dp, plan));
        let desired = desired_endpoints(plan);
        let result = {
            let mut m = self.maps.lock().unwrap_or_else(|e| e.into_inner());
            sync_endpoints(&mut m, &mut self.endpoints, desired)
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "endpoint map not updated");
        }
        self.backends = sync_backends(&self.replayer, plan, &self.backends);
        self.gauges.set_problems(&plan.problems);
        self.gauges.set_attached(self.attachments.count());
    }

    /// Interfaces with a capture program.
    pub fn attached(&self) -> usize {
        self.attachments.count()
    }

    /// Detach everything.
    pub fn detach(&mut self) {
        self.attachments.clear();
    }
}
