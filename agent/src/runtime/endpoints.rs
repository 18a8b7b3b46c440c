//! Keeping the kernel's endpoint map and the replayer's backends equal to the plan.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
};

use shadowtap_common::EndpointValue;
use shadowtap_routes::Plan;

use super::sink::{backend_id, rewrite_options};
use shadowtap_mirror::{BackendId, Replayer, RewriteOptions};

use crate::datapath::{DatapathError, MapHandles};

/// The kernel map entry of every planned endpoint: its route set and the plan's capture
/// threshold, which the pipeline's per-request draw reads too.
pub fn desired_endpoints(plan: &Plan) -> BTreeMap<SocketAddr, EndpointValue> {
    plan.endpoints
        .iter()
        .map(|e| {
            (
                e.addr,
                EndpointValue {
                    route_set: e.route_set,
                    _pad: 0,
                    threshold: e.capture_threshold,
                },
            )
        })
        .collect()
}

/// Apply `desired` to the kernel map, given what was applied last (`current`), which is
/// updated. Upserts come before removals so a changed endpoint is never absent.
pub fn sync_endpoints(
    maps: &mut MapHandles,
    current: &mut BTreeMap<SocketAddr, EndpointValue>,
    desired: BTreeMap<SocketAddr, EndpointValue>,
) -> Result<(), DatapathError> {
    for (addr, value) in &desired {
        if current.get(addr) != Some(value) {
            maps.upsert_endpoint(addr.ip(), addr.port(), *value)?;
        }
    }
    for addr in current.keys() {
        if !desired.contains_key(addr) {
            maps.remove_endpoint(addr.ip(), addr.port())?;
        }
    }
    *current = desired;
    Ok(())
}

/// Configure the replayer's backends for every mirror of the plan; remove the ones no longer
/// mirrored to. Returns the new set.
pub fn sync_backends(
    replayer: &Replayer,
    plan: &Plan,
    previous: &BTreeSet<BackendId>,
) -> BTreeSet<BackendId> {
    let mut endpoints: BTreeMap<BackendId, (RewriteOptions, BTreeSet<SocketAddr>)> =
        BTreeMap::new();
    for rules in plan.route_sets.values() {
        for parent in &rules.parents {
            for rule in &parent.rules {
                for m in &rule.mirrors {
                    endpoints
                        .entry(backend_id(m))
                        .or_insert_with(|| (rewrite_options(m), BTreeSet::new()))
                        .1
                        .extend(m.endpoints.iter().copied());
                }
            }
        }
    }
    for (id, (rewrite, addrs)) in &endpoints {
        if !previous.contains(id) {
            // The id encodes the rewrite, so an existing backend's options never change.
            if let Err(e) = replayer.set_backend(id, rewrite.clone()) {
                tracing::warn!(backend = %id, error = %e, "mirror backend not configured");
                continue;
            }
        }
        replayer.set_endpoints(id, addrs.iter().copied().collect());
    }
    for id in previous {
        if !endpoints.contains_key(id) {
            replayer.remove_backend(id);
        }
    }
    endpoints.into_keys().collect()
}
