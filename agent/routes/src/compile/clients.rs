//! Which namespace a client is in, from its pod IP: what decides whether the consumer routes
//! of a namespace (GAMMA, GEP-1294) apply to a request, since the data path sees each request
//! at the server pod with the client's source address. Only the namespaces with consumer
//! routes are indexed: a client found nowhere is taken to be outside them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use super::addresses::pod_ips;
use crate::model::Store;

/// The client index of a plan: which client IPs are pods of the namespaces with consumer
/// routes, and which IPs such a pod may use without the IP telling which.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClientIndex {
    /// Pod IP → namespace, for the pods of those namespaces whose IP is theirs alone.
    pub namespaces: BTreeMap<IpAddr, String>,
    /// IPs a pod of those namespaces has that do not identify it: the IP of a host-network
    /// pod (the node's, shared with the node and every other host-network pod) and an IP
    /// that pods of several namespaces claim (a finished pod's IP given to a new one).
    pub unknown: BTreeSet<IpAddr>,
}

fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

/// Whether a pod is done: its IP may already belong to a new pod.
fn finished(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// The client index for the pods of `namespaces` in `store` (any node). Every pod the store
/// holds, whatever its namespace, takes part in finding IPs that several namespaces claim.
pub fn client_index(store: &Store, namespaces: &BTreeSet<&str>) -> ClientIndex {
    let mut index = ClientIndex::default();
    if namespaces.is_empty() {
        return index;
    }
    let mut claims: BTreeMap<IpAddr, BTreeSet<&str>> = BTreeMap::new();
    for (key, pod) in store.pods.iter().filter(|(_, p)| !finished(p)) {
        let ns = key.namespace.as_str();
        for ip in pod_ips(pod) {
            if !host_network(pod) {
                claims.entry(ip).or_default().insert(ns);
            } else if namespaces.contains(ns) {
                index.unknown.insert(ip);
            }
        }
    }
    for (ip, owners) in claims {
        if !owners.iter().any(|ns| namespaces.contains(ns)) || index.unknown.contains(&ip) {
            continue;
        }
        match owners.into_iter().collect::<Vec<_>>()[..] {
            [ns] => {
                index.namespaces.insert(ip, ns.to_owned());
            }
            _ => {
                index.unknown.insert(ip);
            }
        }
    }
    index
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

    fn index(docs: &[String], namespaces: &[&str]) -> (Vec<(String, String)>, Vec<String>) {
        let mut store = Store::new();
        for d in docs {
            store.insert(Object::Pod(Box::new(yaml_serde::from_str(d).unwrap())));
        }
        let namespaces: BTreeSet<&str> = namespaces.iter().copied().collect();
        let index = client_index(&store, &namespaces);
        (
            index
                .namespaces
                .into_iter()
                .map(|(ip, ns)| (ip.to_string(), ns))
                .collect(),
            index.unknown.iter().map(ToString::to_string).collect(),
        )
    }

    fn known(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(ip, ns)| ((*ip).to_owned(), (*ns).to_owned()))
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
            (known(&[("10.0.0.1", "web"), ("fd00::1", "web")]), vec![])
        );
        assert_eq!(index(&docs, &[]), (vec![], vec![]));
    }

    #[test]
    fn host_network_pods_make_their_ip_unknown_and_finished_pods_do_not_count() {
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
            // Another namespace's host-network pod on another node: not web's concern.
            pod(
                "batch",
                "host",
                "192.168.0.6",
                "  hostNetwork: true\n",
                "Running",
            ),
        ];
        assert_eq!(
            index(&docs, &["web"]),
            (
                known(&[("10.0.0.9", "web")]),
                vec!["192.168.0.5".to_owned()]
            )
        );
    }

    #[test]
    fn an_ip_two_namespaces_claim_is_unknown() {
        let docs = [
            pod("web", "a", "10.0.0.1", "", "Running"),
            pod("batch", "b", "10.0.0.1", "", "Running"),
            // Two pods of one namespace with one IP (a replacement not yet gone): still web.
            pod("web", "c", "10.0.0.3", "", "Running"),
            pod("web", "d", "10.0.0.3", "", "Pending"),
            // A finished pod of another namespace does not claim the IP any more.
            pod("batch", "e", "10.0.0.4", "", "Succeeded"),
            pod("web", "f", "10.0.0.4", "", "Running"),
        ];
        assert_eq!(
            index(&docs, &["web"]),
            (
                known(&[("10.0.0.3", "web"), ("10.0.0.4", "web")]),
                vec!["10.0.0.1".to_owned()]
            )
        );
        assert_eq!(
            index(&docs, &["batch"]),
            (vec![], vec!["10.0.0.1".to_owned()])
        );
    }
}
