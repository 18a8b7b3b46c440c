//! Service ports of GAMMA parents: which group of a Service's routes governs a request that
//! reached a pod at a given port.
//!
//! A Service parentRef with a `port` (or a `sectionName`, which names a Service port)
//! attaches its route to that Service port only; one without attaches it to every port
//! (Gateway API `ParentReference.port`; upstream conformance `MeshPorts`). Precedence is
//! decided per Service port, so a Service's routes (of one audience: its producer routes,
//! or the consumer routes of one namespace) form one group per port that some route names,
//! holding that port's routes and the routes without a port, plus one group of the routes
//! without a port for the Service's other ports. Where no route names a port, that last
//! group is the only one, as before ports counted.
//!
//! Without a mesh a request to a Service port reaches a pod at the targetPort that port maps
//! to (a number, or a container port name resolved per Pod): that is what tells the groups
//! apart at the pod. When two Service ports map to the same targetPort the pod cannot tell
//! them apart: both groups decide such requests, as listeners that could each have delivered
//! a request do (README, "Several listeners"), and `ambiguous_parent` says so.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::addresses::resolve_target_port;
use super::parents::Attachment;
use super::route::RouteInfo;
use crate::model::{ObjectKey, ParentKey, ParentKind, Store};

/// A Service's routes of one audience: the Service and the consumer namespace (`None` =
/// producer routes).
type Audience = (ObjectKey, Option<String>);

fn audience(p: &ParentKey) -> Audience {
    (p.object(), p.consumer_namespace.clone())
}

/// The Service-port groups of one plan: for each group with a port, the targetPort it maps
/// to; for each audience, its groups with a port.
#[derive(Debug, Default)]
pub struct PortGroups {
    targets: BTreeMap<ParentKey, Option<IntOrString>>,
    ported: BTreeMap<Audience, Vec<ParentKey>>,
}

impl PortGroups {
    /// The groups of `routes` (after [`join_port_groups`]).
    pub fn of(routes: &[&RouteInfo]) -> Self {
        let mut out = Self::default();
        for r in routes {
            for (p, att) in &r.parents {
                if p.kind != ParentKind::Service || p.port.is_none() {
                    continue;
                }
                if out.targets.contains_key(p) {
                    continue;
                }
                out.targets.insert(p.clone(), att.target_port.clone());
                out.ported.entry(audience(p)).or_default().push(p.clone());
            }
        }
        out
    }

    /// Whether `parent` governs requests that reached pod `pod` at port `port`: a Gateway
    /// listener always (the pod cannot tell listeners apart); a Service port's group when
    /// that Service port maps to `port` on the pod; the group of a Service's routes without
    /// a port when none of the same audience's port groups does.
    pub fn applies(&self, store: &Store, parent: &ParentKey, pod: &ObjectKey, port: u16) -> bool {
        match (parent.kind, parent.port) {
            (ParentKind::Gateway, _) => true,
            (ParentKind::Service, Some(service_port)) => {
                let target = self.targets.get(parent).and_then(Option::as_ref);
                resolve_target_port(store.pods.get(pod).map(|p| &**p), service_port, target)
                    == Some(port)
            }
            (ParentKind::Service, None) => !self
                .ported
                .get(&audience(parent))
                .into_iter()
                .flatten()
                .any(|p| self.applies(store, p, pod, port)),
        }
    }
}

/// Puts the routes without a port on a Service into each port group of the same audience
/// (precedence is per Service port, and a route without a port is on every port). Only the
/// routes that join a group are copied; when no route names a Service port, nothing is.
pub fn join_port_groups(routes: &mut [Cow<'_, RouteInfo>]) {
    // For each audience, its port groups and their attachment's targetPort.
    let mut ported: BTreeMap<Audience, BTreeMap<ParentKey, Option<IntOrString>>> = BTreeMap::new();
    for r in routes.iter() {
        for (p, att) in &r.parents {
            if p.kind == ParentKind::Service && p.port.is_some() {
                ported
                    .entry(audience(p))
                    .or_default()
                    .entry(p.clone())
                    .or_insert_with(|| att.target_port.clone());
            }
        }
    }
    if ported.is_empty() {
        return;
    }
    for r in routes.iter_mut() {
        let joins: Vec<(ParentKey, Attachment)> = r
            .parents
            .iter()
            .filter(|(p, _)| p.kind == ParentKind::Service && p.port.is_none())
            .filter_map(|(p, att)| ported.get(&audience(p)).map(|groups| (groups, att)))
            .flat_map(|(groups, att)| {
                groups.iter().map(move |(g, target)| {
                    let mut joined = att.clone();
                    joined.target_port = target.clone();
                    (g.clone(), joined)
                })
            })
            .filter(|(g, _)| !r.parents.contains_key(g))
            .collect();
        if joins.is_empty() {
            continue;
        }
        r.to_mut().parents.extend(joins);
    }
}
