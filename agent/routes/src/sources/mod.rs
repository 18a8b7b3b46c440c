//! Sources: where the objects come from, and the task that turns them into plans.
//!
//! Owns reading YAML files strictly (`strict.rs`: unknown fields and kinds are errors, never
//! defaults) and watching them (`file_source.rs`, `--routes PATH`), the Kubernetes reflectors
//! (`kube_source.rs`: list + watch, never polling; every HTTPRoute and GRPCRoute, whatever the selector,
//! since unlabelled routes compete in precedence; the Pods of namespaces with GAMMA consumer
//! routes, `client_pods.rs`), the planner task that plans every new store (`planner.rs`),
//! reporting plan problems as Kubernetes Events (`events.rs`, under names every agent derives
//! alike: `event_name.rs`), and the Lease election that picks the one agent publishing
//! route-level problems (`leader.rs`).
//!
//! Must never: decide semantics (it calls [`crate::compile::plan`]), evaluate requests, or
//! fall back to an empty or default store when a source fails: the last good store stays.
//!
//! Called by: the agent's runtime (`agent`), its `plan` and `replay` commands, and the tests
//! crate (strict reading of the deploy manifests).

mod client_pods;
mod debounce;
mod direct_sync;
mod event_name;
mod events;
mod file_source;
mod kube_source;
mod leader;
mod planner;
mod store_sync;
mod strict;
mod strip;

pub use event_name::ProblemIdentity;
pub use events::{EventError, ProblemReporter};
pub use file_source::{load_path, load_str, FileEvent, FileSourceError, FileWatch};
pub use kube_source::{start_kube_source, KubeSource, KubeSourceConfig, KubeSourceError};
pub use leader::{
    spawn_election, Election, ElectionState, LeaseConfig, LeaseConfigError, Released, LEASE_NAME,
};
pub use planner::spawn_planner;
pub use strict::{unknown_fields, StrictError};
