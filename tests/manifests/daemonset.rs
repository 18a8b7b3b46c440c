//! The DaemonSet runs `shadowtap agent` with flags the agent accepts (parsed by the agent's
//! own command line), this release's image, the node name from the downward API, and
//! scheduling on every node with resources set.

use crate::deploy::each_installation;
use crate::k8s::selects;

#[test]
fn daemonset_runs_the_agent_with_its_own_flags() {
    each_installation(|_, d| {
        let c = d.container();
        assert_eq!(
            c.command, None,
            "the DaemonSet: the image's ENTRYPOINT is the shadowtap binary; leave command unset"
        );
        let args = c.args.clone().unwrap_or_default();
        assert_eq!(
            args.first().map(String::as_str),
            Some("agent"),
            "the DaemonSet: container args must start with `agent`, got {args:?}"
        );
        let agent = d.agent_args();
        assert_eq!(
            agent.source.routes, None,
            "the DaemonSet: the DaemonSet reads routes from the API (the ClusterRole is for \
         that), not --routes"
        );

        // The selector picks the template's pods.
        let ds = d.daemonset();
        let selector = &ds
            .spec
            .as_ref()
            .expect("the DaemonSet: the DaemonSet has a spec")
            .selector;
        assert!(
            selects(selector, &d.pod_labels(), "the DaemonSet: spec.selector"),
            "the DaemonSet: spec.selector does not match the pod template's labels"
        );

        // The image is this release.
        let image = c.image.clone().unwrap_or_default();
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            image.ends_with(&format!(":{version}")),
            "the DaemonSet: image {image:?} is not the workspace version {version}"
        );
    });
}

#[test]
fn daemonset_node_name_comes_from_the_downward_api() {
    each_installation(|_, d| {
        let env = d.container().env.clone().unwrap_or_default();
        let node: Vec<_> = env.iter().filter(|e| e.name == "NODE_NAME").collect();
        assert_eq!(node.len(), 1, "the DaemonSet: env NODE_NAME set once");
        let node = node[0];
        assert_eq!(
            node.value, None,
            "the DaemonSet: env NODE_NAME has no literal value"
        );
        let field_ref = node
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .expect("the DaemonSet: env NODE_NAME comes from valueFrom.fieldRef");
        assert_eq!(
            field_ref.field_path, "spec.nodeName",
            "the DaemonSet: NODE_NAME fieldPath"
        );
        assert!(
            matches!(field_ref.api_version.as_deref(), None | Some("v1")),
            "the DaemonSet: NODE_NAME fieldRef.apiVersion"
        );
    });
}

#[test]
fn daemonset_runs_on_every_node_with_resources_set() {
    each_installation(|_, d| {
        let spec = d.pod_spec();
        assert_eq!(
            spec.host_network,
            Some(true),
            "the DaemonSet: hostNetwork: the programs attach to the node's interfaces"
        );
        let tolerations = spec.tolerations.as_deref().unwrap_or_default();
        assert!(
            tolerations
                .iter()
                .any(|t| t.operator.as_deref() == Some("Exists")
                    && t.key.as_deref().unwrap_or_default().is_empty()
                    && t.effect.as_deref().unwrap_or_default().is_empty()),
            "the DaemonSet: a toleration with operator Exists and no key or effect \
         (tolerates every taint) is needed to run on every node, got {tolerations:?}"
        );

        let resources = d
            .container()
            .resources
            .as_ref()
            .expect("the DaemonSet: the container sets resources");
        let requests = resources.requests.clone().unwrap_or_default();
        let limits = resources.limits.clone().unwrap_or_default();
        for key in ["cpu", "memory"] {
            assert!(
                requests.contains_key(key),
                "the DaemonSet: resources.requests.{key} is set"
            );
        }
        assert!(
            limits.contains_key("memory"),
            "the DaemonSet: resources.limits.memory is set"
        );
    });
}
