//! Plan → the kernel's endpoint map: each planned endpoint with its route set, the plan's
//! capture threshold and what to copy of its responses, applied as upserts before removals.

use std::{collections::BTreeMap, net::SocketAddr};

use shadowtap_common::{compare_mode, EndpointValue};
use shadowtap_compare::CompareMode;
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
                    compare: kernel_compare_mode(e.compare),
                    _pad: [0; 3],
                    threshold: e.capture_threshold,
                },
            )
        })
        .collect()
}

/// The endpoint map's form of a comparison mode: what the kernel copies of responses.
pub fn kernel_compare_mode(mode: Option<CompareMode>) -> u8 {
    match mode {
        None => compare_mode::OFF,
        Some(CompareMode::Status) => compare_mode::STATUS,
        Some(CompareMode::Headers) => compare_mode::HEADERS,
        Some(CompareMode::Body) => compare_mode::BODY,
    }
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
