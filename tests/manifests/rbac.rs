//! The ClusterRole grants exactly the API calls the agent makes, and the ClusterRoleBinding
//! gives it to the DaemonSet's ServiceAccount.

use std::collections::BTreeSet;

use crate::deploy::{each_installation, name_of, only};

/// Every `(apiGroup, resource, verbs)` the agent (`shadowtap agent`, the DaemonSet) calls.
///
/// - `agent/routes/src/sources/kube_source.rs`, `start_kube_source`: one reflector per resource
///   (HTTPRoutes and GRPCRoutes alike)
///   (`kube::runtime::watcher` with the default `watcher::Config`: an initial `list`, then
///   `watch`), cluster-wide (`Api::all`), never a `get`. ReferenceGrants are read as
///   `DynamicObject`s of `gateway.networking.k8s.io` (`v1beta1` by default); Pods with the
///   field selector `spec.nodeName=<node>` and, namespaced, the Pods of the namespaces that
///   have GAMMA consumer routes (`sources/client_pods.rs`).
/// - `agent/routes/src/sources/events.rs`, `ProblemReporter`: `create` of `events.k8s.io/v1`
///   Events with deterministic names in the route's namespace (an `AlreadyExists` answer means
///   another agent published it); never a patch.
const AGENT_API_CALLS: &[(&str, &str, &[&str])] = &[
    (
        "gateway.networking.k8s.io",
        "httproutes",
        &["list", "watch"],
    ),
    (
        "gateway.networking.k8s.io",
        "grpcroutes",
        &["list", "watch"],
    ),
    ("gateway.networking.k8s.io", "gateways", &["list", "watch"]),
    (
        "gateway.networking.k8s.io",
        "referencegrants",
        &["list", "watch"],
    ),
    ("", "services", &["list", "watch"]),
    ("discovery.k8s.io", "endpointslices", &["list", "watch"]),
    ("", "pods", &["list", "watch"]),
    ("", "namespaces", &["list", "watch"]),
    ("events.k8s.io", "events", &["create"]),
];

/// The Lease calls of the election (`agent/routes/src/sources/leader.rs`, kube-lease-manager):
/// `create` when the Lease is missing (a create cannot be limited by name), then `get` and
/// `patch` (server-side apply, strategic merge) of that one Lease. `(verbs, by name)`.
const LEASE_CALLS: &[(&[&str], bool)] = &[(&["create"], false), (&["get", "patch"], true)];

#[test]
fn cluster_role_grants_exactly_the_agent_api_calls() {
    each_installation(|_, d| {
        let role = only(&d.cluster_roles, "ClusterRole");
        let role_name = name_of(&role.metadata, "ClusterRole");
        assert!(
            role.aggregation_rule.is_none(),
            "ClusterRole {role_name}: no aggregationRule (it would grant other roles' rules)"
        );

        // The table names the resources of the types the code uses.
        fn group_resource<K: k8s_openapi::Resource>() -> (&'static str, &'static str) {
            (K::GROUP, K::URL_PATH_SEGMENT)
        }
        let table: BTreeSet<(&str, &str)> =
            AGENT_API_CALLS.iter().map(|(g, r, _)| (*g, *r)).collect();
        for gr in [
            group_resource::<k8s_openapi::api::core::v1::Service>(),
            group_resource::<k8s_openapi::api::core::v1::Pod>(),
            group_resource::<k8s_openapi::api::core::v1::Namespace>(),
            group_resource::<k8s_openapi::api::discovery::v1::EndpointSlice>(),
            group_resource::<k8s_openapi::api::events::v1::Event>(),
        ] {
            assert!(table.contains(&gr), "AGENT_API_CALLS lacks {gr:?}");
        }
        for r in ["httproutes", "grpcroutes", "gateways", "referencegrants"] {
            assert!(table.contains(&(shadowtap_routes::defaults::GATEWAY_GROUP, r)));
        }

        let needed: BTreeSet<(String, String, String)> = AGENT_API_CALLS
            .iter()
            .flat_map(|(g, r, verbs)| {
                verbs
                    .iter()
                    .map(move |v| ((*g).to_owned(), (*r).to_owned(), (*v).to_owned()))
            })
            .collect();
        let mut granted = BTreeSet::new();
        for (i, rule) in role.rules.as_deref().unwrap_or_default().iter().enumerate() {
            let at = format!("ClusterRole {role_name}: rules[{i}]");
            assert!(
                rule.non_resource_urls
                    .as_deref()
                    .unwrap_or_default()
                    .is_empty(),
                "{at}: nonResourceURLs are not used by the agent"
            );
            assert!(
                rule.resource_names
                    .as_deref()
                    .unwrap_or_default()
                    .is_empty(),
                "{at}: resourceNames cannot restrict list, watch or create; the agent's calls are \
             not by name"
            );
            let groups = rule.api_groups.as_deref().unwrap_or_default();
            let resources = rule.resources.as_deref().unwrap_or_default();
            assert!(
                !groups.is_empty() && !resources.is_empty() && !rule.verbs.is_empty(),
                "{at}: grants nothing (apiGroups, resources and verbs must all be set)"
            );
            for g in groups {
                for r in resources {
                    for v in &rule.verbs {
                        granted.insert((g.clone(), r.clone(), v.clone()));
                    }
                }
            }
        }
        let missing: Vec<_> = needed.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&needed).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "ClusterRole {role_name} must grant exactly the agent's API \
         calls (see AGENT_API_CALLS).\n  (group, resource, verb) needed but not granted: \
         {missing:?}\n  granted but not needed: {extra:?}"
        );
    });
}

