//! Command-line interface: argument definitions and dispatch. `anyhow` lives only here, at
//! the edge.

mod agent_cmd;
mod cpu_priority;
mod diff_cmd;
mod plan_cmd;
mod replay_cmd;
mod status;

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use cpu_priority::CpuPriority;
pub use plan_cmd::parse_selector;

/// The agent's default metrics and health port. It lies outside Prometheus's exporter range
/// (9100–9999, every port of it allocated), away from Prometheus itself (9090), the kubelet and
/// kube-proxy (10248–10259), and the node agents of common CNIs (Cilium 9962–9965, Calico
/// 9091/9099), below the NodePort and ephemeral ranges (30000+): the agent shares the node's
/// network namespace with all of them.
pub const DEFAULT_METRICS_PORT: u16 = 19482;

/// shadowtap: the Gateway API RequestMirror filter without sidecars, on eBPF.
#[derive(Debug, Parser)]
#[command(name = "shadowtap", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "SHADOWTAP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node agent (the DaemonSet entry point).
    Agent(Box<AgentArgs>),
    /// Print what would be captured and mirrored, and every problem found in the routes.
    Plan(PlanArgs),
    /// Run reassembly and decoding (and optionally matching, sampling and replay) on a capture.
    Replay(ReplayArgs),
    /// Per route, rule and mirror on this node: configured against observed fraction with a
    /// ±3σ verdict, refusals, and each mirror backend's delivery and latency (from the local
    /// agent's metrics). Exits 1 when a mirror is outside its band.
    Status(StatusArgs),
    /// The recent divergent primary/mirror pairs of comparing routes on this node (from the
    /// local agent; sensitive header values redacted), newest first.
    Diff(DiffArgs),
}

/// `shadowtap diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The agent's metrics address.
    #[arg(
        long,
        env = "SHADOWTAP_METRICS_ADDR",
        default_value_t = SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_METRICS_PORT))
    )]
    pub metrics_addr: SocketAddr,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusOutput::Table)]
    pub output: StatusOutput,
    /// Most pairs shown in the table.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Output formats of `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusOutput {
    /// Tables for people.
    Table,
    /// JSON for programs.
    Json,
}

/// `shadowtap status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The agent's metrics address.
    #[arg(
        long,
        env = "SHADOWTAP_METRICS_ADDR",
        default_value_t = SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_METRICS_PORT))
    )]
    pub metrics_addr: SocketAddr,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusOutput::Table)]
    pub output: StatusOutput,
    /// Refresh until interrupted, with rates since the previous refresh.
    #[arg(long)]
    pub watch: bool,
    /// Seconds between refreshes with `--watch`.
    #[arg(long, default_value_t = 2)]
    pub interval_secs: u64,
}

/// Where the routes come from, for `agent` and `plan`.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Read HTTPRoutes, Gateways, Services, EndpointSlices, Pods and ReferenceGrants from this
    /// YAML file or directory (watched for changes) instead of the Kubernetes API.
    #[arg(long, env = "SHADOWTAP_ROUTES", value_name = "PATH")]
    pub routes: Option<PathBuf>,
    /// The opt-in label selector of HTTPRoutes whose mirrors shadowtap implements.
    #[arg(
        long,
        env = "SHADOWTAP_LABEL_SELECTOR",
        default_value = "shadowtap.dev/mirror=enabled"
    )]
    pub label_selector: String,
}

/// Where capture programs attach (`--attach`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AttachMode {
    /// TC egress on each pod's host-side interface (the one the node routes the pod IP to).
    Host,
    /// TC ingress on the pod's own interface inside its network namespace, for CNIs that
    /// bypass the host-side veth (bpf_redirect_peer / netkit).
    Pod,
}

impl From<AttachMode> for crate::datapath::AttachMode {
    fn from(mode: AttachMode) -> Self {
        match mode {
            AttachMode::Host => crate::datapath::AttachMode::Host,
            AttachMode::Pod => crate::datapath::AttachMode::Pod,
        }
    }
}

/// How TC programs attach (`--tc-links`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TcLinks {
    /// TCX links where the kernel has them (6.6+), clsact filters otherwise.
    Auto,
    /// clsact filters on every kernel (what kernels without TCX use).
    Clsact,
}

impl From<TcLinks> for crate::datapath::TcLinks {
    fn from(links: TcLinks) -> Self {
        match links {
            TcLinks::Auto => crate::datapath::TcLinks::Auto,
            TcLinks::Clsact => crate::datapath::TcLinks::Clsact,
        }
    }
}

