//! The two overlays differ in exactly what the pod-side attach mode needs: `--attach=pod`,
//! CAP_SYS_ADMIN (setns into pod network namespaces) and the host's `/var/run/netns` mounted
//! with HostToContainer propagation. The host-side overlay has none of it, and everything
//! else is the same object.

use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use serde_json::Value;
use shadowtap_agent::cli::AttachMode;

use crate::deploy::{installation, Deploy};
use crate::render::{Installation, Overlay};

/// Where container runtimes (containerd, CRI-O) pin pod network namespaces, and where the
/// agent looks for them (agent/src/datapath/netlink.rs, `candidate_namespaces`).
const NETNS_DIR: &str = "/var/run/netns";

fn rendered(overlay: Overlay) -> &'static Deploy {
    installation(Installation {
        overlay,
        monitoring: false,
    })
}

fn netns_mount(d: &Deploy) -> Option<&VolumeMount> {
    d.container()
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == NETNS_DIR)
}

fn netns_volume<'a>(d: &'a Deploy, name: &str) -> Option<&'a Volume> {
    d.pod_spec()
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == name)
}

#[test]
fn host_attach_runs_the_host_side_mode_without_pod_privileges() {
    let d = rendered(Overlay::HostAttach);
    assert_eq!(d.agent_args().attach, AttachMode::Host, "{}", d.source);
    assert!(
        netns_mount(d).is_none(),
        "{}: the host-side mode enters no pod namespace; no {NETNS_DIR} mount",
        d.source
    );
}

#[test]
fn pod_attach_mounts_the_pinned_pod_namespaces() {
    let d = rendered(Overlay::PodAttach);
    assert_eq!(d.agent_args().attach, AttachMode::Pod, "{}", d.source);
    let mount =
        netns_mount(d).unwrap_or_else(|| panic!("{}: no volumeMount at {NETNS_DIR}", d.source));
    assert_eq!(
        mount.mount_propagation.as_deref(),
        Some("HostToContainer"),
        "{}: namespaces of pods started after the agent must appear in the mount",
        d.source
    );
    assert_eq!(
        mount.read_only,
        Some(true),
        "{}: the agent only opens namespace files",
        d.source
    );
    let volume = netns_volume(d, &mount.name)
        .unwrap_or_else(|| panic!("{}: no volume {:?}", d.source, mount.name));
    let host_path = volume
        .host_path
        .as_ref()
        .unwrap_or_else(|| panic!("{}: volume {:?} is a hostPath", d.source, mount.name));
    assert_eq!(host_path.path, NETNS_DIR, "{}: hostPath", d.source);
}

/// The DaemonSet of `d` as JSON, without what the pod-side mode adds.
fn without_pod_attach(d: &Deploy) -> Value {
    let mut ds = serde_json::to_value(d.daemonset()).expect("a DaemonSet serializes");
    let spec = ds
        .pointer_mut("/spec/template/spec")
        .expect("a pod template spec");
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        volumes.retain(|v| v.pointer("/hostPath/path") != Some(&Value::from(NETNS_DIR)));
    }
    let container = spec
        .pointer_mut("/containers/0")
        .expect("the agent container");
    if let Some(args) = container.get_mut("args").and_then(Value::as_array_mut) {
        args.retain(|a| a != "--attach=pod");
    }
    if let Some(mounts) = container
        .get_mut("volumeMounts")
        .and_then(Value::as_array_mut)
    {
        mounts.retain(|m| m.get("mountPath") != Some(&Value::from(NETNS_DIR)));
    }
    if let Some(add) = container
        .pointer_mut("/securityContext/capabilities/add")
        .and_then(Value::as_array_mut)
    {
        add.retain(|c| c != "SYS_ADMIN");
    }
    ds
}

#[test]
fn overlays_differ_only_in_the_pod_attach_privileges() {
    let host = rendered(Overlay::HostAttach);
    let pod = rendered(Overlay::PodAttach);
    let host_ds = serde_json::to_value(host.daemonset()).expect("a DaemonSet serializes");
    assert_eq!(
        without_pod_attach(host),
        host_ds,
        "{}: holds something of the pod-side mode",
        host.source
    );
    assert_ne!(
        serde_json::to_value(pod.daemonset()).expect("a DaemonSet serializes"),
        host_ds,
        "{}: the pod-side overlay changes nothing",
        pod.source
    );
    assert_eq!(
        without_pod_attach(pod),
        host_ds,
        "{}: differs from {} in more than --attach=pod, SYS_ADMIN and the {NETNS_DIR} mount",
        pod.source,
        host.source
    );
    // The other objects are the same.
    let others = |d: &Deploy| {
        serde_json::to_value((
            &d.namespaces,
            &d.priority_classes,
            &d.service_accounts,
            &d.cluster_roles,
            &d.cluster_role_bindings,
        ))
        .expect("objects serialize")
    };
    assert_eq!(
        others(pod),
        others(host),
        "the overlays differ outside the DaemonSet"
    );
}
