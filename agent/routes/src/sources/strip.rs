//! Stripping objects on receipt: each watched object is cut down to what planning reads
//! before the reflector stores it, so the agent holds no `managedFields`, no
//! `last-applied-configuration` annotations, no status it does not read and no field of a
//! Pod or an EndpointSlice that the plan never looks at. A large cluster's objects are
//! mostly such fields.
//!
//! What each kind keeps (everything `compile` reads, checked by this file's tests and by the
//! plan tests that compare stripped and full stores):
//!
//! | kind | kept |
//! |---|---|
//! | HTTPRoute | name, namespace, uid, resourceVersion, generation, creationTimestamp, labels, `shadowtap.dev/` annotations, spec, status |
//! | GRPCRoute | the same as an HTTPRoute |
//! | Gateway | name, namespace, uid, resourceVersion, generation, spec |
//! | Service | name, namespace, uid, resourceVersion, spec: type, clusterIP(s), ports, selector |
//! | EndpointSlice | a [`CompactSlice`]: name, namespace, the `kubernetes.io/service-name` label, addressType, ports (name, port, protocol, appProtocol), endpoints: addresses, ready/serving/terminating, nodeName, the Pod of the targetRef |
//! | Pod (this node's) | name, namespace, uid, resourceVersion, labels, spec: nodeName, hostNetwork, container port names and numbers; status: phase, podIP(s) |
//! | Namespace | name, uid, resourceVersion, labels |
//! | ReferenceGrant | name, namespace, uid, resourceVersion, spec |

use std::collections::BTreeMap;

use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Namespace, Pod, PodSpec, PodStatus, Service, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;

use crate::model::CompactSlice;

/// Prefix of the route annotations shadowtap reads.
const SHADOWTAP_ANNOTATIONS: &str = "shadowtap.dev/";

/// The identity of an object: name, namespace, uid, resourceVersion.
fn identity(meta: &mut ObjectMeta) -> ObjectMeta {
    let meta = std::mem::take(meta);
    ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        ..ObjectMeta::default()
    }
}

