//! Errors of the running agent.

use shadowtap_mirror::ReplayError;

use crate::datapath::DatapathError;

/// Why the agent could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Loading, attaching or programming the kernel side failed.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    /// The replayer could not be set up.
    #[error("setting up replay")]
    Replay(#[from] ReplayError),
    /// The routes could not be read.
    #[error("reading routes")]
    Files(#[from] shadowtap_routes::FileSourceError),
    /// The Kubernetes source failed.
    #[error("watching the Kubernetes API")]
    Kube(#[from] shadowtap_routes::KubeSourceError),
    /// The service account may not list or watch a resource the plan needs: the RBAC
    /// rules are older than the agent. Waiting would never end, so the agent stops.
    #[error(
        "the Kubernetes API forbids listing or watching {resource} ({detail}): apply the ClusterRole \
         from this release's deploy/ manifests"
    )]
    Forbidden {
        /// Resource plural.
        resource: &'static str,
        /// The API server's message.
        detail: String,
    },
    /// Connecting to the Kubernetes API failed.
    #[error("connecting to the Kubernetes API (use --routes PATH to run without a cluster)")]
    KubeClient(#[source] kube::Error),
    /// The Lease election's settings are unusable.
    #[error("leader election")]
    Lease(#[from] shadowtap_routes::LeaseConfigError),
    /// The metrics endpoint could not be served.
    #[error("serving metrics on {addr}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("installing signal handlers")]
    Signals(#[source] std::io::Error),
}
