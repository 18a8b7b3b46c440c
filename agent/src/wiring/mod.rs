//! From the plan to the parts that act on it: the kernel's endpoint map
//! ([`kernel_maps`]), the mirror client's backends ([`mirror_backends`]), the pipeline's sink
//! ([`ReplayerSink`]) and the kernel's own-flow map for the mirror client's connections
//! ([`KernelOwnFlows`]).
//!
//! Nothing here decides: the flow pre-sample threshold of an endpoint is the plan's
//! ([`shadowtap_routes::plan::CaptureEndpoint::capture_threshold`]); the kernel map gets a
//! copy and the pipeline's per-request draw reads the same field. Called by the runtime and
//! by `shadowtap replay`.

pub mod kernel_maps;
pub mod mirror_backends;
mod own_flows;
mod sink;

pub use kernel_maps::{desired_endpoints, sync_endpoints};
pub use mirror_backends::{backend_id, rewrite_options, sync_backends};
pub use own_flows::KernelOwnFlows;
pub use sink::{submit_h2, ReplayerSink};
