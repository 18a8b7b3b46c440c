//! Observability: Prometheus text on `/metrics`, `/healthz`, `/readyz`, and JSON documents
//! under `/debug/` (`/debug/divergences`).
//!
//! Every metric is registered under the `shadowtap_` prefix. Counters owned by single-threaded
//! parts of the agent (the kernel's per-CPU counters, the reconstruction pipeline) are
//! published as snapshots through [`SnapshotCollector`], so the hot path never touches a
//! shared atomic per packet.

mod debug_docs;
mod health;
mod server;
mod snapshot;

pub use debug_docs::{DebugDocs, DIVERGENCES};
pub use health::{Health, Heartbeat, STALL_AFTER};
pub use server::{serve, ServerLimits};
pub use snapshot::{Family, FamilyKind, LabelledFamily, SnapshotCollector, Snapshots};
