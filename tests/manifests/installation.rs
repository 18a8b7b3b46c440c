//! The installation as a whole: every rendered object read strictly, exactly the expected
//! kinds, namespaced objects in the installation's Namespace, and example routes the agent
//! reads and opts in.

use shadowtap_agent::cli::parse_selector;

use crate::deploy::{each_installation, installation, load_examples, only, Deploy};
use crate::render::{Installation, Overlay};

#[test]
fn every_installation_holds_exactly_its_objects() {
    each_installation(|i, d| {
        let mut kinds: Vec<&str> = d.objects.iter().map(|(_, k)| *k).collect();
        kinds.sort_unstable();
        let mut expected = vec![
            "ClusterRole",
            "ClusterRoleBinding",
            "DaemonSet",
            "Namespace",
            "PriorityClass",
            "Role",
            "RoleBinding",
            "ServiceAccount",
        ];
        if i.monitoring {
            expected.extend(["ConfigMap", "PodMonitor", "PrometheusRule"]);
        }
        expected.sort_unstable();
        assert_eq!(kinds, expected, "the objects of the installation");
        namespaced_objects_live_in_its_namespace(d);
    });
}

fn namespaced_objects_live_in_its_namespace(d: &Deploy) {
    let ns = d.namespace();
    let namespaced = d
        .service_accounts
        .iter()
        .map(|o| ("ServiceAccount", &o.metadata))
        .chain(d.daemonsets.iter().map(|o| ("DaemonSet", &o.metadata)))
        .chain(d.roles.iter().map(|o| ("Role", &o.metadata)))
        .chain(d.role_bindings.iter().map(|o| ("RoleBinding", &o.metadata)))
        .chain(d.config_maps.iter().map(|o| ("ConfigMap", &o.metadata)))
        .chain(d.pod_monitors.iter().map(|o| ("PodMonitor", &o.metadata)))
        .chain(
            d.prometheus_rules
                .iter()
                .map(|o| ("PrometheusRule", &o.metadata)),
        );
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
        .chain(
            d.priority_classes
                .iter()
                .map(|o| ("PriorityClass", &o.metadata)),
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
    let routes = load_examples();
    assert!(!routes.is_empty(), "deploy/examples/ holds no HTTPRoute");
    // `shadowtap agent --routes deploy/examples` reads them (and rejects nothing).
    let examples = crate::deploy::deploy_dir().join(crate::deploy::EXAMPLES_DIR);
    let store = shadowtap_routes::load_path(&examples).unwrap_or_else(|e| {
        panic!(
            "{}: rejected by the agent's reader: {e}",
            examples.display()
        )
    });
    assert_eq!(
        store.routes.len(),
        routes.len(),
        "the agent's reader and this test read different HTTPRoutes from deploy/examples/"
    );
    // Every example carries the agent's default opt-in label selector.
    let d = installation(Installation {
        overlay: Overlay::HostAttach,
        monitoring: false,
    });
    let selector = parse_selector(&d.agent_args().source.label_selector)
        .expect("the DaemonSet's label selector parses");
    for (what, route) in &routes {
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
    each_installation(|_, d| pod_security_admits(d));
}

fn pod_security_admits(d: &Deploy) {
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
        "the Namespace: Pod Security enforce level"
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
        "the DaemonSet: seccompProfile"
    );
}
