//! Checks of the deployment manifests under `deploy/` (and `deploy/examples/`): pure, no
//! cluster and no privilege needed. `load_deploy` reads every manifest strictly; each check
//! module reads what it needs from it.
//!
//! The reader:
//! - `schemas`: manifest types without a crate (Kustomization, PodMonitor, scrape jobs).
//! - `strict`: every YAML document read strictly into its type: a wrong kind, a type mismatch
//!   or an unknown field fails with the file, the object and the field.
//! - `deploy`: everything under `deploy/`, by kind, and the accessors the checks share.
//! - `k8s`: how port names, label selectors and annotation meta labels resolve.
//!
//! The checks:
//! - `checker`: the reader itself rejects what it must, naming file, object and field.
//! - `installation`: one of each object, in the right namespace; the example routes are read
//!   by the agent and carry its opt-in label.
//! - `kustomization`: `kustomization.yaml` lists exactly the manifests to apply, and they
//!   exist.
//! - `rbac`: the ClusterRole grants exactly the API calls the agent makes, and the
//!   ClusterRoleBinding gives it to the DaemonSet's ServiceAccount.
//! - `daemonset`: `shadowtap agent` with flags the agent accepts, the node name from the
//!   downward API, scheduling on every node.
//! - `capabilities`: the capabilities the agent checks for at startup, and no more.
//! - `monitoring`: probes and the metrics port match the agent's endpoints; the Prometheus
//!   scrape job and the PodMonitor find the DaemonSet's pods and metrics port.

mod deploy;
mod k8s;
mod schemas;
mod strict;

mod capabilities;
mod checker;
mod daemonset;
mod installation;
mod kustomization;
mod monitoring;
mod rbac;
