//! The simulated cluster: every object is generated from its index (and, for churned
//! EndpointSlices, a small override), so the API server holds almost nothing and the heap
//! the benchmark counts is the agent's.
//!
//! Shape: `SERVICES` Services in `NAMESPACES` namespaces (`ns-{i / 100}`), each with
//! `SLICES_PER_SERVICE` EndpointSlices of two endpoints spread over `NODES` nodes; `ROUTES`
//! HTTPRoutes, route `r` with Service parent and backend `svc-{5r}:8080`, every tenth one
//! labelled and mirroring 42 % to `svc-{5r+1}:8080`; the Pods of the agent's node. Objects
//! carry what a real API server sends: managedFields, last-applied annotations, owner
//! references, zones, conditions, status.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

/// Services in the cluster.
pub const SERVICES: u32 = 10_000;
/// EndpointSlices per Service.
pub const SLICES_PER_SERVICE: u32 = 5;
/// EndpointSlices in the cluster.
pub const SLICES: u32 = SERVICES * SLICES_PER_SERVICE;
/// Endpoints per EndpointSlice.
pub const ENDPOINTS_PER_SLICE: u32 = 2;
/// HTTPRoutes in the cluster.
pub const ROUTES: u32 = 2_000;
/// Nodes the endpoints are spread over.
pub const NODES: u32 = 100;
/// The agent's node.
pub const NODE: &str = "node-0";
/// Namespaces (`ns-0` … `ns-99`: a hundred Services each).
pub const NAMESPACES_COUNT: u32 = SERVICES / 100;

/// The namespace of Service `i`.
pub fn namespace_of(service: u32) -> String {
    format!("ns-{}", service / 100)
}

/// Whether route `r` carries the opt-in label (and a mirror).
pub fn labelled(route: u32) -> bool {
    route.is_multiple_of(10)
}

/// The node endpoint `g` (global endpoint index) runs on.
pub fn node_of(g: u32) -> u32 {
    g % NODES
}

/// The original address of endpoint `g`.
fn original_addr(g: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + g)
}

/// Changes the churn made to one slice.
#[derive(Clone, Debug)]
pub struct SliceState {
    /// Times it changed.
    pub generation: u64,
    /// Address of each endpoint.
    pub addrs: [Ipv4Addr; ENDPOINTS_PER_SLICE as usize],
    /// Readiness of each endpoint.
    pub ready: [bool; ENDPOINTS_PER_SLICE as usize],
}

impl SliceState {
    /// The state of slice `s` before any change.
    pub fn original(s: u32) -> Self {
        let g = s * ENDPOINTS_PER_SLICE;
        Self {
            generation: 0,
            addrs: [original_addr(g), original_addr(g + 1)],
            ready: [true; ENDPOINTS_PER_SLICE as usize],
        }
    }
}

/// The cluster: the generator plus the churned slices' states.
#[derive(Default)]
pub struct Cluster {
    /// Slices changed since the start.
    pub changed: HashMap<u32, SliceState>,
}

fn managed_fields(manager: &str, fields: Value) -> Value {
    json!([{
        "manager": manager, "operation": "Update", "apiVersion": "v1",
        "time": "2026-11-30T08:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields
    }])
}

impl Cluster {
    /// The state of slice `s`.
    pub fn slice_state(&self, s: u32) -> SliceState {
        self.changed
            .get(&s)
            .cloned()
            .unwrap_or_else(|| SliceState::original(s))
    }

