//! The DaemonSet's privileges: the capabilities the agent checks for at startup, and no more
//! than its attach mode uses (least privilege, as for the ClusterRole).

use std::collections::BTreeSet;

use shadowtap_agent::cli::AttachMode;

use crate::deploy::{each_installation, Deploy};

/// Capabilities the DaemonSet may add (see the comments in `deploy/base/daemonset.yaml` and
/// `deploy/overlays/pod-attach/kustomization.yaml`).
const ALLOWED_CAPABILITIES: &[&str] = &["BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN"];

#[test]
fn daemonset_capabilities_fit_the_agent() {
    each_installation(|_, d| capabilities_fit_the_agent(d));
}

fn capabilities_fit_the_agent(d: &Deploy) {
    let c = d.container();
    let sc = c
        .security_context
        .as_ref()
        .expect("the DaemonSet: the container sets a securityContext");
    assert_ne!(sc.privileged, Some(true), "the DaemonSet: not privileged");
    let caps = sc
        .capabilities
        .as_ref()
        .expect("the DaemonSet: securityContext.capabilities is set");
    assert_eq!(
        caps.drop.as_deref(),
        Some(&["ALL".to_owned()][..]),
        "the DaemonSet: capabilities.drop must be [ALL]"
    );
    let added: BTreeSet<&str> = caps
        .add
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let allowed: BTreeSet<&str> = ALLOWED_CAPABILITIES.iter().copied().collect();
    assert!(
        added.is_subset(&allowed),
        "the DaemonSet: capabilities.add {added:?} must be within {allowed:?}"
    );
    // What the agent checks for at startup (agent/src/runtime/mod.rs, `run`).
    let needed = needed_capabilities(d.agent_args().attach);
    assert!(
        needed.is_subset(&added),
        "the DaemonSet: capabilities.add {added:?} lacks some of {needed:?}, which the \
         agent requires at startup"
    );
}

/// The capabilities `shadowtap agent` requires at startup (agent/src/runtime/mod.rs, `run`):
/// CAP_SYS_ADMIN only for `--attach pod` (setns into pod network namespaces).
fn needed_capabilities(attach: AttachMode) -> BTreeSet<&'static str> {
    let mut needed: BTreeSet<&str> = ["BPF", "PERFMON", "NET_ADMIN"].into_iter().collect();
    if attach == AttachMode::Pod {
        needed.insert("SYS_ADMIN");
    }
    needed
}

#[test]
fn daemonset_grants_no_privilege_its_attach_mode_does_not_use() {
    each_installation(|_, d| no_privilege_beyond_the_attach_mode(d));
}

// Least privilege, as for the ClusterRole: CAP_SYS_ADMIN serves the pod-side attach mode only
// (agent/src/runtime/attachments.rs: `--attach host` finds interfaces by route, `--attach
// pod` enters the pods' namespaces pinned under /var/run/netns with setns). The host PID
// namespace is granted to no mode: without CAP_SYS_PTRACE it opens only the namespaces of
// processes of the agent's own uid, which pod sandboxes are not.
fn no_privilege_beyond_the_attach_mode(d: &Deploy) {
    let attach = d.agent_args().attach;
    let added: BTreeSet<&str> = d
        .container()
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref())
        .and_then(|c| c.add.as_deref())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let needed = needed_capabilities(attach);
    let host_pid = d.pod_spec().host_pid.unwrap_or(false);
    let mut problems = Vec::new();
    if added != needed {
        problems.push(format!(
            "capabilities.add is {added:?}; with --attach {attach:?} the agent needs exactly \
             {needed:?}"
        ));
    }
    if host_pid {
        problems.push(format!(
            "hostPID is set; no attach mode uses it (attach is {attach:?})"
        ));
    }
    assert!(
        problems.is_empty(),
        "the DaemonSet: more (or less) privilege than the agent uses:\n  - {}",
        problems.join("\n  - ")
    );
}
