//! Everything under `deploy/`, read strictly once per test, by kind, with the accessors the
//! checks share (the DaemonSet, its pod template, the agent container and its parsed flags).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::Parser as _;
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, PodTemplateSpec, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use shadowtap_agent::cli::{AgentArgs, Cli, Command};

use crate::schemas::{Kustomization, PodMonitor, ScrapeJob};
use crate::strict::{parse_manifests, parse_scrape_jobs, Object};

/// Manifests under `deploy/` that are Kubernetes objects but stay out of
/// `kustomization.yaml`: their kinds come from an optional add-on (the PodMonitor CRD of the
/// Prometheus Operator), and `kubectl apply -k` would fail on clusters without it.
pub const OPTIONAL_MANIFESTS: &[(&str, &str)] = &[("podmonitor.yaml", "monitoring.coreos.com/v1")];

/// The file of Prometheus scrape jobs (not a Kubernetes object).
pub const SCRAPE_JOBS_FILE: &str = "prometheus-scrape.yaml";

/// The name of the Kustomization file.
pub const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

/// Everything under `deploy/`, by kind.
#[derive(Default)]
pub struct Deploy {
    /// `deploy/`.
    pub dir: PathBuf,
    /// Every YAML file, relative to `deploy/`, with the `apiVersion`s of its objects (empty
    /// for a file that holds no Kubernetes object).
    pub files: BTreeMap<String, Vec<String>>,
    pub namespaces: Vec<Namespace>,
    pub service_accounts: Vec<ServiceAccount>,
    pub cluster_roles: Vec<ClusterRole>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub daemonsets: Vec<DaemonSet>,
    /// `(description, route)`.
    pub http_routes: Vec<(String, HttpRoute)>,
    pub pod_monitors: Vec<PodMonitor>,
    /// `(file, kustomization)`.
    pub kustomizations: Vec<(String, Kustomization)>,
    pub scrape_jobs: Vec<ScrapeJob>,
}

pub fn deploy_dir() -> PathBuf {
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
pub fn load_deploy() -> Deploy {
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
pub fn only<'a, T>(items: &'a [T], kind: &str) -> &'a T {
    assert_eq!(
        items.len(),
        1,
        "deploy/ must hold exactly one {kind}, found {}",
        items.len()
    );
    &items[0]
}

pub fn name_of(meta: &ObjectMeta, kind: &str) -> String {
    meta.name
        .clone()
        .unwrap_or_else(|| panic!("the {kind} has no metadata.name"))
}

impl Deploy {
    pub fn daemonset(&self) -> &DaemonSet {
        only(&self.daemonsets, "DaemonSet")
    }

    pub fn namespace(&self) -> String {
        name_of(&only(&self.namespaces, "Namespace").metadata, "Namespace")
    }

    pub fn daemonset_namespace(&self) -> String {
        self.daemonset()
            .metadata
            .namespace
            .clone()
            .expect("deploy/daemonset.yaml: the DaemonSet sets metadata.namespace")
    }

    pub fn template(&self) -> &PodTemplateSpec {
        &self
            .daemonset()
            .spec
            .as_ref()
            .expect("deploy/daemonset.yaml: the DaemonSet has a spec")
            .template
    }

    pub fn pod_spec(&self) -> &PodSpec {
        self.template()
            .spec
            .as_ref()
            .expect("deploy/daemonset.yaml: the pod template has a spec")
    }

    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        self.template()
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default()
    }

    pub fn pod_annotations(&self) -> BTreeMap<String, String> {
        self.template()
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.clone())
            .unwrap_or_default()
    }

    /// The agent container.
    pub fn container(&self) -> &Container {
        only(
            &self.pod_spec().containers,
            "container in the DaemonSet's pod template",
        )
    }

    /// The container's args as parsed by `shadowtap`.
    pub fn agent_args(&self) -> AgentArgs {
        agent_args_of(self.container())
    }

    /// The port `--metrics-addr` listens on.
    pub fn metrics_port(&self) -> i32 {
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
