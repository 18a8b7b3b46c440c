//! The plan's types: what to capture and, per endpoint, the rules that decide mirroring.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::fraction::Fraction;
use crate::matching::RouteMatch;
use crate::problem::PlanProblem;
use crate::store::ObjectKey;

/// A Service port: `namespace/name:port`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ServicePortRef {
    /// Namespace.
    pub namespace: String,
    /// Service name.
    pub name: String,
    /// Service port number.
    pub port: u16,
}

impl ServicePortRef {
    /// The Service's key.
    pub fn service(&self) -> ObjectKey {
        ObjectKey::new(&self.namespace, &self.name)
    }
}

impl fmt::Display for ServicePortRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.namespace, self.name, self.port)
    }
}

/// Kind of a route parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ParentKind {
    /// A Gateway (north-south).
    Gateway,
    /// A Service (GAMMA, east-west).
    Service,
}

/// A parent routes attach to; precedence is decided among all routes of one parent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ParentKey {
    /// Gateway or Service.
    pub kind: ParentKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ParentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Identity of one rule of one route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RuleId {
    /// The HTTPRoute.
    pub route: ObjectKey,
    /// Index in `spec.rules`.
    pub rule_index: usize,
    /// `spec.rules[].name`, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule {}", self.route, self.rule_index)?;
        if let Some(n) = &self.rule_name {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

/// One resolved mirror of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MirrorTarget {
    /// Field path of the filter in the route (identifies the mirror).
    pub field: String,
    /// The mirror Service port.
    pub backend: ServicePortRef,
    /// Exact probability (percent → n/100, fraction → n/d, neither → 1/1).
    pub fraction: Fraction,
    /// Ready endpoint addresses of the mirror Service (any node), port mapped.
    pub endpoints: Vec<SocketAddr>,
    /// The Service's cluster IP, if any (with `backend.port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<IpAddr>,
    /// Replay options from the route's annotations (see [`crate::annotations`]).
    #[serde(skip_serializing_if = "MirrorOptions::is_default")]
    pub options: MirrorOptions,
}

/// Per-route replay and capture options, from the HTTPRoute's annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MirrorOptions {
    /// Replace the Host header of replayed requests with this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Header names removed from replayed requests (e.g. `authorization`, `cookie`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_headers: Vec<String>,
    /// The route asks for flow sampling in the kernel.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flow_sampling: bool,
}

impl MirrorOptions {
    /// Whether these are the defaults (nothing rewritten, per-request sampling).
    pub fn is_default(&self) -> bool {
        *self == MirrorOptions::default()
    }
}

/// One rule competing for requests on one parent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleEntry {
    /// The rule.
    pub id: RuleId,
    /// Whether its route carries the opt-in label.
    pub labelled: bool,
    /// The route's creationTimestamp (older wins ties).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Time>,
    /// Hostnames, narrowed by the parent's listeners; empty = any host.
    pub hostnames: Vec<String>,
    /// Matches (ORed), defaults applied.
    pub matches: Vec<RouteMatch>,
    /// Whether the rule sends requests to this endpoint (one of its backendRefs is one of the
    /// endpoint's backends). A request won by a rule that does not route here did not reach
    /// the endpoint through this parent.
    pub routes_here: bool,
    /// Mirrors (labelled routes only): rule filters, plus backendRef filters of the backends
    /// that are this endpoint's.
    pub mirrors: Vec<MirrorTarget>,
}

/// The rules of one parent, in tie-break order (oldest route, then namespace/name, then rule
/// index).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParentRules {
    /// The parent.
    pub parent: ParentKey,
    /// Its rules.
    pub rules: Vec<RuleEntry>,
}

/// The rule set of an endpoint: what [`crate::matching::route_request`] evaluates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointRules {
    /// Stable id (the kernel endpoint map value refers to it).
    pub id: u32,
    /// Backends (Service ports) the endpoint serves for labelled mirroring rules.
    pub backends: Vec<ServicePortRef>,
    /// One entry per parent.
    pub parents: Vec<ParentRules>,
}

/// A local pod endpoint to capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaptureEndpoint {
    /// Pod IP (v4 or v6) and container port.
    pub addr: SocketAddr,
    /// The pod.
    pub pod: ObjectKey,
    /// Id of its [`EndpointRules`] in [`Plan::route_sets`].
    pub route_set: u32,
    /// Largest mirror probability of the rules that can mirror here.
    pub max_fraction: Fraction,
    /// Whether flow sampling is in effect here: the node runs with `--flow-sampling`
    /// ([`crate::PlanConfig::flow_sampling`]), or every mirror that can fire here comes from
    /// a route annotated for it.
    pub flow_sampling: bool,
    /// The one flow pre-sample threshold of this endpoint, decided here and nowhere else:
    /// `floor(n·2³²/d)` of `max_fraction` when `flow_sampling` is in effect, else
    /// [`shadowtap_common::SAMPLE_ALL`] (every flow captured). The kernel map writer stores
    /// it and the per-request draw conditions on it (probability p/q), so the two always
    /// agree.
    pub capture_threshold: u64,
}

/// The mirror plan of one node.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Node the plan is for.
    pub node: String,
    /// Endpoints to capture, sorted by address.
    pub endpoints: Vec<CaptureEndpoint>,
    /// Rule sets by id.
    pub route_sets: BTreeMap<u32, EndpointRules>,
    /// Problems found (each disabled only what it affects).
    pub problems: Vec<PlanProblem>,
}

impl Plan {
    /// The rule set of a captured endpoint.
    pub fn rules_for(&self, addr: &SocketAddr) -> Option<&EndpointRules> {
        let ep = self.endpoints.iter().find(|e| e.addr == *addr)?;
        self.route_sets.get(&ep.route_set)
    }

    /// The endpoint entry for an address.
    pub fn endpoint(&self, addr: &SocketAddr) -> Option<&CaptureEndpoint> {
        self.endpoints.iter().find(|e| e.addr == *addr)
    }
}
