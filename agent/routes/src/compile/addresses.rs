//! From Service ports to addresses: the local pod endpoints to capture and the endpoints of
//! a mirror backend.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::model::{ObjectKey, ReplayProtocol, ServicePortRef, Store};

/// The port `port` of a Service, if it declares one.
pub fn service_port(svc: &Service, port: u16) -> Option<&ServicePort> {
    svc.spec
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.port == i32::from(port))
}

/// All IPs of a pod (status.podIPs, else status.podIP), IPv4 and IPv6.
pub fn pod_ips(pod: &Pod) -> Vec<IpAddr> {
    let Some(status) = pod.status.as_ref() else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = status
        .pod_ips
        .iter()
        .flatten()
        .filter_map(|p| p.ip.parse().ok())
        .collect();
    if ips.is_empty() {
        ips.extend(
            status
                .pod_ip
                .as_deref()
                .and_then(|ip| ip.parse::<IpAddr>().ok()),
        );
    }
    ips
}

fn on_node(pod: &Pod, node: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| n == node)
}

/// The container port a Service port's targetPort names on a pod.
fn target_port_on(pod: &Pod, sp: &ServicePort) -> Option<u16> {
    let port = u16::try_from(sp.port).ok()?;
    resolve_target_port(Some(pod), port, sp.target_port.as_ref())
}

/// The port at which requests to Service port `port` (targetPort `target`) reach `pod`:
/// the targetPort's number, the port of the pod's container port of that name, or (no
/// targetPort) `port` itself. `None` when it names a port the pod does not have, or the pod
/// is unknown and the targetPort is a name.
pub fn resolve_target_port(
    pod: Option<&Pod>,
    port: u16,
    target: Option<&IntOrString>,
) -> Option<u16> {
    match target {
        None => Some(port),
        Some(IntOrString::Int(p)) => u16::try_from(*p).ok(),
        Some(IntOrString::String(name)) => pod?
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok()),
    }
}

/// Local endpoints of `backend` on `node`: the addresses of its pods scheduled there
/// (status.podIPs), at the EndpointSlice port that corresponds to the Service port (matched
/// by port name). Without EndpointSlices the Service selector and targetPort are used.
pub fn capture_addrs(
    store: &Store,
    backend: &ServicePortRef,
    node: &str,
) -> BTreeMap<SocketAddr, ObjectKey> {
    let mut out = BTreeMap::new();
    let key = backend.service();
    let Some(svc) = store.services.get(&key) else {
        return out;
    };
    let Some(sp) = service_port(svc, backend.port) else {
        return out;
    };
    let mut any_slice = false;
    for slice in store.slices_of(&key) {
        any_slice = true;
        let Some(port) = slice.port_named(sp.name.as_deref()) else {
            continue;
        };
        for ep in slice.endpoints.iter() {
            let pod_ref = ep.pod.as_ref().map(|r| {
                let ns = r.namespace.as_deref().unwrap_or(&key.namespace);
                ObjectKey::new(ns, &*r.name)
            });
            match pod_ref
                .as_ref()
                .and_then(|k| store.pods.get(k).map(|p| (k, p)))
            {
                Some((k, pod)) if on_node(pod, node) => {
                    for ip in pod_ips(pod) {
                        out.insert(SocketAddr::new(ip, port), k.clone());
                    }
                }
                Some(_) => {}
                None if ep.node_name.as_deref() == Some(node) => {
                    let k = pod_ref.clone().unwrap_or_default();
                    for ip in ep.addresses.iter() {
                        out.insert(SocketAddr::new(*ip, port), k.clone());
                    }
                }
                None => {}
            }
        }
    }
    if !any_slice {
        let selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref());
        if let Some(sel) = selector.filter(|s| !s.is_empty()) {
            for (k, pod) in store
                .pods
                .iter()
                .filter(|(k, _)| k.namespace == key.namespace)
            {
                let labels = pod.metadata.labels.as_ref();
                let selected = sel
                    .iter()
                    .all(|(lk, lv)| labels.and_then(|l| l.get(lk)) == Some(lv));
                if !selected || !on_node(pod, node) {
                    continue;
                }
                if let Some(port) = target_port_on(pod, sp) {
                    for ip in pod_ips(pod) {
                        out.insert(SocketAddr::new(ip, port), k.clone());
                    }
                }
            }
        }
    }
    out
}

/// Ready endpoint addresses of a mirror Service (any node), port mapped through its
/// EndpointSlices, and its cluster IP.
pub fn mirror_endpoints(
    store: &Store,
    backend: &ServicePortRef,
) -> (Vec<SocketAddr>, Option<IpAddr>) {
    let key = backend.service();
    let Some(svc) = store.services.get(&key) else {
        return (Vec::new(), None);
    };
    let cluster_ip = svc
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.as_deref())
        .and_then(|ip| ip.parse().ok());
    let Some(sp) = service_port(svc, backend.port) else {
        return (Vec::new(), cluster_ip);
    };
    let mut out = Vec::new();
    for slice in store.slices_of(&key) {
        let Some(port) = slice.port_named(sp.name.as_deref()) else {
            continue;
        };
        for ep in slice.endpoints.iter() {
            if !ep.ready.unwrap_or(true) {
                continue;
            }
            out.extend(ep.addresses.iter().map(|ip| SocketAddr::new(*ip, port)));
        }
    }
    out.sort();
    out.dedup();
    (out, cluster_ip)
}

/// What the mirror Service port `backend` speaks, from its `appProtocol` (a Service or
/// port not found: as captured; the mirror has no endpoint then anyway).
pub fn mirror_protocol(store: &Store, backend: &ServicePortRef) -> ReplayProtocol {
    let app_protocol = store
        .services
        .get(&backend.service())
        .and_then(|svc| service_port(svc, backend.port))
        .and_then(|sp| sp.app_protocol.as_deref());
    ReplayProtocol::from_app_protocol(app_protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_with_ports(ports: &str) -> Pod {
        yaml_serde::from_str(&format!(
            "metadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    ports: {ports}\n  - name: b\n    ports: [{{name: metrics, containerPort: 9102}}]\n"
        ))
        .expect("pod")
    }

    #[test]
    fn target_ports_resolve_per_pod() {
        let pod = pod_with_ports("[{name: web, containerPort: 8080}]");
        let other = pod_with_ports("[{name: web, containerPort: 3000}]");
        let named = IntOrString::String("web".into());
        // No targetPort: the Service port itself.
        assert_eq!(resolve_target_port(Some(&pod), 80, None), Some(80));
        // A number, whatever the pod.
        assert_eq!(
            resolve_target_port(None, 80, Some(&IntOrString::Int(8080))),
            Some(8080)
        );
        assert_eq!(
            resolve_target_port(None, 80, Some(&IntOrString::Int(70_000))),
            None
        );
        // A name: each pod's container port of that name, in any container.
        assert_eq!(
            resolve_target_port(Some(&pod), 80, Some(&named)),
            Some(8080)
        );
        assert_eq!(
            resolve_target_port(Some(&other), 80, Some(&named)),
            Some(3000)
        );
        assert_eq!(
            resolve_target_port(Some(&pod), 80, Some(&IntOrString::String("metrics".into()))),
            Some(9102)
        );
        // A name the pod does not have, or an unknown pod: nowhere.
        assert_eq!(
            resolve_target_port(Some(&pod), 80, Some(&IntOrString::String("grpc".into()))),
            None
        );
        assert_eq!(resolve_target_port(None, 80, Some(&named)), None);
    }
}
