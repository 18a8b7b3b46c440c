//! The installations under `deploy/` as rendered by kustomize, read strictly, by kind, with the
//! accessors the checks share (the DaemonSet, its pod template, the agent container and its
//! parsed flags); and the files users read directly: the example routes and the scrape job.

use std::collections::BTreeMap;
use std::fs;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::Parser as _;
use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, PodTemplateSpec, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use shadowtap_agent::cli::{AgentArgs, Cli, Command};

use crate::render::Installation;
use crate::schemas::{PodMonitor, PrometheusRule, ScrapeJob};
use crate::strict::{parse_manifests, parse_scrape_jobs, Object};

/// The file of Prometheus scrape jobs (not a Kubernetes object), for a Prometheus without
/// the Operator.
pub const SCRAPE_JOBS_FILE: &str = "prometheus-scrape.yaml";

/// The example routes' directory.
pub const EXAMPLES_DIR: &str = "examples";

/// One rendered installation, by kind.
#[derive(Default)]
pub struct Deploy {
    /// How messages name it, e.g. `deploy/overlays/pod-attach (rendered)`.
    pub source: String,
    pub namespaces: Vec<Namespace>,
    pub priority_classes: Vec<PriorityClass>,
    pub service_accounts: Vec<ServiceAccount>,
    pub cluster_roles: Vec<ClusterRole>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub roles: Vec<Role>,
    pub role_bindings: Vec<RoleBinding>,
    pub daemonsets: Vec<DaemonSet>,
    pub config_maps: Vec<ConfigMap>,
    pub pod_monitors: Vec<PodMonitor>,
    pub prometheus_rules: Vec<PrometheusRule>,
    /// `(description, kind)` of every object, in the rendered order.
    pub objects: Vec<(String, &'static str)>,
}

pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every installation (each overlay, alone and with the monitoring component), rendered and
/// read strictly once per test binary.
pub fn installations() -> &'static [(Installation, Deploy)] {
    static ALL: OnceLock<Vec<(Installation, Deploy)>> = OnceLock::new();
    ALL.get_or_init(|| {
        Installation::all()
            .into_iter()
            .map(|i| (i, read_rendered(&i.describe(), &i.render())))
            .collect()
    })
}

/// The rendered installation `i`.
pub fn installation(i: Installation) -> &'static Deploy {
    installations()
        .iter()
        .find(|(j, _)| *j == i)
        .map(|(_, d)| d)
        .expect("every installation is rendered")
}

/// Runs `check` on every installation; a failure names the installation it happened in.
pub fn each_installation(check: impl Fn(Installation, &Deploy)) {
    for (i, d) in installations() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(*i, d))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            match message {
                Some(m) => panic!("in {}:\n{m}", d.source),
                None => resume_unwind(panic),
            }
        }
    }
}

/// Reads a rendered installation strictly; panics with every problem found.
pub fn read_rendered(source: &str, text: &str) -> Deploy {
    let objects = parse_manifests(source, text).unwrap_or_else(|e| panic!("{e}"));
    let mut d = Deploy {
        source: source.to_owned(),
        ..Deploy::default()
    };
    let mut errors = Vec::new();
    for (what, object) in objects {
        let kind = match object {
            Object::Namespace(o) => {
                d.namespaces.push(*o);
                "Namespace"
            }
            Object::PriorityClass(o) => {
                d.priority_classes.push(*o);
                "PriorityClass"
            }
            Object::ServiceAccount(o) => {
                d.service_accounts.push(*o);
                "ServiceAccount"
            }
            Object::ClusterRole(o) => {
                d.cluster_roles.push(*o);
                "ClusterRole"
            }
            Object::ClusterRoleBinding(o) => {
                d.cluster_role_bindings.push(*o);
                "ClusterRoleBinding"
            }
            Object::Role(o) => {
                d.roles.push(*o);
                "Role"
            }
            Object::RoleBinding(o) => {
                d.role_bindings.push(*o);
                "RoleBinding"
            }
            Object::DaemonSet(o) => {
                d.daemonsets.push(*o);
                "DaemonSet"
            }
            Object::ConfigMap(o) => {
                d.config_maps.push(*o);
                "ConfigMap"
            }
            Object::PodMonitor(o) => {
                d.pod_monitors.push(*o);
                "PodMonitor"
            }
            Object::PrometheusRule(o) => {
                d.prometheus_rules.push(*o);
                "PrometheusRule"
            }
            Object::HttpRoute(_) | Object::Kustomization(_) => {
                errors.push(format!(
                    "{what}: an installation holds no HTTPRoute (examples/ does) and no \
                     Kustomization"
                ));
                continue;
            }
        };
        d.objects.push((what, kind));
    }
    assert!(
        errors.is_empty(),
        "{source} rejected:\n  - {}",
        errors.join("\n  - ")
    );
    d
}

/// The example routes of `deploy/examples/`, read strictly: `(description, route)`.
pub fn load_examples() -> Vec<(String, HttpRoute)> {
    let dir = deploy_dir().join(EXAMPLES_DIR);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    paths.sort();
    let mut routes = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let file = format!(
            "deploy/{EXAMPLES_DIR}/{}",
            path.file_name().expect("a file name").to_string_lossy()
        );
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        match parse_manifests(&file, &text) {
            Ok(objects) => {
                for (what, object) in objects {
                    match object {
                        Object::HttpRoute(r) => routes.push((what, *r)),
                        _ => errors.push(format!("{what}: examples hold HTTPRoutes only")),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }
    assert!(
        errors.is_empty(),
        "deploy/{EXAMPLES_DIR} rejected:\n  - {}",
        errors.join("\n  - ")
    );
    routes
}

/// The scrape jobs of `deploy/prometheus-scrape.yaml`, read strictly.
pub fn load_scrape_jobs() -> Vec<ScrapeJob> {
    let path = deploy_dir().join(SCRAPE_JOBS_FILE);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_scrape_jobs(&format!("deploy/{SCRAPE_JOBS_FILE}"), &text)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The only element of `items`.
pub fn only<'a, T>(items: &'a [T], kind: &str) -> &'a T {
    assert_eq!(
        items.len(),
        1,
        "the installation must hold exactly one {kind}, found {}",
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
            .expect("the DaemonSet sets metadata.namespace")
    }

    pub fn template(&self) -> &PodTemplateSpec {
        &self
            .daemonset()
            .spec
            .as_ref()
            .expect("the DaemonSet has a spec")
            .template
    }

    pub fn pod_spec(&self) -> &PodSpec {
        self.template()
            .spec
            .as_ref()
            .expect("the pod template has a spec")
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
        panic!(
            "the DaemonSet: container args {args:?} are not a valid `shadowtap` command line:\n{e}"
        )
    });
    match cli.command {
        Command::Agent(a) => *a,
        other => {
            panic!("the DaemonSet: container args {args:?} run {other:?}, not `agent`")
        }
    }
}
