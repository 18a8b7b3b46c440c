//! The strict reader: every YAML document read into its type (k8s-openapi, gateway-api, or
//! [`crate::schemas`]); a wrong kind, a type mismatch or an unknown field fails with the
//! file, the object and the field. Unknown fields are found as in `shadowtap_routes::strict`:
//! deserialize, serialize back, and report the keys of the input missing from the round trip.

use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schemas::{Kustomization, PodMonitor, PrometheusRule, ScrapeJob};

/// One object read from a manifest.
pub enum Object {
    Namespace(Box<Namespace>),
    PriorityClass(Box<PriorityClass>),
    ConfigMap(Box<ConfigMap>),
    PrometheusRule(Box<PrometheusRule>),
    ServiceAccount(Box<ServiceAccount>),
    ClusterRole(Box<ClusterRole>),
    ClusterRoleBinding(Box<ClusterRoleBinding>),
    Role(Box<Role>),
    RoleBinding(Box<RoleBinding>),
    DaemonSet(Box<DaemonSet>),
    HttpRoute(Box<HttpRoute>),
    PodMonitor(Box<PodMonitor>),
    Kustomization(Box<Kustomization>),
}

/// Deserializes one YAML document as `T` (a mismatch names the field path and line), then
/// reports the keys of `input` (the same document) that the round trip through `T` lost.
pub fn strict<T: DeserializeOwned + Serialize>(
    what: &str,
    doc: yaml_serde::Deserializer<'_>,
    input: &Value,
) -> Result<T, String> {
    let typed = T::deserialize(doc).map_err(|e| format!("{what}: does not match its type: {e}"))?;
    let back = serde_json::to_value(&typed)
        .map_err(|e| format!("{what}: cannot be serialized back: {e}"))?;
    let mut fields = Vec::new();
    shadowtap_routes::strict::unknown_fields(input, &back, "", &mut fields);
    if fields.is_empty() {
        Ok(typed)
    } else {
        Err(format!("{what}: unknown field(s) {}", fields.join(", ")))
    }
}

/// `Kind namespace/name` (or `Kind name`) of a raw document.
pub fn describe(value: &Value) -> String {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("?");
    let meta = value.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Reads one Kubernetes object by its apiVersion and kind.
pub fn parse_object(
    what: &str,
    doc: yaml_serde::Deserializer<'_>,
    value: &Value,
) -> Result<Object, String> {
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{what}: not a Kubernetes object (no {name})"))
    };
    let api_version = field("apiVersion")?;
    let kind = field("kind")?;
    Ok(match (api_version, kind) {
        ("v1", "Namespace") => Object::Namespace(Box::new(strict(what, doc, value)?)),
        ("v1", "ServiceAccount") => Object::ServiceAccount(Box::new(strict(what, doc, value)?)),
        ("v1", "ConfigMap") => Object::ConfigMap(Box::new(strict(what, doc, value)?)),
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            Object::PriorityClass(Box::new(strict(what, doc, value)?))
        }
        ("monitoring.coreos.com/v1", "PrometheusRule") => {
            Object::PrometheusRule(Box::new(strict(what, doc, value)?))
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            Object::ClusterRole(Box::new(strict(what, doc, value)?))
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            Object::ClusterRoleBinding(Box::new(strict(what, doc, value)?))
        }
        ("rbac.authorization.k8s.io/v1", "Role") => {
            Object::Role(Box::new(strict(what, doc, value)?))
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            Object::RoleBinding(Box::new(strict(what, doc, value)?))
        }
        ("apps/v1", "DaemonSet") => Object::DaemonSet(Box::new(strict(what, doc, value)?)),
        ("gateway.networking.k8s.io/v1", "HTTPRoute") => {
            Object::HttpRoute(Box::new(strict(what, doc, value)?))
        }
        ("monitoring.coreos.com/v1", "PodMonitor") => {
            Object::PodMonitor(Box::new(strict(what, doc, value)?))
        }
        ("kustomize.config.k8s.io/v1beta1", "Kustomization")
        | ("kustomize.config.k8s.io/v1alpha1", "Component") => {
            Object::Kustomization(Box::new(strict(what, doc, value)?))
        }
        (v, k) => {
            return Err(format!(
                "{what}: unexpected kind {k:?} of apiVersion {v:?} (not one the deployment uses)"
            ))
        }
    })
}

/// Reads every document of `text` (`file` in messages) strictly.
pub fn parse_manifests(file: &str, text: &str) -> Result<Vec<(String, Object)>, String> {
    let values = yaml_serde::Deserializer::from_str(text)
        .map(Value::deserialize)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{file}: not YAML: {e}"))?;
    let several = values.len() > 1;
    let mut out = Vec::new();
    for (i, (value, doc)) in values
        .iter()
        .zip(yaml_serde::Deserializer::from_str(text))
        .enumerate()
    {
        // An empty document: comments only, or a trailing `---`.
        if value.is_null() {
            continue;
        }
        let at = if several {
            format!("{file} (document {})", i + 1)
        } else {
            file.to_owned()
        };
        let what = format!("{at}: {}", describe(value));
        let object = parse_object(&what, doc, value)?;
        out.push((what, object));
    }
    if out.is_empty() {
        return Err(format!("{file}: holds no object"));
    }
    Ok(out)
}

/// Reads a list of Prometheus scrape jobs strictly.
pub fn parse_scrape_jobs(file: &str, text: &str) -> Result<Vec<ScrapeJob>, String> {
    let value: Value = yaml_serde::from_str(text).map_err(|e| format!("{file}: not YAML: {e}"))?;
    let what = format!("{file}: scrape job list");
    strict(&what, yaml_serde::Deserializer::from_str(text), &value)
}
