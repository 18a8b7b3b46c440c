//! The Kubernetes source: reflectors (list + watch, never polling) over HTTPRoutes, GRPCRoutes,
//! Gateways, Services, EndpointSlices, ReferenceGrants, Namespaces (their labels decide
//! `allowedRoutes` namespace selectors), this node's Pods and, on every node, the Pods of the
//! namespaces that have GAMMA consumer routes (`client_pods.rs`: they tell which client IPs
//! those routes apply to). Objects are stripped on receipt (`strip.rs`); after each change
//! (debounced) the [`Store`] is brought in step for the keys the events touched
//! (`store_sync.rs`), sharing the reflectors' allocations. Services and EndpointSlices (most
//! of a large cluster's objects) have no reflector: their watches feed the store directly
//! (`direct_sync.rs`), EndpointSlices in their compact form.
//!
//! The first store is sent once every fixed reflector has listed; until then the channel
//! holds an empty store. The consumer namespaces' Pod watches start and stop as routes come
//! and go and never hold a store back: until a namespace's Pods are listed, its clients are
//! unknown and follow producer routes. Watch errors are retried with backoff and reported on
//! the error channel.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::client_pods::ClientPodWatches;
use super::debounce::Debounce;
use super::direct_sync::direct;
use super::store_sync::{same, sync_all, Slot, Synced, Tracker};
use super::strip;
use crate::compile::{consumer_route_namespace, shared_fields};
use crate::model::{ObjectKey, Shared, Store, GATEWAY_GROUP};

/// The kinds whose changes may change the namespaces with consumer routes.
const ROUTE_KINDS: [&str; 2] = ["httproutes", "grpcroutes"];

/// Configuration of the Kubernetes source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeSourceConfig {
    /// This node's name (Pods are watched with `spec.nodeName=<node>`).
    pub node_name: String,
    /// Shortest time between two stores: a change after a quieter time is emitted at once,
    /// changes sooner than this after the last store are emitted together when it has
    /// passed (`debounce.rs`).
    pub min_interval: Duration,
    /// API version of ReferenceGrant to watch (`v1beta1` is served by every Gateway API
    /// release; `v1` by recent ones).
    pub reference_grant_version: String,
}

impl KubeSourceConfig {
    /// Defaults for `node_name`: at most one store per 20 ms (a change waits at most that
    /// long for its store), ReferenceGrant `v1beta1`.
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            node_name: node_name.into(),
            min_interval: Duration::from_millis(20),
            reference_grant_version: "v1beta1".into(),
        }
    }
}

/// A problem of the Kubernetes source.
#[derive(Debug, thiserror::Error)]
pub enum KubeSourceError {
    /// A watch failed (it is retried with backoff).
    #[error("watch of {resource} failed: {source}")]
    Watch {
        /// Resource plural.
        resource: &'static str,
        /// Watcher error.
        #[source]
        source: Box<watcher::Error>,
    },
    /// A ReferenceGrant could not be read as one.
    #[error("ReferenceGrant {name}: {source}")]
    ReferenceGrant {
        /// `namespace/name`.
        name: String,
        /// Conversion error.
        #[source]
        source: Box<serde_json::Error>,
    },
    /// The source task ended before the initial lists completed.
    #[error("the Kubernetes source stopped before its initial lists completed")]
    Stopped,
}

/// A running Kubernetes source.
#[derive(Debug)]
pub struct KubeSource {
    /// The current store (empty until every initial list completed).
    pub stores: watch::Receiver<Arc<Store>>,
    /// Watch errors (bounded: some are dropped when nobody reads them; all are logged).
    pub errors: mpsc::Receiver<KubeSourceError>,
    /// The task driving the reflectors.
    pub task: JoinHandle<()>,
}

impl KubeSource {
    /// Waits for the first complete store.
    pub async fn initial(&mut self) -> Result<Arc<Store>, KubeSourceError> {
        self.stores
            .changed()
            .await
            .map_err(|_| KubeSourceError::Stopped)?;
        Ok(self.stores.borrow_and_update().clone())
    }
}

/// The events of the watches, merged: `Ok` after each change a reflector applied.
pub(super) type Events = std::pin::Pin<Box<dyn Stream<Item = Result<(), KubeSourceError>> + Send>>;