/// `shadowtap agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Route source.
    #[command(flatten)]
    pub source: SourceArgs,
    /// This node's name (the downward API sets NODE_NAME).
    #[arg(long, env = "NODE_NAME")]
    pub node_name: String,
    /// Where to serve /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "SHADOWTAP_METRICS_ADDR",
        default_value_t = SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_METRICS_PORT))
    )]
    pub metrics_addr: SocketAddr,
    /// Where capture programs attach.
    #[arg(long, env = "SHADOWTAP_ATTACH", value_enum, default_value_t = AttachMode::Host)]
    pub attach: AttachMode,
    /// How TC programs attach: TCX links where the kernel has them, or clsact filters on
    /// every kernel.
    #[arg(long, env = "SHADOWTAP_TC_LINKS", value_enum, default_value_t = TcLinks::Auto)]
    pub tc_links: TcLinks,
    /// Also attach the XDP program to these interfaces (e.g. a node uplink where requests
    /// arrive from the wire). XDP sees received packets only, so it never serves a pod's
    /// host-side veth; generic mode is used.
    #[arg(
        env = "SHADOWTAP_XDP_IFACES",
        value_delimiter = ',',
        long = "xdp-iface",
        value_name = "IFACE"
    )]
    pub xdp_ifaces: Vec<String>,
    /// Pre-sample flows in the kernel at each endpoint's largest mirror fraction instead of
    /// capturing every flow: cheapest, exact in expectation, coarse with few connections.
    #[arg(long, env = "SHADOWTAP_FLOW_SAMPLING")]
    pub flow_sampling: bool,
    /// Header added to every replayed request (and never mirrored again).
    #[arg(
        long,
        env = "SHADOWTAP_MARKER_HEADER",
        default_value = "x-shadowtap-mirrored"
    )]
    pub marker_header: String,
    /// Seed of the per-request sampler (tests); random when absent.
    #[arg(long, env = "SHADOWTAP_SEED")]
    pub seed: Option<u64>,
    /// Ring buffer size in bytes.
    #[arg(long, env = "SHADOWTAP_RING_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub ring_bytes: u32,
    /// Unread ring bytes at which the kernel wakes the agent at once; below them records
    /// wait for the drain timer (`--ring-drain-us`).
    #[arg(long, env = "SHADOWTAP_RING_WAKEUP_BYTES", default_value_t = 256 * 1024)]
    pub ring_wakeup_bytes: u64,
    /// How often the agent drains the ring when the kernel did not wake it, in microseconds.
    #[arg(long, env = "SHADOWTAP_RING_DRAIN_US", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub ring_drain_us: u64,
    /// Reassembly memory budget in bytes (all flows together).
    #[arg(long, env = "SHADOWTAP_REASSEMBLY_BUDGET", default_value_t = 64 * 1024 * 1024)]
    pub reassembly_budget: usize,
    /// Budget for request bodies being decoded, in bytes (all flows together).
    #[arg(long, env = "SHADOWTAP_BODY_BUDGET", default_value_t = 256 * 1024 * 1024)]
    pub body_budget: usize,
    /// Budget for requests queued for replay, in bytes.
    #[arg(long, env = "SHADOWTAP_REPLAY_QUEUE_BUDGET", default_value_t = 64 * 1024 * 1024)]
    pub replay_queue_budget: usize,
    /// Time for a mirror backend to take a request and answer it completely, in ms.
    #[arg(long, env = "SHADOWTAP_MIRROR_TIMEOUT_MS", default_value_t = 5000)]
    pub mirror_timeout_ms: u64,
    /// Time to connect to a mirror endpoint, in ms.
    #[arg(
        long,
        env = "SHADOWTAP_MIRROR_CONNECT_TIMEOUT_MS",
        default_value_t = 1000
    )]
    pub mirror_connect_timeout_ms: u64,
    /// Connections per mirror backend.
    #[arg(long, env = "SHADOWTAP_MIRROR_CONNECTIONS", default_value_t = 16)]
    pub mirror_connections: usize,
    /// Requests pipelined on one mirror connection when requests wait (1 disables
    /// pipelining).
    #[arg(long, env = "SHADOWTAP_MIRROR_PIPELINE_DEPTH", default_value_t = 8)]
    pub mirror_pipeline_depth: usize,
    /// Requests queued per mirror backend; beyond it the oldest is dropped.
    #[arg(long, env = "SHADOWTAP_MIRROR_QUEUE_DEPTH", default_value_t = 1024)]
    pub mirror_queue_depth: usize,
    /// Budget for pending comparison pairs (routes annotated `shadowtap.dev/compare`), in
    /// bytes; over it the oldest pairs end `over_budget`.
    #[arg(long, env = "SHADOWTAP_COMPARE_BUDGET", default_value_t = 16 * 1024 * 1024)]
    pub compare_budget: usize,
    /// Budget for what all connections' comparison pairings hold together (queued
    /// requests, responses being read, HTTP/2 responses awaiting their request), in bytes;
    /// over it the connection holding the most stops pairing (`unseen_over_budget`).
    #[arg(
        long,
        env = "SHADOWTAP_COMPARE_PAIRING_BUDGET",
        default_value_t = 16 * 1024 * 1024
    )]
    pub compare_pairing_budget: usize,
    /// Time a comparison pair may wait for its primary and mirror responses, in ms; then it
    /// ends `pair_timeout`.
    #[arg(
        long,
        env = "SHADOWTAP_COMPARE_PAIR_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub compare_pair_timeout_ms: u64,
    /// Divergent pairs kept for `shadowtap diff`.
    #[arg(long, env = "SHADOWTAP_COMPARE_LOG", default_value_t = 256)]
    pub compare_log: usize,
    /// Seconds to drain queued mirrors on SIGTERM before dropping them.
    #[arg(long, env = "SHADOWTAP_SHUTDOWN_GRACE_SECS", default_value_t = 5)]
    pub shutdown_grace_secs: u64,
    /// CPU priority of the agent's threads against the node's workloads.
    #[arg(long, env = "SHADOWTAP_CPU_PRIORITY", value_enum, default_value_t = CpuPriority::Batch)]
    pub cpu_priority: CpuPriority,
    /// Namespace of the Lease `shadowtap-route-events` through which the agents elect the
    /// one that publishes route problems as Events (held as this node's name).
    #[arg(
        long,
        env = "SHADOWTAP_LEASE_NAMESPACE",
        default_value = "shadowtap-system"
    )]
    pub lease_namespace: String,
    /// Seconds a leader's Lease stays valid after its last renewal: how long route
    /// problems may go unpublished after the leader dies.
    #[arg(long, env = "SHADOWTAP_LEASE_DURATION_SECS", default_value_t = 15)]
    pub lease_duration_secs: u64,
    /// Seconds between the leader's renewals (shorter than the lease duration).
    #[arg(long, env = "SHADOWTAP_LEASE_RENEW_SECS", default_value_t = 5)]
    pub lease_renew_secs: u64,
}

