//! The object store: every Kubernetes object the plan is computed from.
//!
//! Both sources (files and the Kubernetes API) fill a [`Store`]; a changed store yields a new
//! plan (`compile::plan`). Objects are held as [`Shared`]: the Kubernetes source puts the
//! allocations its reflectors hold ([`Store::put`], [`Store::remove`]), so each object is in
//! memory once and a new store version copies pointers. EndpointSlices are indexed by their
//! Service ([`Store::slices_of`]).

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use super::compact_slice::CompactSlice;
use super::journal::{Journal, JournalMark, Touched};
use super::keys::ObjectKey;
use super::shared::Shared;

/// The Gateway API group (HTTPRoute, GRPCRoute, Gateway, ReferenceGrant).
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Namespace of objects that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Label Kubernetes puts on every Namespace, naming it.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

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
///
/// Add objects with [`Store::insert`] or [`Store::put`] and take them away with
/// [`Store::remove`]: they keep the EndpointSlice index in step (writing to the maps
/// directly is fine for every kind but EndpointSlices).
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// HTTPRoutes (all of them: unlabelled routes compete for precedence too).
    pub routes: BTreeMap<ObjectKey, Shared<HttpRoute>>,
    /// GRPCRoutes (all of them, like HTTPRoutes).
    pub grpc_routes: BTreeMap<ObjectKey, Shared<GrpcRoute>>,
    /// Gateways (listener hostnames).
    pub gateways: BTreeMap<ObjectKey, Shared<Gateway>>,
    /// Services.
    pub services: BTreeMap<ObjectKey, Shared<Service>>,
    /// EndpointSlices, in their compact form (what planning reads of them).
    pub endpoint_slices: BTreeMap<ObjectKey, Shared<CompactSlice>>,
    /// ReferenceGrants.
    pub reference_grants: BTreeMap<ObjectKey, Shared<ReferenceGrant>>,
    /// Pods. The Kubernetes source holds this node's, and those of the namespaces with GAMMA
    /// consumer routes on every node (stripped to name, namespace, node, host network, phase
    /// and IPs: the client index reads them).
    pub pods: BTreeMap<ObjectKey, Shared<Pod>>,
    /// Namespaces by name (their labels decide `allowedRoutes` namespace selectors).
    pub namespaces: BTreeMap<String, Shared<Namespace>>,
    /// EndpointSlice keys by their Service (`namespace` + `kubernetes.io/service-name`).
    slices_by_service: BTreeMap<ObjectKey, BTreeSet<ObjectKey>>,
    /// What [`Store::put`] and [`Store::remove`] changed recently.
    journal: Journal,
}

/// Two stores are equal when they hold equal objects (the index follows from them; the
/// journal is history, not content).
impl PartialEq for Store {
    fn eq(&self, other: &Self) -> bool {
        self.routes == other.routes
            && self.grpc_routes == other.grpc_routes
            && self.gateways == other.gateways
            && self.services == other.services
            && self.endpoint_slices == other.endpoint_slices
            && self.reference_grants == other.reference_grants
            && self.pods == other.pods
            && self.namespaces == other.namespaces
    }
}

/// A kind of object the store holds: where it goes and under which key.
pub trait StoreKind: Clone + Sized {
    /// The key of the kind's map.
    type Key: Ord + Clone;
    /// The key of `obj`.
    fn store_key(obj: &Self) -> Self::Key;
    /// The key of the object `name` in `namespace` (none for cluster-scoped kinds).
    fn key_from(namespace: Option<&str>, name: &str) -> Self::Key;
    /// The kind's map.
    fn map(store: &mut Store) -> &mut BTreeMap<Self::Key, Shared<Self>>;
    /// What a change of `obj` (under `key`) touches, for the journal (none: nothing reads
    /// it by that key).
    fn touched(key: &Self::Key, obj: &Self) -> Option<Touched>;
    /// Keeps the store's indexes in step with a change of `key` from `old` to `new`.
    fn reindex(_store: &mut Store, _key: &Self::Key, _old: Option<&Self>, _new: Option<&Self>) {}
}

macro_rules! store_kind {
    ($ty:ty, $field:ident, $touched:ident) => {
        impl StoreKind for $ty {
            type Key = ObjectKey;
            fn store_key(obj: &Self) -> ObjectKey {
                ObjectKey::of(obj)
            }
            fn key_from(namespace: Option<&str>, name: &str) -> ObjectKey {
                ObjectKey::new(namespace.unwrap_or(DEFAULT_NAMESPACE), name)
            }
            fn map(store: &mut Store) -> &mut BTreeMap<ObjectKey, Shared<Self>> {
                &mut store.$field
            }
            fn touched(key: &ObjectKey, _obj: &Self) -> Option<Touched> {
                Some(Touched::$touched(key.clone()))
            }
        }
    };
}

store_kind!(HttpRoute, routes, HttpRoute);
store_kind!(GrpcRoute, grpc_routes, GrpcRoute);
store_kind!(Gateway, gateways, Gateway);
store_kind!(Service, services, Service);
store_kind!(Pod, pods, Pod);

