//! Checks of the deployment manifests under `deploy/` (and `deploy/examples/`).
//!
//! - Every YAML document is read strictly into its type (k8s-openapi, gateway-api, or a small
//!   local type for the PodMonitor, the Kustomization and the Prometheus scrape jobs): a wrong
//!   kind, a type mismatch or an unknown field fails with the file, the object and the field.
//!   Unknown fields are found as in `shadowtap_routes::strict`: deserialize, serialize back,
//!   and report the keys of the input missing from the round trip.
//! - `kustomization.yaml` lists exactly the manifests to apply, and they exist.
//! - The ClusterRole grants exactly the API calls the agent makes, and the ClusterRoleBinding
//!   gives it to the DaemonSet's ServiceAccount.
//! - The DaemonSet runs `shadowtap agent` with flags the agent accepts, the node name from the
//!   downward API, probes and a metrics port that match the agent's endpoints, the
//!   capabilities it checks for at startup, and scheduling on every node.
//! - The Prometheus scrape job and the PodMonitor find the DaemonSet's pods and metrics port.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser as _;
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, PodTemplateSpec, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shadowtap_agent::cli::{parse_selector, AgentArgs, AttachMode, Cli, Command};

/// Every `(apiGroup, resource, verbs)` the agent (`shadowtap agent`, the DaemonSet) calls.
///
/// - `agent/routes/src/sources/kube_source.rs`, `start_kube_source`: one reflector per resource
///   (`kube::runtime::watcher` with the default `watcher::Config`: an initial `list`, then
///   `watch`), cluster-wide (`Api::all`), never a `get`. ReferenceGrants are read as
///   `DynamicObject`s of `gateway.networking.k8s.io` (`v1beta1` by default); Pods with the
///   field selector `spec.nodeName=<node>`.
/// - `agent/routes/src/sources/events.rs`, `ProblemReporter`: `kube::runtime::events::Recorder`
///   (kube-runtime 4.2, `Recorder::publish`) writes `events.k8s.io/v1` Events in the route's
///   namespace: `create` for a new event, `patch` (a merge patch of its series) when the same
///   event is published again.
const AGENT_API_CALLS: &[(&str, &str, &[&str])] = &[
    (
        "gateway.networking.k8s.io",
        "httproutes",
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
    ("events.k8s.io", "events", &["create", "patch"]),
];

/// Capabilities the DaemonSet may add (see the comments in `deploy/daemonset.yaml`).
const ALLOWED_CAPABILITIES: &[&str] = &["BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN"];

/// Manifests under `deploy/` that are Kubernetes objects but stay out of
/// `kustomization.yaml`: their kinds come from an optional add-on (the PodMonitor CRD of the
/// Prometheus Operator), and `kubectl apply -k` would fail on clusters without it.
const OPTIONAL_MANIFESTS: &[(&str, &str)] = &[("podmonitor.yaml", "monitoring.coreos.com/v1")];

/// The file of Prometheus scrape jobs (not a Kubernetes object).
const SCRAPE_JOBS_FILE: &str = "prometheus-scrape.yaml";

/// The name of the Kustomization file.
const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

// ---------------------------------------------------------------------------------------------
// Types without a crate: the parts of their schemas the manifests may use. Fields absent here
// are reported as unknown.
// ---------------------------------------------------------------------------------------------

/// `kustomize.config.k8s.io/v1beta1` Kustomization.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    metadata: Option<ObjectMeta>,
    #[serde(default)]
    resources: Vec<String>,
    namespace: Option<String>,
    name_prefix: Option<String>,
    name_suffix: Option<String>,
    labels: Option<Vec<Value>>,
    common_labels: Option<BTreeMap<String, String>>,
    common_annotations: Option<BTreeMap<String, String>>,
    images: Option<Vec<Value>>,
    patches: Option<Vec<Value>>,
    components: Option<Vec<String>>,
    config_map_generator: Option<Vec<Value>>,
    secret_generator: Option<Vec<Value>>,
}

