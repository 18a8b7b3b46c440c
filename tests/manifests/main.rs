//! Checks of the deployment under `deploy/`: pure, no cluster and no privilege needed, but
//! `kubectl` (with its built-in kustomize) and `promtool` on PATH — `cargo xtask setup`
//! installs both. Every
//! installation a user applies (each overlay, alone and with the monitoring component) is
//! rendered with `kubectl kustomize` and read strictly; each check module reads what it needs.
//!
//! The reader:
//! - `render`: the installations, rendered as `kubectl apply -k` would.
//! - `schemas`: manifest types without a crate (Kustomization and Component, PodMonitor,
//!   PrometheusRule, scrape jobs).
//! - `strict`: every YAML document read strictly into its type: a wrong kind, a type mismatch
//!   or an unknown field fails with the file, the object and the field.
//! - `deploy`: the rendered installations by kind, the accessors the checks share, the
//!   example routes and the scrape job.
//! - `k8s`: how port names, label selectors and annotation meta labels resolve.
//!
//! The checks:
//! - `checker`: the reader itself rejects what it must, naming file, object and field.
//! - `kustomization`: the base, the overlays and the component list exactly their files, and
//!   every overlay under `deploy/overlays/` is one these tests render.
//! - `installation`: exactly the expected objects, in the right namespace; the example routes
//!   are read by the agent and carry its opt-in label.
//! - `overlays`: the pod-attach overlay adds exactly what the pod-side mode needs, and the
//!   host-attach overlay none of it.
//! - `rbac`: the ClusterRole grants exactly the API calls the agent makes, and the
//!   ClusterRoleBinding gives it to the DaemonSet's ServiceAccount.
//! - `daemonset`: `shadowtap agent` with flags the agent accepts, the node name from the
//!   downward API, scheduling on every node.
//! - `priority`: the installation's own PriorityClass, not a reserved system class.
//! - `capabilities`: the capabilities the agent checks for at startup, and no more.
//! - `monitoring`: probes and the metrics port match the agent's endpoints; the Prometheus
//!   scrape job and the PodMonitor find the DaemonSet's pods and metrics port.
//! - `queries`: the alerts' and the dashboard's PromQL parses and reads only the agent's
//!   metric interface; the promised alerts exist; the dashboard's ConfigMap.
//! - `alert_rules`: the alerts evaluated by promtool on synthetic series: each fires when it
//!   must, with its labels, and stays quiet otherwise.

mod deploy;
mod k8s;
mod render;
mod schemas;
mod strict;

mod alert_rules;
mod capabilities;
mod checker;
mod daemonset;
mod installation;
mod kustomization;
mod monitoring;
mod overlays;
mod priority;
mod queries;
mod rbac;
