//! Observability: Prometheus text on `/metrics`, `/healthz`, `/readyz`.
//!
//! Every metric is registered under the `shadowtap_` prefix. Counters owned by single-threaded
//! parts of the agent (the kernel's per-CPU counters, the reconstruction pipeline) are
//! published as snapshots through [`SnapshotCollector`], so the hot path never touches a
//! shared atomic per packet.

mod health;
mod server;
mod snapshot;

pub use health::{Health, Heartbeat, STALL_AFTER};
pub use server::{serve, ServerLimits};
pub use snapshot::{Family, FamilyKind, LabelledFamily, SnapshotCollector, Snapshots};
