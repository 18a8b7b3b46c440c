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
//! to (a number, or a container port name resolved per Pod, as the Service's EndpointSlices
//! say for its endpoints): that is what tells the groups apart at the pod. When two Service ports map to the same targetPort the pod cannot tell
//! them apart: both groups decide such requests, as listeners that could each have delivered
//! a request do (README, "Several listeners"), and `ambiguous_parent` says so.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::addresses::resolve_target_port;
use super::parents::Attachment;
use super::plan::CaptureAddrs;
use super::route::RouteInfo;
use crate::model::{ObjectKey, ParentKey, ParentKind, ServicePortRef, Store};

/// A Service's routes of one audience: the Service and the consumer namespace (`None` =
/// producer routes).
type Audience = (ObjectKey, Option<String>);

fn audience(p: &ParentKey) -> Audience {
    (p.object(), p.consumer_namespace.clone())
}

/// Where one Service port's requests reach this node's pods.
#[derive(Debug)]
struct PortTarget {
    /// The Service port's targetPort (unset = the port's number).
    target_port: Option<IntOrString>,
    /// The Service's local endpoints at that port, as captures resolve them (its
    /// EndpointSlices, else its selector and each Pod's ports).
    endpoints: Arc<BTreeMap<SocketAddr, ObjectKey>>,
    /// The Pods among them.
    pods: BTreeSet<ObjectKey>,
}

/// The Service-port groups of one plan: for each group with a port, its targetPort and
/// (looked up on first use: only the parents of endpoints a plan captures are ever asked
/// about) where that port's requests reach the pods; for each audience, its groups with a
/// port.
#[derive(Debug, Default)]
pub struct PortGroups {
    target_ports: BTreeMap<ParentKey, Option<IntOrString>>,
    targets: BTreeMap<ParentKey, PortTarget>,
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
                if out.target_ports.contains_key(p) {
                    continue;
                }
                out.target_ports.insert(p.clone(), att.target_port.clone());
                out.ported.entry(audience(p)).or_default().push(p.clone());
            }
        }
        out
    }

    /// Where port group `parent`'s requests reach this node's pods; `capture` gives the
    /// local endpoints of a Service port. `None` for a parent that is no port group.
    fn target(
        &mut self,
        parent: &ParentKey,
        capture: &mut CaptureAddrs<'_>,
    ) -> Option<&PortTarget> {
        if !self.targets.contains_key(parent) {
            let target_port = self.target_ports.get(parent)?.clone();
            let endpoints = capture(&ServicePortRef {
                namespace: parent.namespace.clone(),
                name: parent.name.clone(),
                port: parent.port?,
            });
            let pods = endpoints.values().cloned().collect();
            self.targets.insert(
                parent.clone(),
                PortTarget {
                    target_port,
                    endpoints,
                    pods,
                },
            );
        }
        self.targets.get(parent)
    }

    /// Whether `parent` governs requests that reached pod `pod` at `addr`: a Gateway
    /// listener always (the pod cannot tell listeners apart); a Service port's group when
    /// that Service port maps to `addr` on the pod — where the pod is one of the Service's
    /// endpoints, as its EndpointSlices say (the captures' own resolution), else (a pod the
    /// Service does not select, e.g. behind a Service without selector) by the port's
    /// targetPort on the Pod; the group of a Service's routes without a port when none of
    /// the same audience's port groups does.
    pub fn applies(
        &mut self,
        store: &Store,
        capture: &mut CaptureAddrs<'_>,
        parent: &ParentKey,
        pod: &ObjectKey,
        addr: &SocketAddr,
    ) -> bool {
        match (parent.kind, parent.port) {
            (ParentKind::Gateway, _) => true,
            (ParentKind::Service, Some(service_port)) => {
                let Some(t) = self.target(parent, capture) else {
                    return false;
                };
                if t.pods.contains(pod) {
                    return t.endpoints.contains_key(addr);
                }
                let pod = store.pods.get(pod).map(|p| &**p);
                resolve_target_port(pod, service_port, t.target_port.as_ref()) == Some(addr.port())
            }
            (ParentKind::Service, None) => {
                // No port group: the routes without a port are on every port. The groups
                // are taken out while they are asked (no copy), then put back.
                let audience = audience(parent);
                let Some(groups) = self.ported.remove(&audience) else {
                    return true;
                };
                let taken = groups
                    .iter()
                    .any(|p| self.applies(store, capture, p, pod, addr));
                self.ported.insert(audience, groups);
                !taken
            }
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
