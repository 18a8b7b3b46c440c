//! Manifest types without a crate: the parts of their schemas the manifests may use. Fields
//! absent here are reported as unknown by the strict reader.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `kustomize.config.k8s.io/v1beta1` Kustomization, and `kustomize.config.k8s.io/v1alpha1`
/// Component (the same fields).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    pub api_version: String,
    pub kind: String,
    pub metadata: Option<ObjectMeta>,
    #[serde(default)]
    pub resources: Vec<String>,
    pub namespace: Option<String>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub labels: Option<Vec<Value>>,
    pub common_labels: Option<BTreeMap<String, String>>,
    pub common_annotations: Option<BTreeMap<String, String>>,
    pub images: Option<Vec<Value>>,
    pub patches: Option<Vec<Value>>,
    pub components: Option<Vec<String>>,
    pub config_map_generator: Option<Vec<Value>>,
    pub secret_generator: Option<Vec<Value>>,
}

/// `monitoring.coreos.com/v1` PrometheusRule.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PrometheusRuleSpec,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroup {
    pub name: String,
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

/// An alerting rule (`alert`) or a recording rule (`record`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub alert: Option<String>,
    pub record: Option<String>,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: Option<String>,
    pub keep_firing_for: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `monitoring.coreos.com/v1` PodMonitor.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitor {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PodMonitorSpec,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMonitorSpec {
    pub selector: LabelSelector,
    #[serde(default)]
    pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
    pub namespace_selector: Option<NamespaceSelector>,
    pub job_label: Option<String>,
    pub pod_target_labels: Option<Vec<String>>,
    pub sample_limit: Option<u64>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    pub any: Option<bool>,
    pub match_names: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMetricsEndpoint {
    pub port: Option<String>,
    pub port_number: Option<i32>,
    pub target_port: Option<IntOrString>,
    pub path: Option<String>,
    pub scheme: Option<String>,
    pub params: Option<BTreeMap<String, Vec<String>>>,
    pub interval: Option<String>,
    pub scrape_timeout: Option<String>,
    pub honor_labels: Option<bool>,
    pub honor_timestamps: Option<bool>,
    pub relabelings: Option<Vec<Value>>,
    pub metric_relabelings: Option<Vec<Value>>,
}

/// One entry of a Prometheus `scrape_configs` list.
#[derive(Debug, Deserialize, Serialize)]
pub struct ScrapeJob {
    pub job_name: String,
    pub metrics_path: Option<String>,
    pub scheme: Option<String>,
    pub scrape_interval: Option<String>,
    pub scrape_timeout: Option<String>,
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Option<Vec<RelabelConfig>>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct KubernetesSdConfig {
    pub role: String,
    pub namespaces: Option<SdNamespaces>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct SdNamespaces {
    #[serde(default)]
    pub names: Vec<String>,
    pub own_namespace: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct RelabelConfig {
    pub source_labels: Option<Vec<String>>,
    pub separator: Option<String>,
    pub target_label: Option<String>,
    pub regex: Option<String>,
    pub modulus: Option<u64>,
    pub replacement: Option<String>,
    pub action: Option<String>,
}
