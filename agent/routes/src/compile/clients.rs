//! Which namespace a client is in, from its pod IP: what decides whether the consumer routes
//! of a namespace (GAMMA, GEP-1294) apply to a request, since the data path sees each request
//! at the server pod with the client's source address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use super::addresses::pod_ips;
use crate::model::Store;

/// Whether a pod's IP identifies it: not on the host network (its IP is the node's, shared
/// with every other host-network pod and the node itself) and not in a terminal phase (its
/// IP may already belong to a new pod).
fn identifies(pod: &Pod) -> bool {
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    !host_network && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// Pod IP → namespace for the pods of `namespaces` in `store`. An IP that pods of two
/// namespaces claim (any pod the store holds, whatever its namespace) is left out: its
/// client's namespace is unknown.
pub fn client_namespaces(store: &Store, namespaces: &BTreeSet<&str>) -> BTreeMap<IpAddr, String> {
    if namespaces.is_empty() {
        return BTreeMap::new();
    }
    let mut claims: BTreeMap<IpAddr, BTreeSet<&str>> = BTreeMap::new();
    for (key, pod) in store.pods.iter().filter(|(_, p)| identifies(p)) {
        for ip in pod_ips(pod) {
            claims.entry(ip).or_default().insert(key.namespace.as_str());
        }
    }
    claims
        .into_iter()
        .filter_map(
            |(ip, owners)| match owners.into_iter().collect::<Vec<_>>()[..] {
                [ns] if namespaces.contains(ns) => Some((ip, ns.to_owned())),
                _ => None,
            },
        )
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Object;

    fn pod(ns: &str, name: &str, ip: &str, extra_spec: &str, phase: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  nodeName: node-b\n{extra_spec}  containers:\n  - name: c\n    image: i\nstatus:\n  phase: {phase}\n  podIP: {ip}\n  podIPs:\n  - ip: {ip}\n"
        )
    }

    fn index(docs: &[String], namespaces: &[&str]) -> Vec<(String, String)> {
        let mut store = Store::new();
        for d in docs {
            store.insert(Object::Pod(Box::new(yaml_serde::from_str(d).unwrap())));
        }
        let namespaces: BTreeSet<&str> = namespaces.iter().copied().collect();
        client_namespaces(&store, &namespaces)
            .into_iter()
            .map(|(ip, ns)| (ip.to_string(), ns))
            .collect()
    }

    #[test]
    fn only_the_pods_of_the_asked_namespaces() {
        let docs = [
            pod("web", "a", "10.0.0.1", "", "Running"),
            pod("web", "b", "fd00::1", "", "Pending"),
            pod("batch", "c", "10.0.0.2", "", "Running"),
        ];
        assert_eq!(
            index(&docs, &["web"]),
            [
                ("10.0.0.1".into(), "web".into()),
                ("fd00::1".into(), "web".into())
            ]
        );
        assert!(index(&docs, &[]).is_empty());
    }

    #[test]
    fn host_network_and_finished_pods_do_not_identify_a_client() {
        let docs = [
            pod(
                "web",
                "host",
                "192.168.0.5",
                "  hostNetwork: true\n",
                "Running",
            ),
            pod("web", "done", "10.0.0.7", "", "Succeeded"),
            pod("web", "failed", "10.0.0.8", "", "Failed"),
            pod(
                "web",
                "live",
                "10.0.0.9",
                "  hostNetwork: false\n",
                "Running",
            ),
        ];
        assert_eq!(index(&docs, &["web"]), [("10.0.0.9".into(), "web".into())]);
    }

    #[test]
    fn an_ip_two_namespaces_claim_is_unknown() {
        let docs = [
            pod("web", "a", "10.0.0.1", "", "Running"),
            pod("batch", "b", "10.0.0.1", "", "Running"),
            // Two pods of one namespace with one IP (a replacement not yet gone): still web.
            pod("web", "c", "10.0.0.3", "", "Running"),
            pod("web", "d", "10.0.0.3", "", "Pending"),
        ];
        assert_eq!(index(&docs, &["web"]), [("10.0.0.3".into(), "web".into())]);
        assert!(index(&docs, &["batch"]).is_empty());
    }
}
