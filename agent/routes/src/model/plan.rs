//! The mirror plan of a node: what to capture and, per endpoint, the rules that decide
//! mirroring.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use shadowtap_compare::CompareMode;

use super::fraction::Fraction;
use super::keys::{ObjectKey, ParentKey, RuleId, ServicePortRef};
use super::mirror::MirrorTarget;
use super::problem::PlanProblem;
use super::route_match::RuleMatches;

/// One rule competing for requests on one parent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleEntry {
    /// The rule.
    pub id: RuleId,
    /// Whether the opt-in selector selects its route (its mirrors are shadowtap's).
    pub labelled: bool,
    /// The route's creationTimestamp (older wins ties).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<Time>,
    /// Hostnames, narrowed by the parent's listeners; empty = any host.
    pub hostnames: Vec<String>,
    /// Matches (ORed), defaults applied: an HTTPRoute rule's or a GRPCRoute rule's.
    pub matches: RuleMatches,
    /// Whether the rule sends requests to this endpoint, and if not why. A request won by a
    /// rule that does not route here did not reach the endpoint through this parent.
    pub delivery: Delivery,
    /// Mirrors (labelled routes only): rule filters, plus backendRef filters of the backends
    /// that are this endpoint's.
    pub mirrors: Vec<MirrorTarget>,
}

impl RuleEntry {
    /// Whether the rule sends requests to this endpoint.
    pub fn routes_here(&self) -> bool {
        self.delivery == Delivery::Here
    }
}

/// Whether a rule can deliver requests to an endpoint (the parent sends what the rule wins to
/// the rule's backends, weighted; a redirect is answered by the parent itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// A backendRef with a weight above 0 is one of the endpoint's backends.
    Here,
    /// Its backends (weight above 0) are other Services.
    OtherBackends,
    /// The endpoint's backend is listed with `weight: 0` (and no other of its backends is).
    WeightZero,
    /// A `RequestRedirect` filter: the parent answers, no backend receives the request.
    Redirect,
    /// No usable backendRef: the parent answers with an error.
    NoBackend,
}

impl Delivery {
    /// Stable name, for the plan table.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Here => "delivers here",
            Self::OtherBackends => "other backends",
            Self::WeightZero => "weight 0 here",
            Self::Redirect => "redirect",
            Self::NoBackend => "no backend",
        }
    }
}

/// The rules of one parent (a Gateway listener, or a Service), in tie-break order (oldest
/// route, then the string `namespace/name`, then rule index).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParentRules {
    /// The parent.
    pub parent: ParentKey,
    /// The listener's port (Gateway parents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The listener's hostname (Gateway parents; `None` = any host). Of the listeners of one
    /// Gateway that share a port, a request is handled by the one whose hostname matches it
    /// most specifically.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_hostname: Option<String>,
    /// The hostnames of the Gateway's other HTTP/HTTPS listeners on the same port (`None` =
    /// any host): a request whose host one of them matches more specifically is theirs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_siblings: Vec<Option<String>>,
    /// Its rules.
    pub rules: Vec<RuleEntry>,
}

/// The rule set of an endpoint: what request evaluation (`evaluate::route_request`) reads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndpointRules {
    /// Stable id (the kernel endpoint map value refers to it).
    pub id: u32,
    /// Backends (Service ports) the endpoint serves for labelled mirroring rules.
    pub backends: Vec<ServicePortRef>,
    /// One entry per parent. Of a Service (GAMMA), every group of routes is here when one
    /// is: its producer routes and the consumer routes of each namespace that has some.
    pub parents: Vec<ParentRules>,
}

impl EndpointRules {
    /// Whether a Service parent here has consumer routes: then deciding a request needs its
    /// client's namespace.
    pub fn has_consumer_routes(&self) -> bool {
        self.parents.iter().any(|p| p.parent.is_consumer())
    }
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
    /// (`PlanConfig::flow_sampling`), or every mirror that can fire here comes from a route
    /// annotated for it.
    pub flow_sampling: bool,
    /// The one flow pre-sample threshold of this endpoint, decided here and nowhere else:
    /// `floor(n·2³²/d)` of `max_fraction` when `flow_sampling` is in effect, else
    /// [`shadowtap_common::SAMPLE_ALL`] (every flow captured). The kernel map writer stores
    /// it and the per-request draw conditions on it (probability p/q), so the two always
    /// agree.
    pub capture_threshold: u64,
    /// The strongest comparison mode of the comparing mirrors that can fire here (`None`:
    /// no comparison, the kernel copies the client→server direction only). The kernel map
    /// value carries it, and decides from it what to copy of the pod→client direction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareMode>,
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
    /// Client pod IP → namespace, for the namespaces whose consumer routes (GAMMA) some
    /// rule set holds: what tells which clients those routes apply to. Pods in a terminal
    /// phase are left out; a client not found here follows the producer routes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub client_namespaces: BTreeMap<IpAddr, String>,
    /// IPs a pod of those namespaces has that do not tell its namespace: a host-network
    /// pod's (the node's IP), or one that pods of several namespaces claim. Their requests
    /// follow the producer routes, and are counted as of unknown namespace.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub unknown_clients: BTreeSet<IpAddr>,
}

impl Plan {
    /// The rule set of a captured endpoint.
    pub fn rules_for(&self, addr: &SocketAddr) -> Option<&EndpointRules> {
        let ep = self.endpoint(addr)?;
        self.route_sets.get(&ep.route_set)
    }

    /// The namespace of the client at `ip`, if it is a pod of a namespace with consumer
    /// routes in this plan.
    pub fn client_namespace(&self, ip: IpAddr) -> Option<&str> {
        self.client_namespaces
            .get(&ip.to_canonical())
            .map(String::as_str)
    }

    /// Whether the client at `ip` may be a pod of a namespace with consumer routes without
    /// its IP telling which (see [`Plan::unknown_clients`]).
    pub fn client_unknown(&self, ip: IpAddr) -> bool {
        self.unknown_clients.contains(&ip.to_canonical())
    }

    /// The endpoint entry for an address.
    pub fn endpoint(&self, addr: &SocketAddr) -> Option<&CaptureEndpoint> {
        self.endpoints.iter().find(|e| e.addr == *addr)
    }
}
