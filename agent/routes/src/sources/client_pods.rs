//! The Pods of the namespaces that have GAMMA consumer routes, on every node: a consumer
//! route applies only to clients in its own namespace, and the data path sees a client by
//! its pod IP, so these Pods tell which client IPs are in those namespaces.
//!
//! One namespaced watch per such namespace (list + watch, never polling), started when the
//! first consumer route of a namespace appears and stopped when its last one goes; every
//! other namespace's Pods stay unwatched (the node's own Pods are watched elsewhere). Each
//! Pod is kept stripped to what the client index reads: name, namespace, node, host
//! network, phase and IPs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::stream::{AbortHandle, Abortable, SelectAll};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{self, Store as Reader};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};

use super::kube_source::{Events, KubeSourceError};

/// The running Pod watches of the consumer namespaces.
pub struct ClientPodWatches {
    client: Client,
    watches: BTreeMap<String, (Reader<Pod>, AbortHandle)>,
    /// Set by every event of the watches and when one stops.
    touched: Arc<AtomicBool>,
}

impl ClientPodWatches {
    /// No watch yet.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            watches: BTreeMap::new(),
            touched: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Starts a watch for each namespace of `wanted` without one (its events join `events`)
    /// and stops those of namespaces no longer wanted.
    pub fn sync(&mut self, wanted: &BTreeSet<String>, events: &mut SelectAll<Events>) {
        self.watches.retain(|ns, (_, abort)| {
            let keep = wanted.contains(ns);
            if !keep {
                abort.abort();
                self.touched.store(true, Ordering::Relaxed);
                tracing::debug!(namespace = %ns, "stopped watching the Pods of a namespace without consumer routes");
            }
            keep
        });
        for ns in wanted {
            if self.watches.contains_key(ns) {
                continue;
            }
            let (reader, writer) = reflector::store::<Pod>();
            let touched = self.touched.clone();
            let stream = watcher(
                Api::<Pod>::namespaced(self.client.clone(), ns),
                watcher::Config::default(),
            )
            .default_backoff()
            .modify(strip)
            .reflect(writer)
            .map(move |r| {
                touched.store(true, Ordering::Relaxed);
                r.map(|_| ()).map_err(|source| KubeSourceError::Watch {
                    resource: "pods (consumer namespace)",
                    source: Box::new(source),
                })
            });
            let (abort, registration) = AbortHandle::new_pair();
            events.push(Abortable::new(stream, registration).boxed());
            tracing::debug!(namespace = %ns, "watching the Pods of a namespace with consumer routes");
            self.watches.insert(ns.clone(), (reader, abort));
        }
    }

    /// Whether the watches saw an event, or one stopped, since the last call.
    pub fn take_touched(&self) -> bool {
        self.touched.swap(false, Ordering::Relaxed)
    }

    /// Every Pod the watches hold.
    pub fn pods(&self) -> impl Iterator<Item = Arc<Pod>> + '_ {
        self.watches.values().flat_map(|(reader, _)| reader.state())
    }
}

impl Drop for ClientPodWatches {
    fn drop(&mut self) {
        for (_, abort) in self.watches.values() {
            abort.abort();
        }
    }
}

/// Keeps of a Pod what the client index reads (`compile::clients`): name, namespace, node,
/// host network, phase and IPs; the rest (containers, volumes, conditions, managed fields,
/// annotations) would only cost memory, one copy per Pod of every consumer namespace.
fn strip(pod: &mut Pod) {
    let meta = std::mem::take(&mut pod.metadata);
    pod.metadata = ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        ..ObjectMeta::default()
    };
    pod.spec = pod.spec.take().map(|s| PodSpec {
        node_name: s.node_name,
        host_network: s.host_network,
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        phase: s.phase,
        pod_ip: s.pod_ip,
        pod_ips: s.pod_ips,
        ..PodStatus::default()
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strip_keeps_what_the_client_index_reads() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a", "namespace": "web", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "a"}, "annotations": {"big": "x"}},
            "spec": {"nodeName": "n2", "hostNetwork": true,
                "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}],
                "hostIP": "192.168.0.2", "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        strip(&mut pod);
        assert_eq!(
            serde_json::to_value(&pod).unwrap(),
            serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "a", "namespace": "web", "uid": "u1", "resourceVersion": "7"},
                "spec": {"nodeName": "n2", "hostNetwork": true, "containers": []},
                "status": {"phase": "Running", "podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}
            })
        );
    }
}