#[test]
fn cluster_role_binding_binds_the_daemonset_service_account() {
    each_installation(|_, d| {
        let role_name = name_of(
            &only(&d.cluster_roles, "ClusterRole").metadata,
            "ClusterRole",
        );
        let binding = only(&d.cluster_role_bindings, "ClusterRoleBinding");
        let what = format!(
            "ClusterRoleBinding {}",
            name_of(&binding.metadata, "ClusterRoleBinding")
        );
        assert_eq!(
            binding.role_ref.api_group.as_deref(),
            Some("rbac.authorization.k8s.io"),
            "{what}: roleRef.apiGroup"
        );
        assert_eq!(binding.role_ref.kind, "ClusterRole", "{what}: roleRef.kind");
        assert_eq!(binding.role_ref.name, role_name, "{what}: roleRef.name");

        let sa_name = d
            .pod_spec()
            .service_account_name
            .clone()
            .expect("the DaemonSet: the pod template sets serviceAccountName");
        let ds_ns = d.daemonset_namespace();
        assert_ne!(
            d.pod_spec().automount_service_account_token,
            Some(false),
            "the DaemonSet: the agent needs its ServiceAccount token"
        );
        let sa = only(&d.service_accounts, "ServiceAccount");
        assert_eq!(
            (
                sa.metadata.name.as_deref(),
                sa.metadata.namespace.as_deref()
            ),
            (Some(sa_name.as_str()), Some(ds_ns.as_str())),
            "the ServiceAccount: must be the DaemonSet's ServiceAccount, in its namespace"
        );

        let subjects = binding.subjects.as_deref().unwrap_or_default();
        assert_eq!(
            subjects.len(),
            1,
            "{what}: exactly one subject, the agent's ServiceAccount"
        );
        let s = &subjects[0];
        assert_eq!(s.kind, "ServiceAccount", "{what}: subjects[0].kind");
        assert_eq!(s.name, sa_name, "{what}: subjects[0].name");
        assert_eq!(
            s.namespace.as_deref(),
            Some(ds_ns.as_str()),
            "{what}: subjects[0].namespace"
        );
        assert!(
            s.api_group.as_deref().unwrap_or_default().is_empty(),
            "{what}: subjects[0].apiGroup is \"\" for a ServiceAccount"
        );
    });
}

#[test]
fn lease_role_grants_exactly_the_election_calls_in_the_lease_namespace() {
    each_installation(|_, d| {
        let role = only(&d.roles, "Role");
        let role_name = name_of(&role.metadata, "Role");
        let lease_ns = d.agent_args().lease_namespace;
        assert_eq!(
            role.metadata.namespace.as_deref(),
            Some(lease_ns.as_str()),
            "Role {role_name}: in the namespace the agent keeps its Lease in (--lease-namespace)"
        );
        let mut granted = BTreeSet::new();
        for (i, rule) in role.rules.as_deref().unwrap_or_default().iter().enumerate() {
            let at = format!("Role {role_name}: rules[{i}]");
            assert_eq!(
                rule.api_groups.as_deref().unwrap_or_default(),
                ["coordination.k8s.io".to_owned()],
                "{at}"
            );
            assert_eq!(
                rule.resources.as_deref().unwrap_or_default(),
                ["leases".to_owned()],
                "{at}"
            );
            let names = rule.resource_names.clone().unwrap_or_default();
            assert!(
                names.is_empty() || names == [shadowtap_routes::LEASE_NAME.to_owned()],
                "{at}: resourceNames may only name the agent's Lease"
            );
            for v in &rule.verbs {
                granted.insert((v.clone(), !names.is_empty()));
            }
        }
        let needed: BTreeSet<(String, bool)> = LEASE_CALLS
            .iter()
            .flat_map(|(verbs, by_name)| verbs.iter().map(move |v| ((*v).to_owned(), *by_name)))
            .collect();
        assert_eq!(
            granted, needed,
            "Role {role_name}: exactly the election's calls, get and patch only on the Lease by name"
        );

        let binding = only(&d.role_bindings, "RoleBinding");
        let what = format!("RoleBinding {}", name_of(&binding.metadata, "RoleBinding"));
        assert_eq!(
            binding.metadata.namespace, role.metadata.namespace,
            "{what}"
        );
        assert_eq!(
            (
                binding.role_ref.kind.as_str(),
                binding.role_ref.name.as_str()
            ),
            ("Role", role_name.as_str()),
            "{what}: roleRef"
        );
        let sa = d
            .pod_spec()
            .service_account_name
            .clone()
            .expect("the DaemonSet sets serviceAccountName");
        let subjects = binding.subjects.as_deref().unwrap_or_default();
        assert!(
            subjects.len() == 1
                && subjects[0].kind == "ServiceAccount"
                && subjects[0].name == sa
                && subjects[0].namespace.as_deref() == Some(d.daemonset_namespace().as_str()),
            "{what}: exactly the DaemonSet's ServiceAccount"
        );
    });
}
