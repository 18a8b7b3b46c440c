//! Plan → the kernel's endpoint map: each planned endpoint with its route set and the
//! plan's capture threshold, applied as upserts before removals.

use std::{collections::BTreeMap, net::SocketAddr};

use shadowtap_common::EndpointValue;
use shadowtap_routes::Plan;

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