/// What a route (HTTPRoute or GRPCRoute) keeps of its metadata: identity, labels (the
/// selector), `shadowtap.dev/` annotations (replay options), creationTimestamp (precedence,
/// cross serving) and generation (Event names).
fn route_meta(meta: &mut ObjectMeta) -> ObjectMeta {
    let meta = std::mem::take(meta);
    let annotations: BTreeMap<String, String> = meta
        .annotations
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k.starts_with(SHADOWTAP_ANNOTATIONS))
        .collect();
    ObjectMeta {
        name: meta.name,
        namespace: meta.namespace,
        uid: meta.uid,
        resource_version: meta.resource_version,
        generation: meta.generation,
        creation_timestamp: meta.creation_timestamp,
        labels: meta.labels,
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

/// HTTPRoute: labels (the selector), `shadowtap.dev/` annotations (replay options),
/// creationTimestamp (precedence), generation (Event names), spec and status (the
/// parents' `Accepted` conditions).
pub fn strip_route(route: &mut HttpRoute) {
    route.metadata = route_meta(&mut route.metadata);
}

/// GRPCRoute: the same as an HTTPRoute (its metadata as [`strip_route`] keeps it, spec and
/// status).
pub fn strip_grpc_route(route: &mut GrpcRoute) {
    route.metadata = route_meta(&mut route.metadata);
}

/// Gateway: its spec (listeners, class); the status is its controller's.
pub fn strip_gateway(gw: &mut Gateway) {
    let generation = gw.metadata.generation;
    gw.metadata = ObjectMeta {
        generation,
        ..identity(&mut gw.metadata)
    };
    gw.status = None;
}

/// Service: type, cluster IPs, ports (names, numbers, targetPorts, appProtocol) and the
/// selector (endpoints when it has no EndpointSlice).
pub fn strip_service(svc: &mut Service) {
    svc.metadata = identity(&mut svc.metadata);
    svc.spec = svc.spec.take().map(|s| ServiceSpec {
        type_: s.type_,
        cluster_ip: s.cluster_ip,
        cluster_ips: s.cluster_ips,
        ports: s.ports,
        selector: s.selector,
        ..ServiceSpec::default()
    });
    svc.status = None;
}

/// A Service as the store keeps it ([`strip_service`]).
pub fn stripped_service(mut svc: Service) -> Service {
    strip_service(&mut svc);
    svc
}

/// EndpointSlice: its compact form (the Service it belongs to, address type, ports, and per
/// endpoint the addresses, conditions, node and Pod). Addresses that are not IP addresses in
/// an IP slice are left out and logged.
pub fn compact_slice(slice: EndpointSlice) -> CompactSlice {
    let c = CompactSlice::new(slice);
    if c.invalid_addresses > 0 {
        tracing::warn!(
            slice = %c.key,
            invalid = c.invalid_addresses,
            "EndpointSlice addresses that are not IP addresses are ignored"
        );
    }
    c
}

/// This node's Pods: labels (Service selectors), node, host network, the names and numbers
/// of container ports (named targetPorts), phase and IPs.
pub fn strip_pod(pod: &mut Pod) {
    let labels = pod.metadata.labels.take();
    pod.metadata = ObjectMeta {
        labels,
        ..identity(&mut pod.metadata)
    };
    pod.spec = pod.spec.take().map(|s| PodSpec {
        node_name: s.node_name,
        host_network: s.host_network,
        containers: s
            .containers
            .into_iter()
            .map(|c| Container {
                name: c.name,
                ports: c.ports.map(|ports| {
                    ports
                        .into_iter()
                        .map(|p| ContainerPort {
                            name: p.name,
                            container_port: p.container_port,
                            ..ContainerPort::default()
                        })
                        .collect()
                }),
                ..Container::default()
            })
            .collect(),
        ..PodSpec::default()
    });
    pod.status = pod.status.take().map(|s| PodStatus {
        phase: s.phase,
        pod_ip: s.pod_ip,
        pod_ips: s.pod_ips,
        ..PodStatus::default()
    });
}

/// Namespace: its labels (`allowedRoutes` selectors).
pub fn strip_namespace(ns: &mut Namespace) {
    let labels = ns.metadata.labels.take();
    ns.metadata = ObjectMeta {
        labels,
        ..identity(&mut ns.metadata)
    };
    ns.spec = None;
    ns.status = None;
}

/// ReferenceGrant (read as a dynamic object): its spec.
pub fn strip_grant(grant: &mut DynamicObject) {
    grant.metadata = identity(&mut grant.metadata);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_route_keeps_its_labels_shadowtap_annotations_spec_and_status() {
        let mut route: HttpRoute = serde_json::from_value(json!({
            "metadata": {"name": "r", "namespace": "ns", "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"shadowtap.dev/mirror": "enabled"},
                "annotations": {"shadowtap.dev/mirror-host": "h", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "m", "operation": "Update"}]},
            "spec": {"parentRefs": [{"name": "gw"}]},
            "status": {"parents": []}
        }))
        .unwrap();
        strip_route(&mut route);
        let v = serde_json::to_value(&route).unwrap();
        assert_eq!(
            v["metadata"],
            json!({"name": "r", "namespace": "ns", "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"shadowtap.dev/mirror": "enabled"},
                "annotations": {"shadowtap.dev/mirror-host": "h"}})
        );
        assert_eq!(v["spec"]["parentRefs"][0]["name"], "gw");
        assert_eq!(v["status"], json!({"parents": []}));
    }

    #[test]
    fn a_grpc_route_keeps_what_an_http_route_keeps() {
        let mut route: GrpcRoute = serde_json::from_value(json!({
            "metadata": {"name": "g", "namespace": "ns", "generation": 2, "uid": "u",
                "creationTimestamp": "2026-01-02T00:00:00Z",
                "labels": {"shadowtap.dev/mirror": "enabled"},
                "annotations": {"shadowtap.dev/mirror-host": "h", "other": "x"},
                "managedFields": [{"manager": "m", "operation": "Update"}]},
            "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["a.example.com"],
                "rules": [{"matches": [{"method": {"service": "pkg.Svc"}}]}]},
            "status": {"parents": []}
        }))
        .unwrap();
        let spec = serde_json::to_value(&route.spec).unwrap();
        strip_grpc_route(&mut route);
        let v = serde_json::to_value(&route).unwrap();
        assert_eq!(
            v["metadata"],
            json!({"name": "g", "namespace": "ns", "generation": 2, "uid": "u",
                "creationTimestamp": "2026-01-02T00:00:00Z",
                "labels": {"shadowtap.dev/mirror": "enabled"},
                "annotations": {"shadowtap.dev/mirror-host": "h"}})
        );
        assert_eq!(v["spec"], spec);
        assert_eq!(v["status"], json!({"parents": []}));
    }

    #[test]
    fn a_service_keeps_ports_ips_type_and_selector() {
        let mut svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "s", "namespace": "ns", "labels": {"a": "b"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                "selector": {"app": "a"}, "sessionAffinity": "None",
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"}]},
            "status": {"loadBalancer": {}}
        }))
        .unwrap();
        strip_service(&mut svc);
        assert_eq!(
            serde_json::to_value(&svc).unwrap(),
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "s", "namespace": "ns"},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
                    "selector": {"app": "a"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "appProtocol": "http"}]}})
        );
    }

    /// Every fixture planned from stripped objects gives the plan of the full objects, on
    /// either node.
    #[test]
    fn stripped_stores_plan_alike() {
        use crate::compile::{plan, PlanConfig};
        use crate::model::{Shared, Store};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let full = crate::sources::load_path(&path).unwrap();
            let mut stripped = Store::new();
            for r in full.routes.values() {
                let mut r = (**r).clone();
                strip_route(&mut r);
                stripped.put(Shared::new(r));
            }
            for r in full.grpc_routes.values() {
                let mut r = (**r).clone();
                strip_grpc_route(&mut r);
                stripped.put(Shared::new(r));
            }
            for g in full.gateways.values() {
                let mut g = (**g).clone();
                strip_gateway(&mut g);
                stripped.put(Shared::new(g));
            }
            for s in full.services.values() {
                let mut s = (**s).clone();
                strip_service(&mut s);
                stripped.put(Shared::new(s));
            }
            // EndpointSlices are compact in every store (`CompactSlice`).
            for s in full.endpoint_slices.values() {
                stripped.put(s.clone());
            }
            for p in full.pods.values() {
                let mut p = (**p).clone();
                strip_pod(&mut p);
                stripped.put(Shared::new(p));
            }
            for n in full.namespaces.values() {
                let mut n = (**n).clone();
                strip_namespace(&mut n);
                stripped.put(Shared::new(n));
            }
            for g in full.reference_grants.values() {
                stripped.put(g.clone());
            }
            for node in ["node-a", "node-b"] {
                let cfg = PlanConfig::default();
                assert_eq!(
                    plan(&stripped, node, &cfg),
                    plan(&full, node, &cfg),
                    "{} on {node}",
                    path.display()
                );
            }
            seen += 1;
        }
        assert!(seen >= 5, "fixtures found: {seen}");
    }
}