/// Output formats of `plan`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PlanOutput {
    /// A table for people.
    Table,
    /// JSON for programs.
    Json,
}

/// `shadowtap plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Route source.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Node whose endpoints to plan.
    #[arg(long, env = "NODE_NAME")]
    pub node: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanOutput::Table)]
    pub output: PlanOutput,
}

/// `shadowtap replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture file (pcap or pcapng).
    #[arg(long, value_name = "FILE")]
    pub pcap: PathBuf,
    /// Print one JSON line per decoded request, then a summary.
    #[arg(long)]
    pub print: bool,
    /// Match and sample against these routes.
    #[arg(long, value_name = "PATH")]
    pub routes: Option<PathBuf>,
    /// Node whose endpoints the routes are planned for (with --routes).
    #[arg(long, env = "NODE_NAME", requires = "routes")]
    pub node: Option<String>,
    /// Replay the sampled requests to this URL (`http://host:port`) instead of the plan's
    /// mirror endpoints (with --routes: the routes decide what is sampled).
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "dry_run",
        requires = "routes"
    )]
    pub to: Option<String>,
    /// Match and sample, but send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Set up tracing (with `log` records — aya-log's kernel messages — forwarded).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Agent(args) => agent_cmd::run(*args),
        Command::Plan(args) => plan_cmd::run(args),
        Command::Replay(args) => replay_cmd::run(args),
        Command::Status(args) => status::run(args),
        Command::Diff(args) => diff_cmd::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every flag of `shadowtap agent` can be set from the environment (a DaemonSet's `env`).
    #[test]
    fn every_agent_flag_has_an_environment_variable() {
        let cli = Cli::command();
        let agent = cli.find_subcommand("agent").expect("agent subcommand");
        let missing: Vec<String> = agent
            .get_arguments()
            .filter(|a| a.get_long().is_some() && a.get_id() != "help")
            .filter(|a| a.get_env().is_none())
            .map(|a| a.get_id().to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "flags without an environment variable: {missing:?}"
        );
    }

    /// The Lease flags are read from the variables the install manifests set.
    #[test]
    fn lease_flags_read_their_shadowtap_variables() {
        let cli = Cli::command();
        let agent = cli.find_subcommand("agent").expect("agent subcommand");
        for (flag, var) in [
            ("lease-namespace", "SHADOWTAP_LEASE_NAMESPACE"),
            ("lease-duration-secs", "SHADOWTAP_LEASE_DURATION_SECS"),
            ("lease-renew-secs", "SHADOWTAP_LEASE_RENEW_SECS"),
        ] {
            let arg = agent
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .unwrap_or_else(|| panic!("no --{flag}"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(var),
                "--{flag}"
            );
        }
    }
}
