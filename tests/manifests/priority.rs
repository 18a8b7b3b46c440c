//! The agent's priority: a PriorityClass of the installation's own, not a `system-*` class
//! (managed clusters admit those outside kube-system only under a quota that names them),
//! above ordinary workloads and within the range users may define.

use crate::deploy::{each_installation, name_of, only};

/// The largest value a user-defined PriorityClass may have (the API server rejects more).
const MAX_USER_PRIORITY: i32 = 1_000_000_000;

#[test]
fn daemonset_uses_the_installation_priority_class() {
    each_installation(|_, d| {
        let class = only(&d.priority_classes, "PriorityClass");
        let name = name_of(&class.metadata, "PriorityClass");
        assert_eq!(
            d.pod_spec().priority_class_name.as_deref(),
            Some(name.as_str()),
            "the DaemonSet: priorityClassName must be the installation's PriorityClass"
        );
        assert!(
            !name.starts_with("system-"),
            "PriorityClass {name}: the system- prefix is reserved"
        );
        let value = class.value.unwrap_or(0);
        assert!(
            value > 0 && value <= MAX_USER_PRIORITY,
            "PriorityClass {name}: value {value} must outrank ordinary pods (0) and stay within \
             the user range (≤ {MAX_USER_PRIORITY})"
        );
        assert_ne!(
            class.global_default,
            Some(true),
            "PriorityClass {name}: must not become every pod's default"
        );
        assert!(
            matches!(
                class.preemption_policy.as_deref(),
                None | Some("PreemptLowerPriority")
            ),
            "PriorityClass {name}: the agent must be able to take its place on a full node"
        );
    });
}
