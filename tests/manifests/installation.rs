//! The installation as a whole: every manifest read strictly, one of each object, namespaced
//! objects in the installation's Namespace, and example routes the agent reads and opts in.

use shadowtap_agent::cli::parse_selector;

use crate::deploy::{load_deploy, only};

#[test]
fn every_manifest_is_read_strictly() {
    let d = load_deploy();
    // One of each installation object.
    only(&d.namespaces, "Namespace");
    only(&d.service_accounts, "ServiceAccount");
    only(&d.cluster_roles, "ClusterRole");
    only(&d.cluster_role_bindings, "ClusterRoleBinding");
    d.daemonset();
    only(&d.kustomizations, "Kustomization");
    assert!(
        !d.http_routes.is_empty(),
        "deploy/examples/ holds no HTTPRoute"
    );

    // Namespaced objects live in the Namespace the installation creates.
    let ns = d.namespace();
    let namespaced = d
        .service_accounts
        .iter()
        .map(|o| ("ServiceAccount", &o.metadata))
        .chain(d.daemonsets.iter().map(|o| ("DaemonSet", &o.metadata)))
        .chain(d.pod_monitors.iter().map(|o| ("PodMonitor", &o.metadata)));
    for (kind, meta) in namespaced {
        assert_eq!(
            meta.namespace.as_deref(),
            Some(ns.as_str()),
            "{kind} {:?}: metadata.namespace must be the installation's Namespace",
            meta.name
        );
    }
    let cluster_scoped = d
        .cluster_roles
        .iter()
        .map(|o| ("ClusterRole", &o.metadata))
        .chain(
            d.cluster_role_bindings
                .iter()
                .map(|o| ("ClusterRoleBinding", &o.metadata)),
        )
        .chain(d.namespaces.iter().map(|o| ("Namespace", &o.metadata)));
    for (kind, meta) in cluster_scoped {
        assert_eq!(
            meta.namespace, None,
            "{kind} {:?} is cluster-scoped: no metadata.namespace",
            meta.name
        );
    }
}

#[test]
fn example_routes_are_read_by_the_agent_and_opted_in() {
    let d = load_deploy();
    // `shadowtap agent --routes deploy/examples` reads them (and rejects nothing).
    let examples = d.dir.join("examples");
    let store = shadowtap_routes::load_path(&examples).unwrap_or_else(|e| {
        panic!(
            "{}: rejected by the agent's reader: {e}",
            examples.display()
        )
    });
    assert_eq!(
        store.routes.len(),
        d.http_routes.len(),
        "the agent's reader and this test read different HTTPRoutes from deploy/examples/"
    );
    // Every example carries the agent's default opt-in label selector.
    let selector = parse_selector(&d.agent_args().source.label_selector)
        .expect("the DaemonSet's label selector parses");
    for (what, route) in &d.http_routes {
        assert!(
            selector.matches(route.metadata.labels.as_ref()),
            "{what}: not selected by {selector} (the agent's --label-selector default)"
        );
    }
}

/// The agent needs host networking and added capabilities: its namespace must admit the
/// privileged Pod Security level (else clusters that enforce baseline reject the pods), and
/// the container still runs under the runtime's default seccomp profile.
#[test]
fn pod_security_admits_the_agent() {
    let d = load_deploy();
    let labels = only(&d.namespaces, "Namespace")
        .metadata
        .labels
        .clone()
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("privileged"),
        "deploy/namespace.yaml: Pod Security enforce level"
    );
    let c = d.container();
    let seccomp = c
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    assert_eq!(
        seccomp,
        Some("RuntimeDefault"),
        "deploy/daemonset.yaml: seccompProfile"
    );
}