/// A watch of one kind: objects stripped on receipt (`strip.rs`), reflected, and the keys
/// each event touches recorded for the store (`store_sync.rs`).
fn reflect<K>(
    api: Api<K>,
    cfg: watcher::Config,
    writer: Writer<K>,
    tracker: Tracker<K>,
    strip: fn(&mut K),
    resource: &'static str,
) -> Events
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Send + Sync,
{
    watcher(api, cfg)
        .default_backoff()
        .modify(strip)
        .reflect(writer)
        .map(move |r| {
            r.map(|event| tracker.record(&event))
                .map_err(|source| KubeSourceError::Watch {
                    resource,
                    source: Box::new(source),
                })
        })
        .boxed()
}

/// A reflector of kind `K` with its tracker, as a [`Slot`] and the watch feeding it.
fn watched<K>(
    api: Api<K>,
    cfg: watcher::Config,
    strip: fn(&mut K),
    resource: &'static str,
) -> (Slot<K, K>, Events)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Default + Send + Sync,
{
    let (reader, writer) = reflector::store::<K>();
    let tracker = Tracker::new(K::DynamicType::default());
    let events = reflect(api, cfg, writer, tracker.clone(), strip, resource);
    (Slot::new(resource, reader, tracker, same), events)
}

/// Starts the reflectors on the current tokio runtime.
pub fn start_kube_source(client: Client, cfg: KubeSourceConfig) -> KubeSource {
    let all = watcher::Config::default();
    let pods_cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", cfg.node_name));
    let grant_ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        GATEWAY_GROUP,
        &cfg.reference_grant_version,
        "ReferenceGrant",
    ));
    let grants_w = Writer::<DynamicObject>::new(grant_ar.clone());
    let grants_t = Tracker::new(grant_ar.clone());
    let grants = Slot::new(
        "referencegrants",
        grants_w.as_reader(),
        grants_t.clone(),
        |o: &Arc<DynamicObject>| grant_of(o).map(Shared::new),
    );
    let grants_stream = reflect(
        Api::<DynamicObject>::all_with(client.clone(), &grant_ar),
        all.clone(),
        grants_w,
        grants_t,
        strip::strip_grant,
        "referencegrants",
    );
    // One entry per kind the store holds (this node's Pods are merged with the consumer
    // namespaces' below).
    let (routes, routes_events) = watched(
        Api::<HttpRoute>::all(client.clone()),
        all.clone(),
        strip::strip_route,
        "httproutes",
    );
    let (grpc_routes, grpc_routes_events) = watched(
        Api::<GrpcRoute>::all(client.clone()),
        all.clone(),
        strip::strip_grpc_route,
        "grpcroutes",
    );
    let (gateways, gateways_events) = watched(
        Api::<Gateway>::all(client.clone()),
        all.clone(),
        strip::strip_gateway,
        "gateways",
    );
    // The kinds a cluster has most of go to the store without a reflector's copy.
    let (services, services_events) = direct(
        Api::<Service>::all(client.clone()),
        all.clone(),
        strip::stripped_service,
        "services",
    );
    let (slices, slices_events) = direct(
        Api::<EndpointSlice>::all(client.clone()),
        all.clone(),
        strip::compact_slice,
        "endpointslices",
    );
    let (namespaces, namespaces_events) = watched(
        Api::<Namespace>::all(client.clone()),
        all,
        strip::strip_namespace,
        "namespaces",
    );
    let (pods, pods_events) = watched(
        Api::<Pod>::all(client.clone()),
        pods_cfg,
        strip::strip_pod,
        "pods",
    );
    let slots: Vec<Box<dyn Synced>> = vec![
        Box::new(routes),
        Box::new(grpc_routes),
        Box::new(gateways),
        Box::new(services),
        Box::new(slices),
        Box::new(namespaces),
        Box::new(grants),
    ];
    let streams: Vec<Events> = vec![
        routes_events,
        grpc_routes_events,
        gateways_events,
        services_events,
        slices_events,
        namespaces_events,
        pods_events,
        grants_stream,
    ];
    let mut merged = futures::stream::select_all(streams);

    let (store_tx, store_rx) = watch::channel(Arc::new(Store::new()));
    let (err_tx, err_rx) = mpsc::channel(64);
    let mut debounce = Debounce::new(cfg.min_interval);
    let mut client_pods = ClientPodWatches::new(client);
    let task = tokio::spawn(async move {
        // A resource whose initial list answers 404 (CRD not installed) counts as listed and
        // empty; any other error keeps the first store waiting (a partial store would report
        // spurious problems).
        let mut absent: HashSet<&'static str> = HashSet::new();
        let ready = |absent: &HashSet<&'static str>| {
            slots
                .iter()
                .map(|s| (s.resource(), s.ready()))
                .chain([("pods", pods.ready())])
                .all(|(name, ready)| ready || absent.contains(name))
        };
        let mut sent = false;
        loop {
            let deadline = debounce.deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Events already received are taken before a store is emitted: one read of
                // many watch lines becomes one store.
                biased;
                item = merged.next() => match item {
                    None => return,
                    Some(Ok(())) => debounce.event(tokio::time::Instant::now()),
                    Some(Err(e)) => {
                        if let Some(resource) = not_found(&e) {
                            if absent.insert(resource) {
                                tracing::warn!(resource, "resource not served (CRD not installed?): treated as empty");
                            }
                            debounce.event(tokio::time::Instant::now());
                        } else {
                            tracing::warn!(error = %e, "kubernetes watch error (retrying)");
                        }
                        let _ = err_tx.try_send(e);
                    }
                },
                () = sleep => {
                    debounce.fired(tokio::time::Instant::now());
                    if !ready(&absent) {
                        debounce.event(tokio::time::Instant::now());
                        continue;
                    }
                    let mut errors = Vec::new();
                    let first = !sent;
                    // In place: the planner holds no store between plans, so nothing is
                    // copied unless a plan is running right now (then the maps, not the
                    // objects).
                    store_tx.send_if_modified(|current| {
                        let store = Arc::make_mut(current);
                        let mut changed = false;
                        let mut routes_changed = first;
                        for slot in &slots {
                            let c = slot.apply(store, &mut errors);
                            routes_changed |= c && ROUTE_KINDS.contains(&slot.resource());
                            changed |= c;
                        }
                        // The namespaces with consumer routes: their Pods (every node) tell
                        // which clients those routes apply to (they change with the routes
                        // only).
                        if routes_changed {
                            let consumers: BTreeSet<String> = store
                            .routes
                            .values()
                            .filter_map(|r| consumer_route_namespace(r))
                            .chain(store.grpc_routes.values().filter_map(|g| {
                                consumer_route_namespace(&shared_fields(g).ok()?)
                            }))
                            .collect();
                            client_pods.sync(&consumers, &mut merged);
                        }
                        if pods.take_touched() | client_pods.take_touched() {
                            // This node's Pods last: their full objects replace stripped ones.
                            let all: BTreeMap<ObjectKey, Shared<Pod>> = client_pods
                                .pods()
                                .chain(pods.reader().state())
                                .map(|p| (ObjectKey::of(p.as_ref()), Shared::from(p)))
                                .collect();
                            changed |= sync_all(store, all.into_values().collect());
                        }
                        changed || first
                    });
                    for e in errors {
                        let _ = err_tx.try_send(e);
                    }
                    sent = true;
                }
            }
        }
    });
    KubeSource {
        stores: store_rx,
        errors: err_rx,
        task,
    }
}

/// The resource of an initial-list error answered with 404 Not Found.
fn not_found(e: &KubeSourceError) -> Option<&'static str> {
    match e {
        KubeSourceError::Watch { resource, source } => match source.as_ref() {
            watcher::Error::InitialListFailed(kube::Error::Api(status)) if status.code == 404 => {
                Some(resource)
            }
            _ => None,
        },
        _ => None,
    }
}

fn grant_of(o: &DynamicObject) -> Result<ReferenceGrant, KubeSourceError> {
    let name = format!(
        "{}/{}",
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("")
    );
    let mut v = serde_json::to_value(o).map_err(|source| KubeSourceError::ReferenceGrant {
        name: name.clone(),
        source: Box::new(source),
    })?;
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "apiVersion".into(),
            serde_json::Value::String(format!("{GATEWAY_GROUP}/v1")),
        );
        m.insert(
            "kind".into(),
            serde_json::Value::String("ReferenceGrant".into()),
        );
    }
    serde_json::from_value(v).map_err(|source| KubeSourceError::ReferenceGrant {
        name,
        source: Box::new(source),
    })
}
