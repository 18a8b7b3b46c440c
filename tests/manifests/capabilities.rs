//! The DaemonSet's privileges: the capabilities the agent checks for at startup, and no more
//! than its attach mode uses (least privilege, as for the ClusterRole).

use std::collections::BTreeSet;

use shadowtap_agent::cli::AttachMode;

use crate::deploy::load_deploy;

/// Capabilities the DaemonSet may add (see the comments in `deploy/daemonset.yaml`).
const ALLOWED_CAPABILITIES: &[&str] = &["BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN"];

#[test]
fn daemonset_capabilities_fit_the_agent() {
    let d = load_deploy();
    let c = d.container();
    let sc = c
        .security_context
        .as_ref()
        .expect("deploy/daemonset.yaml: the container sets a securityContext");
    assert_ne!(
        sc.privileged,
        Some(true),
        "deploy/daemonset.yaml: not privileged"
    );
    let caps = sc
        .capabilities
        .as_ref()
        .expect("deploy/daemonset.yaml: securityContext.capabilities is set");
    assert_eq!(
        caps.drop.as_deref(),
        Some(&["ALL".to_owned()][..]),
        "deploy/daemonset.yaml: capabilities.drop must be [ALL]"
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
        "deploy/daemonset.yaml: capabilities.add {added:?} must be within {allowed:?}"
    );
    // What the agent checks for at startup (agent/src/runtime/mod.rs, `run`).
    let needed = needed_capabilities(d.agent_args().attach);
    assert!(
        needed.is_subset(&added),
        "deploy/daemonset.yaml: capabilities.add {added:?} lacks some of {needed:?}, which the \
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
    // Least privilege, as for the ClusterRole: CAP_SYS_ADMIN and the host PID namespace serve
    // the pod-side attach mode only (agent/src/runtime/attachments.rs: `--attach host` finds
    // interfaces by route, `--attach pod` enters /proc/<pid>/ns/net with setns).
    let d = load_deploy();
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
    if host_pid != (attach == AttachMode::Pod) {
        problems.push(format!(
            "hostPID is {host_pid}; it is needed with --attach pod only (attach is {attach:?})"
        ));
    }
    assert!(
        problems.is_empty(),
        "deploy/daemonset.yaml: more (or less) privilege than the agent uses:\n  - {}",
        problems.join("\n  - ")
    );
}