    /// Namespace object `n`.
    pub fn namespace(&self, n: u32) -> Value {
        let name = format!("ns-{n}");
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "uid": format!("ns-uid-{n}"), "resourceVersion": "1",
                "labels": {"kubernetes.io/metadata.name": name, "team": format!("team-{}", n % 7)},
                "managedFields": managed_fields("kubectl-create", json!({"f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}}))},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    }

    /// Service `i`.
    pub fn service(&self, i: u32) -> Value {
        let name = format!("svc-{i}");
        let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
        let last_applied = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace_of(i), "labels": {"app": name}},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}});
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace_of(i), "uid": format!("svc-uid-{i:08}"),
                "resourceVersion": "1", "creationTimestamp": "2026-11-01T00:00:00Z",
                "labels": {"app": name, "app.kubernetes.io/part-of": "bench", "app.kubernetes.io/managed-by": "Helm"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied.to_string(),
                    "meta.helm.sh/release-name": "bench", "meta.helm.sh/release-namespace": namespace_of(i)},
                "managedFields": managed_fields("kubectl-client-side-apply", json!({"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}, "f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:internalTrafficPolicy": {}, "f:ports": {".": {}, "k:{\"port\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}}, "f:selector": {}, "f:sessionAffinity": {}, "f:type": {}}}))},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "selector": {"app": name},
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 8080, "appProtocol": "http"}],
                "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster"},
            "status": {"loadBalancer": {}}})
    }

    /// The name of the Pod behind endpoint `e` of slice `s`.
    pub fn pod_name(s: u32, e: u32) -> String {
        format!(
            "svc-{}-{}-{e}",
            s / SLICES_PER_SERVICE,
            s % SLICES_PER_SERVICE
        )
    }

    /// EndpointSlice `s`, resourceVersion `rv`.
    pub fn slice(&self, s: u32, rv: u64) -> Value {
        let svc = s / SLICES_PER_SERVICE;
        let st = self.slice_state(s);
        let endpoints: Vec<Value> = (0..ENDPOINTS_PER_SLICE)
            .map(|e| {
                let g = s * ENDPOINTS_PER_SLICE + e;
                let ready = st.ready[e as usize];
                json!({"addresses": [st.addrs[e as usize].to_string()],
                    "conditions": {"ready": ready, "serving": ready, "terminating": false},
                    "nodeName": format!("node-{}", node_of(g)), "zone": format!("zone-{}", node_of(g) % 3),
                    "targetRef": {"kind": "Pod", "namespace": namespace_of(svc), "name": Self::pod_name(s, e),
                        "uid": format!("pod-uid-{g:08}")}})
            })
            .collect();
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("svc-{svc}-{}", s % SLICES_PER_SERVICE), "namespace": namespace_of(svc),
                "uid": format!("slice-uid-{s:08}"), "resourceVersion": rv.to_string(), "generation": st.generation + 1,
                "creationTimestamp": "2026-11-01T00:00:00Z",
                "labels": {"kubernetes.io/service-name": format!("svc-{svc}"), "app": format!("svc-{svc}"),
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-30T08:00:00Z"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": format!("svc-{svc}"),
                    "uid": format!("svc-uid-{svc:08}"), "controller": true, "blockOwnerDeletion": true}],
                "managedFields": managed_fields("kube-controller-manager", json!({"f:addressType": {}, "f:endpoints": {}, "f:metadata": {"f:annotations": {".": {}, "f:endpoints.kubernetes.io/last-change-trigger-time": {}}, "f:generateName": {}, "f:labels": {".": {}, "f:endpointslice.kubernetes.io/managed-by": {}, "f:kubernetes.io/service-name": {}}, "f:ownerReferences": {".": {}, "k:{\"uid\":\"x\"}": {}}}, "f:ports": {}}))},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]})
    }

    /// HTTPRoute `r`.
    pub fn route(&self, r: u32) -> Value {
        let backend = 5 * r;
        let ns = namespace_of(backend);
        let svc = format!("svc-{backend}");
        let mut labels = json!({"app": svc});
        let mut filters = json!([]);
        if labelled(r) {
            labels["shadowtap.dev/mirror"] = json!("enabled");
            filters = json!([{"type": "RequestMirror", "requestMirror": {
                "backendRef": {"name": format!("svc-{}", backend + 1), "port": 8080}, "percent": 42}}]);
        }
        let parent = json!({"group": "", "kind": "Service", "name": svc, "port": 8080});
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": format!("route-{r}"), "namespace": ns, "uid": format!("route-uid-{r:06}"),
                "resourceVersion": "1", "generation": 1, "creationTimestamp": "2026-11-01T00:00:00Z",
                "labels": labels,
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{{\"apiVersion\":\"gateway.networking.k8s.io/v1\",\"kind\":\"HTTPRoute\",\"metadata\":{{\"name\":\"route-{r}\"}},\"spec\":{{\"parentRefs\":[{parent}]}}}}")},
                "managedFields": managed_fields("kubectl-client-side-apply", json!({"f:metadata": {"f:annotations": {}, "f:labels": {}}, "f:spec": {"f:parentRefs": {}, "f:rules": {}}}))},
            "spec": {"parentRefs": [parent], "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": format!("/api/{r}")}}],
                 "backendRefs": [{"name": svc, "port": 8080, "weight": 1}], "filters": filters},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [{"name": svc, "port": 8080}]}]},
            "status": {"parents": [{"controllerName": "example.com/mesh", "parentRef": parent,
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                    "observedGeneration": 1, "lastTransitionTime": "2026-11-01T00:00:00Z"},
                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "",
                    "observedGeneration": 1, "lastTransitionTime": "2026-11-01T00:00:00Z"}]}]}})
    }

    /// The Pods on the agent's node (never churned: the churn moves endpoints of other nodes).
    pub fn node_pods(&self) -> Vec<Value> {
        (0..SLICES)
            .flat_map(|s| (0..ENDPOINTS_PER_SLICE).map(move |e| (s, e)))
            .filter(|(s, e)| node_of(s * ENDPOINTS_PER_SLICE + e) == 0)
            .map(|(s, e)| {
                let svc = s / SLICES_PER_SERVICE;
                let ip = self.slice_state(s).addrs[e as usize].to_string();
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": Self::pod_name(s, e), "namespace": namespace_of(svc),
                        "uid": format!("pod-uid-{s}-{e}"), "resourceVersion": "1", "labels": {"app": format!("svc-{svc}")},
                        "managedFields": managed_fields("kubelet", json!({"f:status": {"f:conditions": {}, "f:podIP": {}}}))},
                    "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "registry.example/app:1.0",
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
                    "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "192.168.0.10",
                        "conditions": [{"type": "Ready", "status": "True"}]}})
            })
            .collect()
    }
}