impl StoreKind for ReferenceGrant {
    type Key = ObjectKey;
    fn store_key(obj: &Self) -> ObjectKey {
        ObjectKey::of(obj)
    }
    fn key_from(namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey::new(namespace.unwrap_or(DEFAULT_NAMESPACE), name)
    }
    fn map(store: &mut Store) -> &mut BTreeMap<ObjectKey, Shared<Self>> {
        &mut store.reference_grants
    }
    fn touched(key: &ObjectKey, _obj: &Self) -> Option<Touched> {
        Some(Touched::GrantsIn(key.namespace.clone()))
    }
}

impl StoreKind for CompactSlice {
    type Key = ObjectKey;
    fn store_key(obj: &Self) -> ObjectKey {
        obj.key.clone()
    }
    fn key_from(namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey::new(namespace.unwrap_or(DEFAULT_NAMESPACE), name)
    }
    fn map(store: &mut Store) -> &mut BTreeMap<ObjectKey, Shared<Self>> {
        &mut store.endpoint_slices
    }
    fn touched(_key: &ObjectKey, obj: &Self) -> Option<Touched> {
        obj.service_key().map(Touched::SlicesOf)
    }
    fn reindex(store: &mut Store, key: &ObjectKey, old: Option<&Self>, new: Option<&Self>) {
        let (before, after) = (
            old.and_then(CompactSlice::service_key),
            new.and_then(CompactSlice::service_key),
        );
        if before == after {
            return;
        }
        if let Some(svc) = before {
            if let Some(set) = store.slices_by_service.get_mut(&svc) {
                set.remove(key);
                if set.is_empty() {
                    store.slices_by_service.remove(&svc);
                }
            }
        }
        if let Some(svc) = after {
            store
                .slices_by_service
                .entry(svc)
                .or_default()
                .insert(key.clone());
        }
    }
}

impl StoreKind for Namespace {
    type Key = String;
    fn store_key(obj: &Self) -> String {
        obj.name_any()
    }
    fn key_from(_namespace: Option<&str>, name: &str) -> String {
        name.to_owned()
    }
    fn map(store: &mut Store) -> &mut BTreeMap<String, Shared<Self>> {
        &mut store.namespaces
    }
    fn touched(key: &String, _obj: &Self) -> Option<Touched> {
        Some(Touched::Namespace(key.clone()))
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts `obj`; returns `true` if an object of the same kind and key was replaced.
    pub fn insert(&mut self, obj: Object) -> bool {
        match obj {
            Object::HttpRoute(o) => self.put(Shared::new(*o)),
            Object::GrpcRoute(o) => self.put(Shared::new(*o)),
            Object::Gateway(o) => self.put(Shared::new(*o)),
            Object::Service(o) => self.put(Shared::new(*o)),
            Object::EndpointSlice(o) => self.put(Shared::new(CompactSlice::new(*o))),
            Object::ReferenceGrant(o) => self.put(Shared::new(*o)),
            Object::Pod(o) => self.put(Shared::new(*o)),
            Object::Namespace(o) => self.put(Shared::new(*o)),
        }
    }

    /// Puts a shared object; returns `true` if an object of the same kind and key was
    /// replaced.
    pub fn put<K: StoreKind>(&mut self, obj: Shared<K>) -> bool {
        let key = K::store_key(&obj);
        let new = obj.clone();
        let old = K::map(self).insert(key.clone(), obj);
        K::reindex(self, &key, old.as_deref(), Some(&new));
        let before = old.as_deref().and_then(|o| K::touched(&key, o));
        let after = K::touched(&key, &new);
        if before != after {
            self.journal.record_some(before);
        }
        self.journal.record_some(after);
        old.is_some()
    }

    /// Removes the object of kind `K` under `key`; returns it if there was one.
    pub fn remove<K: StoreKind>(&mut self, key: &K::Key) -> Option<Shared<K>> {
        let old = K::map(self).remove(key);
        if let Some(o) = &old {
            K::reindex(self, key, Some(o), None);
            self.journal.record_some(K::touched(key, o));
        }
        old
    }

    /// This version of the store, for [`Store::changes_since`].
    pub fn mark(&self) -> JournalMark {
        self.journal.mark()
    }

    /// What [`Store::put`] and [`Store::remove`] touched since `mark` (`None` when the store
    /// no longer knows, or `mark` is another store's: then anything may have changed).
    pub fn changes_since(&self, mark: JournalMark) -> Option<impl Iterator<Item = &Touched>> {
        self.journal.since(mark)
    }

    /// The EndpointSlices of Service `svc` (by the `kubernetes.io/service-name` label), in
    /// key order.
    pub fn slices_of<'a>(&'a self, svc: &'a ObjectKey) -> impl Iterator<Item = &'a CompactSlice> {
        self.slices_by_service
            .get(svc)
            .into_iter()
            .flatten()
            .filter_map(|k| self.endpoint_slices.get(k))
            .map(|s| &**s)
    }

    /// The keys of the EndpointSlices of Service `svc`, in key order.
    pub fn slice_keys_of<'a>(&'a self, svc: &ObjectKey) -> impl Iterator<Item = &'a ObjectKey> {
        self.slices_by_service.get(svc).into_iter().flatten()
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
