//! The Kubernetes source: reflectors (list + watch, never polling) over HTTPRoutes, GRPCRoutes,
//! Gateways, Services, EndpointSlices, ReferenceGrants, Namespaces (their labels decide
//! `allowedRoutes` namespace selectors), this node's Pods and, on every node, the Pods of the
//! namespaces that have GAMMA consumer routes (`client_pods.rs`: they tell which client IPs
//! those routes apply to), combined into a [`Store`] after each change (debounced).
//!
//! The first store is sent once every fixed reflector has listed; until then the channel
//! holds an empty store. The consumer namespaces' Pod watches start and stop as routes come
//! and go and never hold a store back: until a namespace's Pods are listed, its clients are
//! unknown and follow producer routes. Watch errors are retried with backoff and reported on
//! the error channel.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
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
use crate::compile::{consumer_route_namespace, shared_fields};
use crate::model::{Object, Store, GATEWAY_GROUP};

/// Configuration of the Kubernetes source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeSourceConfig {
    /// This node's name (Pods are watched with `spec.nodeName=<node>`).
    pub node_name: String,
    /// Quiet time after a change before a new store is emitted.
    pub debounce: Duration,
    /// API version of ReferenceGrant to watch (`v1beta1` is served by every Gateway API
    /// release; `v1` by recent ones).
    pub reference_grant_version: String,
}