/// `monitoring.coreos.com/v1` PodMonitor.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct PodMonitor {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: PodMonitorSpec,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct PodMonitorSpec {
    selector: LabelSelector,
    #[serde(default)]
    pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
    namespace_selector: Option<NamespaceSelector>,
    job_label: Option<String>,
    pod_target_labels: Option<Vec<String>>,
    sample_limit: Option<u64>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceSelector {
    any: Option<bool>,
    match_names: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct PodMetricsEndpoint {
    port: Option<String>,
    port_number: Option<i32>,
    target_port: Option<IntOrString>,
    path: Option<String>,
    scheme: Option<String>,
    params: Option<BTreeMap<String, Vec<String>>>,
    interval: Option<String>,
    scrape_timeout: Option<String>,
    honor_labels: Option<bool>,
    honor_timestamps: Option<bool>,
    relabelings: Option<Vec<Value>>,
    metric_relabelings: Option<Vec<Value>>,
}

/// One entry of a Prometheus `scrape_configs` list.
#[derive(Debug, Deserialize, Serialize)]
struct ScrapeJob {
    job_name: String,
    metrics_path: Option<String>,
    scheme: Option<String>,
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    #[serde(default)]
    kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    #[serde(default)]
    relabel_configs: Vec<RelabelConfig>,
    metric_relabel_configs: Option<Vec<RelabelConfig>>,
}

#[derive(Debug, Deserialize, Serialize)]
struct KubernetesSdConfig {
    role: String,
    namespaces: Option<SdNamespaces>,
}

#[derive(Debug, Deserialize, Serialize)]
struct SdNamespaces {
    #[serde(default)]
    names: Vec<String>,
    own_namespace: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize)]
