//! What the running agent needs to know, as plain values: the seam between the command line
//! (or any other front end) and the runtime.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use shadowtap_reconstruct::Budgets;
use shadowtap_routes::{LeaseConfig, PlanConfig};

use shadowtap_mirror::ReplayConfig;

use crate::datapath::{AttachMode, TcLinks};

/// Where the routes and the objects they refer to come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteSource {
    /// The Kubernetes API (in-cluster or kubeconfig credentials).
    Kubernetes,
    /// A YAML file or a directory of them, watched for changes.
    Files(PathBuf),
}

/// The agent's configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Route source.
    pub source: RouteSource,
    /// This node's name.
    pub node_name: String,
    /// How routes become a plan (opt-in selector, flow sampling).
    pub plan: PlanConfig,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_addr: SocketAddr,
    /// Which interface of each local endpoint capture attaches to.
    pub attach: AttachMode,
    /// How TC programs attach (TCX where available, or always clsact).
    pub tc_links: TcLinks,
    /// Interfaces that also get the XDP program (generic mode).
    pub xdp_ifaces: Vec<String>,
    /// Seed of the per-request sampler; random when `None`.
    pub seed: Option<u64>,
    /// Ring buffer size in bytes.
    pub ring_bytes: u32,
    /// Unread ring bytes at which the kernel wakes the capture task at once.
    pub ring_wakeup_bytes: u64,
    /// How often the capture task drains the ring when the kernel did not wake it.
    pub ring_drain: Duration,
    /// Reassembly and body budgets.
    pub budgets: Budgets,
    /// The mirror client (its marker header is also the one that marks requests that are
    /// never mirrored again).
    pub mirror: ReplayConfig,
    /// Time to drain queued mirrors on shutdown.
    pub shutdown_grace: Duration,
    /// Pending comparison pairs: budget, timeout, divergence log size, redaction.
    pub comparator: shadowtap_compare::ComparatorConfig,
    /// The Lease through which the agents elect the one that publishes route problems
    /// (Kubernetes source only).
    pub lease: LeaseConfig,
}