impl KubeSourceConfig {
    /// Defaults for `node_name`: 200 ms debounce, ReferenceGrant `v1beta1`.
    pub fn new(node_name: impl Into<String>) -> Self {
        Self {
            node_name: node_name.into(),
            debounce: Duration::from_millis(200),
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

fn reflect<K>(
    api: Api<K>,
    cfg: watcher::Config,
    writer: Writer<K>,
    resource: &'static str,
) -> Events
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Clone + Eq + std::hash::Hash + Default,
{
    watcher(api, cfg)
        .default_backoff()
        .reflect(writer)
        .map(move |r| {
            r.map(|_| ()).map_err(|source| KubeSourceError::Watch {
                resource,
                source: Box::new(source),
            })
        })
        .boxed()
}

/// Starts the reflectors on the current tokio runtime.
pub fn start_kube_source(client: Client, cfg: KubeSourceConfig) -> KubeSource {
    let (routes_r, routes_w) = reflector::store::<HttpRoute>();
    let (grpc_r, grpc_w) = reflector::store::<GrpcRoute>();
    let (gws_r, gws_w) = reflector::store::<Gateway>();
    let (svcs_r, svcs_w) = reflector::store::<Service>();
    let (slices_r, slices_w) = reflector::store::<EndpointSlice>();
    let (pods_r, pods_w) = reflector::store::<Pod>();
    let (nss_r, nss_w) = reflector::store::<Namespace>();
    let grant_ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        GATEWAY_GROUP,
        &cfg.reference_grant_version,
        "ReferenceGrant",
    ));
    let grants_w = Writer::<DynamicObject>::new(grant_ar.clone());
    let grants_r = grants_w.as_reader();

    let all = watcher::Config::default();
    let pods_cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", cfg.node_name));
    let grants_stream = watcher(
        Api::<DynamicObject>::all_with(client.clone(), &grant_ar),
        all.clone(),
    )
    .default_backoff()
    .reflect(grants_w)
    .map(|r| {
        r.map(|_| ()).map_err(|source| KubeSourceError::Watch {
            resource: "referencegrants",
            source: Box::new(source),
        })
    })
    .boxed();
    let streams: Vec<Events> = vec![
        reflect(
            Api::<HttpRoute>::all(client.clone()),
            all.clone(),
            routes_w,
            "httproutes",
        ),
        reflect(
            Api::<GrpcRoute>::all(client.clone()),
            all.clone(),
            grpc_w,
            "grpcroutes",
        ),
        reflect(
            Api::<Gateway>::all(client.clone()),
            all.clone(),
            gws_w,
            "gateways",
        ),
        reflect(
            Api::<Service>::all(client.clone()),
            all.clone(),
            svcs_w,
            "services",
        ),
        reflect(
            Api::<EndpointSlice>::all(client.clone()),
            all.clone(),
            slices_w,
            "endpointslices",
        ),
        reflect(
            Api::<Namespace>::all(client.clone()),
            all,
            nss_w,
            "namespaces",
        ),
        reflect(Api::<Pod>::all(client.clone()), pods_cfg, pods_w, "pods"),
        grants_stream,
    ];
    let mut merged = futures::stream::select_all(streams);

    let (store_tx, store_rx) = watch::channel(Arc::new(Store::new()));
    let (err_tx, err_rx) = mpsc::channel(64);
    let debounce = cfg.debounce;
    let mut client_pods = ClientPodWatches::new(client);
    let task = tokio::spawn(async move {
        // A resource whose initial list answers 404 (CRD not installed) counts as listed and
        // empty; any other error keeps the first store waiting (a partial store would report
        // spurious problems).
        let mut absent: HashSet<&'static str> = HashSet::new();
        let ready = |absent: &HashSet<&'static str>| {
            let ok = |r: bool, name: &str| r || absent.contains(name);
            ok(
                routes_r.wait_until_ready().now_or_never().is_some(),
                "httproutes",
            ) && ok(
                grpc_r.wait_until_ready().now_or_never().is_some(),
                "grpcroutes",
            ) && ok(
                gws_r.wait_until_ready().now_or_never().is_some(),
                "gateways",
            ) && ok(
                svcs_r.wait_until_ready().now_or_never().is_some(),
                "services",
            ) && ok(
                slices_r.wait_until_ready().now_or_never().is_some(),
                "endpointslices",
            ) && ok(pods_r.wait_until_ready().now_or_never().is_some(), "pods")
                && ok(
                    nss_r.wait_until_ready().now_or_never().is_some(),
                    "namespaces",
                )
                && ok(
                    grants_r.wait_until_ready().now_or_never().is_some(),
                    "referencegrants",
                )
        };
        let mut deadline: Option<tokio::time::Instant> = None;
        let mut sent = false;
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                item = merged.next() => match item {
                    None => return,
                    Some(Ok(())) => {
                        if deadline.is_none() {
                            deadline = Some(tokio::time::Instant::now() + debounce);
                        }
                    }
                    Some(Err(e)) => {
                        if let Some(resource) = not_found(&e) {
                            if absent.insert(resource) {
                                tracing::warn!(resource, "resource not served (CRD not installed?): treated as empty");
                            }
                            if deadline.is_none() {
                                deadline = Some(tokio::time::Instant::now() + debounce);
                            }
                        } else {
                            tracing::warn!(error = %e, "kubernetes watch error (retrying)");
                        }
                        let _ = err_tx.try_send(e);
                    }
                },
                () = sleep => {
                    if !ready(&absent) {
                        deadline = Some(tokio::time::Instant::now() + debounce);
                        continue;
                    }
                    deadline = None;
                    // The namespaces with consumer routes: their Pods (every node) tell
                    // which clients those routes apply to.
                    let consumers: BTreeSet<String> = routes_r
                        .state()
                        .iter()
                        .filter_map(|r| consumer_route_namespace(r))
                        .chain(grpc_r.state().iter().filter_map(|g| {
                            consumer_route_namespace(&shared_fields(g).ok()?)
                        }))
                        .collect();
                    client_pods.sync(&consumers, &mut merged);
                    let mut store = Store::new();
                    for o in routes_r.state() {
                        store.insert(Object::HttpRoute(Box::new((*o).clone())));
                    }
                    for o in grpc_r.state() {
                        store.insert(Object::GrpcRoute(Box::new((*o).clone())));
                    }
                    // Before this node's Pods, whose full objects replace stripped ones.
                    for o in client_pods.pods() {
                        store.insert(Object::Pod(Box::new((*o).clone())));
                    }
                    for o in gws_r.state() {
                        store.insert(Object::Gateway(Box::new((*o).clone())));
                    }
                    for o in svcs_r.state() {
                        store.insert(Object::Service(Box::new((*o).clone())));
                    }
                    for o in slices_r.state() {
                        store.insert(Object::EndpointSlice(Box::new((*o).clone())));
                    }
                    for o in pods_r.state() {
                        store.insert(Object::Pod(Box::new((*o).clone())));
                    }
                    for o in nss_r.state() {
                        store.insert(Object::Namespace(Box::new((*o).clone())));
                    }
                    for o in grants_r.state() {
                        match grant_of(&o) {
                            Ok(g) => {
                                store.insert(Object::ReferenceGrant(Box::new(g)));
                            }
                            Err(e) => {
                                let _ = err_tx.try_send(e);
                            }
                        }
                    }
                    let changed = **store_tx.borrow() != store;
                    if (changed || !sent) && store_tx.send(Arc::new(store)).is_err() {
                        return;
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