struct RelabelConfig {
    source_labels: Option<Vec<String>>,
    separator: Option<String>,
    target_label: Option<String>,
    regex: Option<String>,
    modulus: Option<u64>,
    replacement: Option<String>,
    action: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The strict reader.
// ---------------------------------------------------------------------------------------------

/// One object read from a manifest.
enum Object {
    Namespace(Box<Namespace>),
    ServiceAccount(Box<ServiceAccount>),
    ClusterRole(Box<ClusterRole>),
    ClusterRoleBinding(Box<ClusterRoleBinding>),
    DaemonSet(Box<DaemonSet>),
    HttpRoute(Box<HttpRoute>),
    PodMonitor(Box<PodMonitor>),
    Kustomization(Box<Kustomization>),
}

/// Deserializes one YAML document as `T` (a mismatch names the field path and line), then
/// reports the keys of `input` (the same document) that the round trip through `T` lost.
fn strict<T: DeserializeOwned + Serialize>(
    what: &str,
    doc: serde_yaml::Deserializer<'_>,
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
fn describe(value: &Value) -> String {
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
fn parse_object(
    what: &str,
    doc: serde_yaml::Deserializer<'_>,
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
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            Object::ClusterRole(Box::new(strict(what, doc, value)?))
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            Object::ClusterRoleBinding(Box::new(strict(what, doc, value)?))
        }
        ("apps/v1", "DaemonSet") => Object::DaemonSet(Box::new(strict(what, doc, value)?)),
        ("gateway.networking.k8s.io/v1", "HTTPRoute") => {
            Object::HttpRoute(Box::new(strict(what, doc, value)?))
        }
        ("monitoring.coreos.com/v1", "PodMonitor") => {
            Object::PodMonitor(Box::new(strict(what, doc, value)?))
        }
        ("kustomize.config.k8s.io/v1beta1", "Kustomization") => {
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
fn parse_manifests(file: &str, text: &str) -> Result<Vec<(String, Object)>, String> {
    let values = serde_yaml::Deserializer::from_str(text)
        .map(Value::deserialize)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{file}: not YAML: {e}"))?;
    let several = values.len() > 1;
    let mut out = Vec::new();
    for (i, (value, doc)) in values
        .iter()
        .zip(serde_yaml::Deserializer::from_str(text))
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
fn parse_scrape_jobs(file: &str, text: &str) -> Result<Vec<ScrapeJob>, String> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| format!("{file}: not YAML: {e}"))?;
    let what = format!("{file}: scrape job list");
    strict(&what, serde_yaml::Deserializer::from_str(text), &value)
}

// ---------------------------------------------------------------------------------------------
// The deployment.
// ---------------------------------------------------------------------------------------------

/// Everything under `deploy/`, by kind.
#[derive(Default)]
struct Deploy {
    /// `deploy/`.
    dir: PathBuf,
    /// Every YAML file, relative to `deploy/`, with the `apiVersion`s of its objects (empty
    /// for a file that holds no Kubernetes object).
    files: BTreeMap<String, Vec<String>>,
    namespaces: Vec<Namespace>,
    service_accounts: Vec<ServiceAccount>,
    cluster_roles: Vec<ClusterRole>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
    daemonsets: Vec<DaemonSet>,
    /// `(description, route)`.
    http_routes: Vec<(String, HttpRoute)>,
    pod_monitors: Vec<PodMonitor>,
    /// `(file, kustomization)`.
    kustomizations: Vec<(String, Kustomization)>,
    scrape_jobs: Vec<ScrapeJob>,
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

/// Reads every manifest; panics with every problem found.
fn load_deploy() -> Deploy {
    let dir = deploy_dir();
    let mut paths = Vec::new();
    yaml_files(&dir, &mut paths);
    paths.sort();
    assert!(!paths.is_empty(), "no YAML file under {}", dir.display());
    let mut d = Deploy {
        dir: dir.clone(),
        ..Deploy::default()
    };
    let mut errors = Vec::new();
    for path in paths {
        let rel = path
            .strip_prefix(&dir)
            .expect("a file found under deploy/ is under deploy/")
            .to_string_lossy()
            .into_owned();
        let file = format!("deploy/{rel}");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if rel == SCRAPE_JOBS_FILE {
            match parse_scrape_jobs(&file, &text) {
                Ok(jobs) => d.scrape_jobs.extend(jobs),
                Err(e) => errors.push(e),
            }
            d.files.insert(rel, Vec::new());
            continue;
        }
        let objects = match parse_manifests(&file, &text) {
            Ok(objects) => objects,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut api_versions = Vec::new();
        for (what, object) in objects {
            let in_examples = rel.starts_with("examples/");
            let (api_version, allowed) = match object {
                Object::HttpRoute(r) => {
                    d.http_routes.push((what.clone(), *r));
                    ("gateway.networking.k8s.io/v1", in_examples)
                }
                Object::Kustomization(k) => {
                    d.kustomizations.push((rel.clone(), *k));
                    ("kustomize.config.k8s.io/v1beta1", rel == KUSTOMIZATION_FILE)
                }
                Object::Namespace(o) => {
                    d.namespaces.push(*o);
                    ("v1", !in_examples)
                }
                Object::ServiceAccount(o) => {
                    d.service_accounts.push(*o);
                    ("v1", !in_examples)
                }
                Object::ClusterRole(o) => {
                    d.cluster_roles.push(*o);
                    ("rbac.authorization.k8s.io/v1", !in_examples)
                }
                Object::ClusterRoleBinding(o) => {
                    d.cluster_role_bindings.push(*o);
                    ("rbac.authorization.k8s.io/v1", !in_examples)
                }
                Object::DaemonSet(o) => {
                    d.daemonsets.push(*o);
                    ("apps/v1", !in_examples)
                }
                Object::PodMonitor(o) => {
                    d.pod_monitors.push(*o);
                    ("monitoring.coreos.com/v1", !in_examples)
                }
            };
            if !allowed {
                errors.push(format!(
                    "{what}: this kind does not belong in {file} (examples hold HTTPRoutes \
                     only; deploy/ holds the installation; the Kustomization is {KUSTOMIZATION_FILE})"
                ));
            }
            api_versions.push(api_version.to_owned());
        }
        d.files.insert(rel, api_versions);
    }
    assert!(
        errors.is_empty(),
        "deploy manifests rejected:\n  - {}",
        errors.join("\n  - ")
    );
    d
}

/// The only element of `items`.
fn only<'a, T>(items: &'a [T], kind: &str) -> &'a T {
    assert_eq!(
        items.len(),
        1,
        "deploy/ must hold exactly one {kind}, found {}",
        items.len()
    );
    &items[0]
}

fn name_of(meta: &ObjectMeta, kind: &str) -> String {
    meta.name
        .clone()
        .unwrap_or_else(|| panic!("the {kind} has no metadata.name"))
}

impl Deploy {
    fn daemonset(&self) -> &DaemonSet {
        only(&self.daemonsets, "DaemonSet")
    }

    fn namespace(&self) -> String {
        name_of(&only(&self.namespaces, "Namespace").metadata, "Namespace")
    }

    fn daemonset_namespace(&self) -> String {
        self.daemonset()
            .metadata
            .namespace
            .clone()
            .expect("deploy/daemonset.yaml: the DaemonSet sets metadata.namespace")
    }

    fn template(&self) -> &PodTemplateSpec {
        &self
            .daemonset()
            .spec
            .as_ref()
            .expect("deploy/daemonset.yaml: the DaemonSet has a spec")
            .template
    }

    fn pod_spec(&self) -> &PodSpec {
        self.template()
            .spec
            .as_ref()
            .expect("deploy/daemonset.yaml: the pod template has a spec")
    }

    fn pod_labels(&self) -> BTreeMap<String, String> {
        self.template()
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    fn pod_annotations(&self) -> BTreeMap<String, String> {
        self.template()
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.clone())
            .unwrap_or_default()
    }

    /// The agent container.
    fn container(&self) -> &Container {
        only(
            &self.pod_spec().containers,
            "container in the DaemonSet's pod template",
        )
    }

    /// The container's args as parsed by `shadowtap`.
    fn agent_args(&self) -> AgentArgs {
        agent_args_of(self.container())
    }

    /// The port `--metrics-addr` listens on.
    fn metrics_port(&self) -> i32 {
        i32::from(self.agent_args().metrics_addr.port())
    }
}

/// Parses the container's args with the agent's own command line (`shadowtap_agent::cli`).
/// The node name comes from `NODE_NAME` in the pod; a stand-in is passed when the args
/// leave it out.
fn agent_args_of(container: &Container) -> AgentArgs {
    let args = container.args.clone().unwrap_or_default();
    let mut argv = vec!["shadowtap".to_owned()];
    argv.extend(args.iter().cloned());
    if !args
        .iter()
        .any(|a| a == "--node-name" || a.starts_with("--node-name="))
    {
        argv.extend([
            "--node-name".to_owned(),
            "node-from-downward-api".to_owned(),
        ]);
    }
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| {
        panic!("deploy/daemonset.yaml: container args {args:?} are not a valid `shadowtap` command line:\n{e}")
    });
    match cli.command {
        Command::Agent(a) => a,
        other => {
            panic!("deploy/daemonset.yaml: container args {args:?} run {other:?}, not `agent`")
        }
    }
}

/// The containerPort `port` refers to (a number or a port name).
fn resolve_port(container: &Container, port: &IntOrString) -> Option<i32> {
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
fn annotation_meta_label(annotation: &str) -> String {
    let sanitized: String = annotation
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("__meta_kubernetes_pod_annotation_{sanitized}")
}

/// Whether `selector` (matchLabels only) selects `labels`.
fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>, what: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------
// The checker itself.
// ---------------------------------------------------------------------------------------------

const MINIMAL_DAEMONSET: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ds
  namespace: ns
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      serviceAccountName: sa
      containers:
        - name: c
          image: i
          ports:
            - containerPort: 9090
";

#[test]
fn checker_accepts_a_minimal_daemonset() {
    let objects = parse_manifests("test.yaml", MINIMAL_DAEMONSET).expect("a valid DaemonSet");
    assert_eq!(objects.len(), 1);
}

#[test]
fn checker_rejects_a_misspelt_daemonset_field() {
    let text = MINIMAL_DAEMONSET.replace("serviceAccountName", "serviceAcountName");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("a misspelt field is rejected");
    for part in [
        "test.yaml",
        "DaemonSet ns/ds",
        "spec.template.spec.serviceAcountName",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }

    // The same mistake in the real manifest.
    let path = deploy_dir().join("daemonset.yaml");
    let real = fs::read_to_string(&path).expect("deploy/daemonset.yaml is readable");
    assert!(real.contains("serviceAccountName:"));
    let err = parse_manifests(
        "deploy/daemonset.yaml",
        &real.replace("serviceAccountName:", "serviceAcountName:"),
    )
    .err()
    .expect("a misspelt field in the real DaemonSet is rejected");
    assert!(
        err.contains("deploy/daemonset.yaml")
            && err.contains("spec.template.spec.serviceAcountName"),
        "{err}"
    );
}

#[test]
fn checker_rejects_an_unknown_cluster_role_field() {
    let text = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: r
rules:
  - apiGroups: [\"\"]
    resources: [pods]
    verbs: [list]
    resourceNamez: [p]
";
    let err = parse_manifests("role.yaml", text)
        .err()
        .expect("an unknown field is rejected");
    for part in ["role.yaml", "ClusterRole r", "rules[0].resourceNamez"] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn checker_rejects_a_misspelt_example_route_field() {
    let path = deploy_dir().join("examples/httproute-42-percent.yaml");
    let real =
        fs::read_to_string(&path).expect("deploy/examples/httproute-42-percent.yaml is readable");
    assert!(real.contains("percent: 42"));
    let err = parse_manifests("example.yaml", &real.replace("percent: 42", "percnt: 42"))
        .err()
        .expect("a misspelt RequestMirror field is rejected");
    for part in [
        "example.yaml",
        "HTTPRoute default/foo-route",
        "spec.rules[0].filters[0].requestMirror.percnt",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn checker_rejects_a_type_mismatch_naming_the_field() {
    let text = MINIMAL_DAEMONSET.replace("containerPort: 9090", "containerPort: metrics");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("a string port is rejected");
    for part in [
        "test.yaml",
        "DaemonSet ns/ds",
        "spec.template.spec.containers[0].ports[0].containerPort",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn checker_rejects_a_wrong_kind() {
    let text = MINIMAL_DAEMONSET.replace("kind: DaemonSet", "kind: Daemonset");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("an unknown kind is rejected");
    assert!(
        err.contains("test.yaml") && err.contains("Daemonset"),
        "{err}"
    );

    // A kind under the apiVersion of another.
    let text = MINIMAL_DAEMONSET.replace("apiVersion: apps/v1", "apiVersion: v1");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("a DaemonSet of apiVersion v1 is rejected");
    assert!(err.contains("DaemonSet ns/ds"), "{err}");
}

#[test]
fn checker_reads_every_document_of_a_file() {
    let text = format!(
        "{MINIMAL_DAEMONSET}---\n{}",
        MINIMAL_DAEMONSET.replace("name: ds", "name: ds2")
    );
    let objects = parse_manifests("two.yaml", &text).expect("two valid documents");
    assert_eq!(objects.len(), 2);
    let bad = format!(
        "{MINIMAL_DAEMONSET}---\n{}",
        MINIMAL_DAEMONSET.replace("name: c", "nme: c")
    );
    let err = parse_manifests("two.yaml", &bad)
        .err()
        .expect("the second document is checked too");
    assert!(
        err.contains("two.yaml (document 2)") && err.contains("nme"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The manifests.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_manifest_is_read_strictly() {
    let d = load_deploy();
    // One of each installation object.
    only(&d.namespaces, "Namespace");
    only(&d.service_accounts, "ServiceAccount");
    only(&d.cluster_roles, "ClusterRole");
    only(&d.cluster_role_bindings, "ClusterRoleBinding");
    d.daemonset();
    only(&d.kustomizations, "Kustomization");
    assert!(
        !d.http_routes.is_empty(),
        "deploy/examples/ holds no HTTPRoute"
    );

    // Namespaced objects live in the Namespace the installation creates.
    let ns = d.namespace();
    let namespaced = d
        .service_accounts
        .iter()
        .map(|o| ("ServiceAccount", &o.metadata))
        .chain(d.daemonsets.iter().map(|o| ("DaemonSet", &o.metadata)))
        .chain(d.pod_monitors.iter().map(|o| ("PodMonitor", &o.metadata)));
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
    let d = load_deploy();
    // `shadowtap agent --routes deploy/examples` reads them (and rejects nothing).
    let examples = d.dir.join("examples");
    let store = shadowtap_routes::load_path(&examples).unwrap_or_else(|e| {
        panic!(
            "{}: rejected by the agent's reader: {e}",
            examples.display()
        )
    });
    assert_eq!(
        store.routes.len(),
        d.http_routes.len(),
        "the agent's reader and this test read different HTTPRoutes from deploy/examples/"
    );
    // Every example carries the agent's default opt-in label selector.
    let selector = parse_selector(&d.agent_args().source.label_selector)
        .expect("the DaemonSet's label selector parses");
    for (what, route) in &d.http_routes {
        assert!(
            selector.matches(route.metadata.labels.as_ref()),
            "{what}: not selected by {selector} (the agent's --label-selector default)"
        );
    }
}

#[test]
fn kustomization_lists_every_installation_manifest() {
    let d = load_deploy();
    let (file, k) = only(&d.kustomizations, "Kustomization");
    assert_eq!(file, KUSTOMIZATION_FILE);
    assert_eq!(k.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k.kind, "Kustomization");

    let listed: Vec<&str> = k.resources.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    for r in &listed {
        assert!(seen.insert(*r), "deploy/{file}: {r} is listed twice");
        assert!(
            d.dir.join(r).is_file(),
            "deploy/{file}: lists {r}, which does not exist"
        );
    }
    for (optional, api_version) in OPTIONAL_MANIFESTS {
        let versions = d
            .files
            .get(*optional)
            .unwrap_or_else(|| panic!("deploy/{optional} (an optional manifest) is missing"));
        assert!(
            versions.iter().all(|v| v == api_version),
            "deploy/{optional} is left out of the Kustomization as an add-on's {api_version} \
             object, but holds {versions:?}"
        );
    }
    let expected: BTreeSet<&str> = d
        .files
        .iter()
        .filter(|(rel, versions)| {
            !rel.starts_with("examples/")
                && rel.as_str() != KUSTOMIZATION_FILE
                && !versions.is_empty()
                && !OPTIONAL_MANIFESTS.iter().any(|(o, _)| o == rel)
        })
        .map(|(rel, _)| rel.as_str())
        .collect();
    assert_eq!(
        seen, expected,
        "deploy/{file}: resources must be exactly the installation manifests of deploy/ \
         (not the examples, not {SCRAPE_JOBS_FILE}, not the optional {OPTIONAL_MANIFESTS:?})"
    );
}

#[test]
fn cluster_role_grants_exactly_the_agent_api_calls() {
    let d = load_deploy();
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
    let table: BTreeSet<(&str, &str)> = AGENT_API_CALLS.iter().map(|(g, r, _)| (*g, *r)).collect();
    for gr in [
        group_resource::<k8s_openapi::api::core::v1::Service>(),
        group_resource::<k8s_openapi::api::core::v1::Pod>(),
        group_resource::<k8s_openapi::api::discovery::v1::EndpointSlice>(),
        group_resource::<k8s_openapi::api::events::v1::Event>(),
    ] {
        assert!(table.contains(&gr), "AGENT_API_CALLS lacks {gr:?}");
    }
    for r in ["httproutes", "gateways", "referencegrants"] {
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
        let at = format!("deploy/clusterrole.yaml: ClusterRole {role_name}: rules[{i}]");
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
        "deploy/clusterrole.yaml: ClusterRole {role_name} must grant exactly the agent's API \
         calls (see AGENT_API_CALLS).\n  (group, resource, verb) needed but not granted: \
         {missing:?}\n  granted but not needed: {extra:?}"
    );
}

#[test]
fn cluster_role_binding_binds_the_daemonset_service_account() {
    let d = load_deploy();
    let role_name = name_of(
        &only(&d.cluster_roles, "ClusterRole").metadata,
        "ClusterRole",
    );
    let binding = only(&d.cluster_role_bindings, "ClusterRoleBinding");
    let what = format!(
        "deploy/clusterrolebinding.yaml: ClusterRoleBinding {}",
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
        .expect("deploy/daemonset.yaml: the pod template sets serviceAccountName");
    let ds_ns = d.daemonset_namespace();
    assert_ne!(
        d.pod_spec().automount_service_account_token,
        Some(false),
        "deploy/daemonset.yaml: the agent needs its ServiceAccount token"
    );
    let sa = only(&d.service_accounts, "ServiceAccount");
    assert_eq!(
        (
            sa.metadata.name.as_deref(),
            sa.metadata.namespace.as_deref()
        ),
        (Some(sa_name.as_str()), Some(ds_ns.as_str())),
        "deploy/serviceaccount.yaml: must be the DaemonSet's ServiceAccount, in its namespace"
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
}

#[test]
fn daemonset_runs_the_agent_with_its_own_flags() {
    let d = load_deploy();
    let c = d.container();
    assert_eq!(
        c.command, None,
        "deploy/daemonset.yaml: the image's ENTRYPOINT is the shadowtap binary; leave command unset"
    );
    let args = c.args.clone().unwrap_or_default();
    assert_eq!(
        args.first().map(String::as_str),
        Some("agent"),
        "deploy/daemonset.yaml: container args must start with `agent`, got {args:?}"
    );
    let agent = d.agent_args();
    assert_eq!(
        agent.source.routes, None,
        "deploy/daemonset.yaml: the DaemonSet reads routes from the API (the ClusterRole is for \
         that), not --routes"
    );

    // The selector picks the template's pods.
    let ds = d.daemonset();
    let selector = &ds
        .spec
        .as_ref()
        .expect("deploy/daemonset.yaml: the DaemonSet has a spec")
        .selector;
    assert!(
        selects(
            selector,
            &d.pod_labels(),
            "deploy/daemonset.yaml: spec.selector"
        ),
        "deploy/daemonset.yaml: spec.selector does not match the pod template's labels"
    );

    // The image is this release.
    let image = c.image.clone().unwrap_or_default();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        image.ends_with(&format!(":{version}")),
        "deploy/daemonset.yaml: image {image:?} is not the workspace version {version}"
    );
}

#[test]
fn daemonset_node_name_comes_from_the_downward_api() {
    let d = load_deploy();
    let env = d.container().env.clone().unwrap_or_default();
    let node: Vec<_> = env.iter().filter(|e| e.name == "NODE_NAME").collect();
    assert_eq!(
        node.len(),
        1,
        "deploy/daemonset.yaml: env NODE_NAME set once"
    );
    let node = node[0];
    assert_eq!(
        node.value, None,
        "deploy/daemonset.yaml: env NODE_NAME has no literal value"
    );
    let field_ref = node
        .value_from
        .as_ref()
        .and_then(|v| v.field_ref.as_ref())
        .expect("deploy/daemonset.yaml: env NODE_NAME comes from valueFrom.fieldRef");
    assert_eq!(
        field_ref.field_path, "spec.nodeName",
        "deploy/daemonset.yaml: NODE_NAME fieldPath"
    );
    assert!(
        matches!(field_ref.api_version.as_deref(), None | Some("v1")),
        "deploy/daemonset.yaml: NODE_NAME fieldRef.apiVersion"
    );
}

#[test]
fn daemonset_metrics_port_probes_and_annotations_agree() {
    let d = load_deploy();
    let c = d.container();
    let port = d.metrics_port();
    let ports = c.ports.as_deref().unwrap_or_default();
    let metrics = ports
        .iter()
        .find(|p| p.container_port == port)
        .unwrap_or_else(|| {
            panic!("deploy/daemonset.yaml: no containerPort {port} (the --metrics-addr port)")
        });
    assert!(
        matches!(metrics.protocol.as_deref(), None | Some("TCP")),
        "deploy/daemonset.yaml: the metrics port is TCP"
    );
    assert!(
        metrics.name.is_some(),
        "deploy/daemonset.yaml: the metrics containerPort needs a name (probes, PodMonitor)"
    );
    if let Some(host_port) = metrics.host_port {
        assert_eq!(
            host_port, port,
            "deploy/daemonset.yaml: with hostNetwork, hostPort = containerPort"
        );
    }

    for (probe, path, what) in [
        (&c.liveness_probe, "/healthz", "livenessProbe"),
        (&c.readiness_probe, "/readyz", "readinessProbe"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .unwrap_or_else(|| panic!("deploy/daemonset.yaml: {what} is an httpGet probe"));
        assert_eq!(
            get.path.as_deref(),
            Some(path),
            "deploy/daemonset.yaml: {what}.httpGet.path"
        );
        assert_eq!(
            resolve_port(c, &get.port),
            Some(port),
            "deploy/daemonset.yaml: {what}.httpGet.port {:?} must be the metrics port {port}",
            get.port
        );
        assert!(
            matches!(get.scheme.as_deref(), None | Some("HTTP")),
            "deploy/daemonset.yaml: {what}: the agent serves plain HTTP"
        );
    }

    let annotations = d.pod_annotations();
    let annotation = |k: &str| annotations.get(k).map(String::as_str);
    assert_eq!(
        annotation("prometheus.io/scrape"),
        Some("true"),
        "deploy/daemonset.yaml: annotations"
    );
    assert_eq!(
        annotation("prometheus.io/port"),
        Some(port.to_string().as_str()),
        "deploy/daemonset.yaml: the prometheus.io/port annotation must be the metrics port"
    );
    assert_eq!(
        annotation("prometheus.io/path"),
        Some("/metrics"),
        "deploy/daemonset.yaml: annotations"
    );
}

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

#[test]
fn daemonset_runs_on_every_node_with_resources_set() {
    let d = load_deploy();
    let spec = d.pod_spec();
    assert_eq!(
        spec.host_network,
        Some(true),
        "deploy/daemonset.yaml: hostNetwork: the programs attach to the node's interfaces"
    );
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.as_deref().unwrap_or_default().is_empty()
                && t.effect.as_deref().unwrap_or_default().is_empty()),
        "deploy/daemonset.yaml: a toleration with operator Exists and no key or effect \
         (tolerates every taint) is needed to run on every node, got {tolerations:?}"
    );

    let resources = d
        .container()
        .resources
        .as_ref()
        .expect("deploy/daemonset.yaml: the container sets resources");
    let requests = resources.requests.clone().unwrap_or_default();
    let limits = resources.limits.clone().unwrap_or_default();
    for key in ["cpu", "memory"] {
        assert!(
            requests.contains_key(key),
            "deploy/daemonset.yaml: resources.requests.{key} is set"
        );
    }
    assert!(
        limits.contains_key("memory"),
        "deploy/daemonset.yaml: resources.limits.memory is set"
    );
}

#[test]
fn prometheus_scrape_job_finds_the_daemonset_pods() {
    let d = load_deploy();
    let file = format!("deploy/{SCRAPE_JOBS_FILE}");
    let job = only(&d.scrape_jobs, "Prometheus scrape job");
    assert_eq!(job.job_name, "shadowtap", "{file}: job_name");

    let ns = d.daemonset_namespace();
    let sd = only(&job.kubernetes_sd_configs, "kubernetes_sd_configs entry");
    assert_eq!(sd.role, "pod", "{file}: kubernetes_sd_configs[0].role");
    if let Some(namespaces) = &sd.namespaces {
        assert!(
            namespaces.names.contains(&ns),
            "{file}: kubernetes_sd_configs[0].namespaces.names must include {ns}"
        );
    }

    const ACTIONS: &[&str] = &[
        "replace",
        "keep",
        "drop",
        "keepequal",
        "dropequal",
        "hashmod",
        "labelmap",
        "labeldrop",
        "labelkeep",
        "lowercase",
        "uppercase",
    ];
    let annotations = d.pod_annotations();
    let annotation_labels: BTreeMap<String, &String> = annotations
        .iter()
        .map(|(k, v)| (annotation_meta_label(k), v))
        .collect();
    for (i, r) in job.relabel_configs.iter().enumerate() {
        let action = r.action.as_deref().unwrap_or("replace");
        assert!(
            ACTIONS.contains(&action),
            "{file}: relabel_configs[{i}].action {action:?}"
        );
        for label in r.source_labels.as_deref().unwrap_or_default() {
            if label.starts_with("__meta_kubernetes_pod_annotation_") {
                assert!(
                    annotation_labels.contains_key(label),
                    "{file}: relabel_configs[{i}] reads {label}, an annotation the DaemonSet's \
                     pods do not carry"
                );
            }
        }
    }
    let scrape = annotation_meta_label("prometheus.io/scrape");
    assert!(
        job.relabel_configs
            .iter()
            .any(|r| r.action.as_deref() == Some("keep")
                && r.source_labels.as_deref() == Some(&[scrape.clone()][..])
                && r.regex.as_deref()
                    == annotations.get("prometheus.io/scrape").map(String::as_str)),
        "{file}: keeps the pods whose prometheus.io/scrape annotation is as in the DaemonSet"
    );
    let port = annotation_meta_label("prometheus.io/port");
    assert!(
        job.relabel_configs
            .iter()
            .any(|r| r.target_label.as_deref() == Some("__address__")
                && r.source_labels
                    .as_deref()
                    .unwrap_or_default()
                    .contains(&port)),
        "{file}: sets __address__ from the prometheus.io/port annotation"
    );
    // The path: metrics_path (default /metrics), unless a relabeling sets __metrics_path__.
    if !job
        .relabel_configs
        .iter()
        .any(|r| r.target_label.as_deref() == Some("__metrics_path__"))
    {
        assert_eq!(
            Some(job.metrics_path.as_deref().unwrap_or("/metrics")),
            annotations.get("prometheus.io/path").map(String::as_str),
            "{file}: the scraped path is the DaemonSet's prometheus.io/path"
        );
    }
}

#[test]
fn podmonitor_selects_the_daemonset_metrics_port() {
    let d = load_deploy();
    let file = "deploy/podmonitor.yaml";
    let pm = only(&d.pod_monitors, "PodMonitor");
    assert_eq!(
        pm.api_version, "monitoring.coreos.com/v1",
        "{file}: apiVersion"
    );
    assert_eq!(pm.kind, "PodMonitor", "{file}: kind");
    // Without a namespaceSelector a PodMonitor selects pods of its own namespace.
    if pm.spec.namespace_selector.is_none() {
        assert_eq!(
            pm.metadata.namespace,
            Some(d.daemonset_namespace()),
            "{file}: the PodMonitor is in the DaemonSet's namespace (no namespaceSelector)"
        );
    }
    assert!(
        selects(&pm.spec.selector, &d.pod_labels(), file),
        "{file}: spec.selector does not match the DaemonSet's pod labels {:?}",
        d.pod_labels()
    );
    let c = d.container();
    let metrics_port = d.metrics_port();
    assert!(
        !pm.spec.pod_metrics_endpoints.is_empty(),
        "{file}: podMetricsEndpoints is empty"
    );
    for (i, e) in pm.spec.pod_metrics_endpoints.iter().enumerate() {
        let port = e.port.as_ref().unwrap_or_else(|| {
            panic!("{file}: podMetricsEndpoints[{i}].port (a port name) is set")
        });
        assert_eq!(
            resolve_port(c, &IntOrString::String(port.clone())),
            Some(metrics_port),
            "{file}: podMetricsEndpoints[{i}].port {port:?} must name the container's metrics port"
        );
        assert_eq!(
            e.path.as_deref().unwrap_or("/metrics"),
            "/metrics",
            "{file}: podMetricsEndpoints[{i}].path"
        );
    }
}
