//! Names of things: Kubernetes objects, Service ports, route parents and rules.

use std::fmt;

use kube::ResourceExt;
use serde::Serialize;

use super::store::DEFAULT_NAMESPACE;

/// `namespace/name` of a namespaced object.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// A key from its parts.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object (namespace defaults to [`DEFAULT_NAMESPACE`]).
    pub fn of<K: kube::Resource>(obj: &K) -> Self {
        Self {
            namespace: obj
                .namespace()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            name: obj.name_any(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

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

/// A parent routes attach to; precedence is decided among all routes of one parent. For a
/// Gateway the parent is one **listener** (routes on different listeners never compete);
/// for a Service (GAMMA, GEP-1294) it is one group of the Service's routes: its producer
/// routes (in the Service's namespace), or the consumer routes of one other namespace, on
/// one Service port that a route names, or on the Service's other ports.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ParentKey {
    /// Gateway or Service.
    pub kind: ParentKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The Gateway listener's name (`None` for Service parents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// Service parents: the namespace of the consumer routes this parent groups, which apply
    /// only to clients in that namespace; `None` = the producer routes (in the Service's own
    /// namespace), which apply to every other client. Always `None` for Gateway listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_namespace: Option<String>,
    /// Service parents: the Service port this group governs (`parentRef.port`, or the port
    /// its `sectionName` names), whose requests reach a pod at the targetPort that port maps
    /// to. `None` = the routes without a port, on every port of the Service that no route
    /// names (on a port some route names, they are in that port's group too). Always `None`
    /// for Gateway listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl ParentKey {
    /// The Gateway or Service object's key.
    pub fn object(&self) -> ObjectKey {
        ObjectKey::new(&self.namespace, &self.name)
    }

    /// Whether this parent groups the consumer routes of a Service (GEP-1294): routes in
    /// another namespace than the Service's, for clients in their own namespace.
    pub fn is_consumer(&self) -> bool {
        self.consumer_namespace.is_some()
    }
}

impl fmt::Display for ParentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}/{}", self.kind, self.namespace, self.name)?;
        if let Some(l) = &self.listener {
            write!(f, " listener {l}")?;
        }
        if let Some(p) = self.port {
            write!(f, " port {p}")?;
        }
        if let Some(ns) = &self.consumer_namespace {
            write!(f, " consumers in {ns}")?;
        }
        Ok(())
    }
}

/// Kind of a route: HTTPRoute or GRPCRoute (both `gateway.networking.k8s.io/v1`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RouteKind {
    /// HTTPRoute.
    #[default]
    #[serde(rename = "HTTPRoute")]
    Http,
    /// GRPCRoute.
    #[serde(rename = "GRPCRoute")]
    Grpc,
}

impl RouteKind {
    /// The Kubernetes kind (`HTTPRoute`, `GRPCRoute`).
    pub const fn as_kind(self) -> &'static str {
        match self {
            Self::Http => "HTTPRoute",
            Self::Grpc => "GRPCRoute",
        }
    }

    /// Whether this is an HTTPRoute (the default, left out of serialized plans).
    pub fn is_http(&self) -> bool {
        *self == Self::Http
    }

    /// The name of a route of this kind in metric labels and `shadowtap status`:
    /// `namespace/name` for an HTTPRoute (as before GRPCRoute support, so existing series,
    /// alerts and dashboards keep their values), `grpcroute:namespace/name` for a GRPCRoute,
    /// so a GRPCRoute never shares a series with an HTTPRoute of the same name.
    pub fn route_label(self, route: &ObjectKey) -> String {
        match self {
            Self::Http => route.to_string(),
            Self::Grpc => format!("grpcroute:{route}"),
        }
    }
}

/// Identity of one rule of one route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RuleId {
    /// The route's kind (HTTPRoute unless said otherwise).
    #[serde(skip_serializing_if = "RouteKind::is_http")]
    pub kind: RouteKind,
    /// The route.
    pub route: ObjectKey,
    /// Index in `spec.rules`.
    pub rule_index: usize,
    /// `spec.rules[].name`, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
}

impl RuleId {
    /// The route's name in metric labels (see [`RouteKind::route_label`]).
    pub fn route_label(&self) -> String {
        self.kind.route_label(&self.route)
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule {}", self.route_label(), self.rule_index)?;
        if let Some(n) = &self.rule_name {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}
