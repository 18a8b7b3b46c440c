//! Differences between two plans (what to add, remove or update in the kernel maps).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;

use super::plan::{CaptureEndpoint, Plan};

/// What changed from one plan to the next.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlanDiff {
    /// Endpoints only in the new plan.
    pub added: Vec<CaptureEndpoint>,
    /// Endpoints only in the old plan.
    pub removed: Vec<CaptureEndpoint>,
    /// Endpoints in both whose entry or rule set changed (the new entry).
    pub changed: Vec<CaptureEndpoint>,
}

impl PlanDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl Plan {
    /// Endpoints added, removed and changed from `old` to `new`. An endpoint changed when its
    /// map value (route set id, threshold), pod, or the content of its rule set changed.
    pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
        let index = |p: &Plan| -> BTreeMap<SocketAddr, CaptureEndpoint> {
            p.endpoints.iter().map(|e| (e.addr, e.clone())).collect()
        };
        let (o, n) = (index(old), index(new));
        let mut d = PlanDiff::default();
        for (addr, ne) in &n {
            match o.get(addr) {
                None => d.added.push(ne.clone()),
                Some(oe) => {
                    let rules_changed =
                        old.route_sets.get(&oe.route_set) != new.route_sets.get(&ne.route_set);
                    if oe != ne || rules_changed {
                        d.changed.push(ne.clone());
                    }
                }
            }
        }
        d.removed = o
            .iter()
            .filter(|(a, _)| !n.contains_key(a))
            .map(|(_, e)| e.clone())
            .collect();
        d
    }
}
