//! The object store: every Kubernetes object the plan is computed from.
//!
//! Both sources (files and the Kubernetes API) fill a [`Store`]; a changed store yields a new
//! plan (`compile::plan`).

use std::collections::BTreeMap;

use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use super::keys::ObjectKey;

/// The Gateway API group (HTTPRoute, GRPCRoute, Gateway, ReferenceGrant).
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Namespace of objects that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Label Kubernetes puts on every Namespace, naming it.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Label of an EndpointSlice naming its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// One object of a kind the store holds.
#[derive(Clone, Debug)]
pub enum Object {
    /// gateway.networking.k8s.io HTTPRoute.
    HttpRoute(Box<HttpRoute>),
    /// gateway.networking.k8s.io GRPCRoute.
    GrpcRoute(Box<GrpcRoute>),
    /// gateway.networking.k8s.io Gateway.
    Gateway(Box<Gateway>),
    /// core/v1 Service.
    Service(Box<Service>),
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice(Box<EndpointSlice>),
    /// gateway.networking.k8s.io ReferenceGrant.
    ReferenceGrant(Box<ReferenceGrant>),
    /// core/v1 Pod.
    Pod(Box<Pod>),
    /// core/v1 Namespace (cluster-scoped: its key has an empty namespace).
    Namespace(Box<Namespace>),
}

impl Object {
    /// The object's `namespace/name`.
    pub fn key(&self) -> ObjectKey {
        match self {
            Self::HttpRoute(o) => ObjectKey::of(o.as_ref()),
            Self::GrpcRoute(o) => ObjectKey::of(o.as_ref()),
            Self::Gateway(o) => ObjectKey::of(o.as_ref()),
            Self::Service(o) => ObjectKey::of(o.as_ref()),
            Self::EndpointSlice(o) => ObjectKey::of(o.as_ref()),
            Self::ReferenceGrant(o) => ObjectKey::of(o.as_ref()),
            Self::Pod(o) => ObjectKey::of(o.as_ref()),
            Self::Namespace(o) => ObjectKey::new("", o.name_any()),
        }
    }
}

/// Every object the plan depends on, keyed by `namespace/name` per kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Store {
    /// HTTPRoutes (all of them: unlabelled routes compete for precedence too).
    pub routes: BTreeMap<ObjectKey, HttpRoute>,
    /// GRPCRoutes (all of them, like HTTPRoutes).
    pub grpc_routes: BTreeMap<ObjectKey, GrpcRoute>,
    /// Gateways (listener hostnames).
    pub gateways: BTreeMap<ObjectKey, Gateway>,
    /// Services.
    pub services: BTreeMap<ObjectKey, Service>,
    /// EndpointSlices.
    pub endpoint_slices: BTreeMap<ObjectKey, EndpointSlice>,
    /// ReferenceGrants.
    pub reference_grants: BTreeMap<ObjectKey, ReferenceGrant>,
    /// Pods. The Kubernetes source holds this node's, and those of the namespaces with GAMMA
    /// consumer routes on every node (stripped to name, namespace, node, host network, phase
    /// and IPs: the client index reads them).
    pub pods: BTreeMap<ObjectKey, Pod>,
    /// Namespaces by name (their labels decide `allowedRoutes` namespace selectors).
    pub namespaces: BTreeMap<String, Namespace>,
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `obj`; returns `true` if an object of the same kind and key was replaced.
    pub fn insert(&mut self, obj: Object) -> bool {
        let key = obj.key();
        match obj {
            Object::HttpRoute(o) => self.routes.insert(key, *o).is_some(),
            Object::GrpcRoute(o) => self.grpc_routes.insert(key, *o).is_some(),
            Object::Gateway(o) => self.gateways.insert(key, *o).is_some(),
            Object::Service(o) => self.services.insert(key, *o).is_some(),
            Object::EndpointSlice(o) => self.endpoint_slices.insert(key, *o).is_some(),
            Object::ReferenceGrant(o) => self.reference_grants.insert(key, *o).is_some(),
            Object::Pod(o) => self.pods.insert(key, *o).is_some(),
            Object::Namespace(o) => self.namespaces.insert(key.name, *o).is_some(),
        }
    }

    /// The EndpointSlices of Service `svc` (by the `kubernetes.io/service-name` label).
    pub fn slices_of<'a>(&'a self, svc: &'a ObjectKey) -> impl Iterator<Item = &'a EndpointSlice> {
        self.endpoint_slices
            .iter()
            .filter(move |(k, s)| {
                k.namespace == svc.namespace
                    && s.labels().get(SERVICE_NAME_LABEL) == Some(&svc.name)
            })
            .map(|(_, s)| s)
    }

    /// Number of objects of all kinds.
    pub fn len(&self) -> usize {
        self.routes.len()
            + self.grpc_routes.len()
            + self.gateways.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.reference_grants.len()
            + self.pods.len()
            + self.namespaces.len()
    }

    /// The labels of namespace `name`. Kubernetes labels every namespace with
    /// `kubernetes.io/metadata.name: <name>`; a namespace not in the store (e.g. the file
    /// source without Namespace documents) has that label only.
    pub fn namespace_labels(&self, name: &str) -> BTreeMap<String, String> {
        let mut labels = self
            .namespaces
            .get(name)
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default();
        labels
            .entry(NAMESPACE_NAME_LABEL.to_owned())
            .or_insert_with(|| name.to_owned());
        labels
    }

    /// Whether the store holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
