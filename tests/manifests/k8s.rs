//! How Kubernetes and Prometheus resolve the references between manifests: port names,
//! label selectors, annotation meta labels.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The containerPort `port` refers to (a number or a port name).
pub fn resolve_port(container: &Container, port: &IntOrString) -> Option<i32> {
    let ports = container.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::Int(n) => ports.iter().any(|p| p.container_port == *n).then_some(*n),
        IntOrString::String(name) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

/// The Prometheus meta label of a pod annotation (every character outside `[a-zA-Z0-9_]`
/// becomes `_`).
pub fn annotation_meta_label(annotation: &str) -> String {
    let sanitized: String = annotation
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("__meta_kubernetes_pod_annotation_{sanitized}")
}

/// Whether `selector` (matchLabels only) selects `labels`.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>, what: &str) -> bool {
    assert!(
        selector
            .match_expressions
            .as_deref()
            .unwrap_or_default()
            .is_empty(),
        "{what}: matchExpressions are not supported by this check; use matchLabels"
    );
    let wanted = selector.match_labels.clone().unwrap_or_default();
    assert!(
        !wanted.is_empty(),
        "{what}: an empty selector selects everything"
    );
    wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}
