//! Compile: a [`Store`](crate::model::Store) to a [`Plan`](crate::model::Plan), purely.
//!
//! Owns the Gateway API semantics decided before any request is seen: the CRD defaults and
//! validations the generated types do not apply (`defaults.rs`, `mirror_spec.rs`,
//! `matches.rs`, `grpc_matches.rs`), GRPCRoute's fields shared with HTTPRoute
//! (`grpc_shared.rs`), HTTPRoute/GRPCRoute hostname conflicts (`cross_serving.rs`), which routes are shadowtap's (`selector.rs`, `config.rs`), where a route
//! attaches — which listeners, with which hostnames (`parents.rs`) —, resolving references to
//! Service ports (`references.rs`) and addresses (`addresses.rs`), which namespace a client
//! pod IP is in, for GAMMA consumer routes (`clients.rs`), per-route analysis
//! (`route.rs`, `annotations.rs`, `filter_order.rs`), the plan function itself
//! (`plan.rs`) and the planner that keeps each route's analysis between plans and redoes
//! only what a change touched (`incremental.rs`). Every problem becomes a [`PlanProblem`](crate::model::PlanProblem) that
//! disables only what it affects (warnings disable nothing).
//!
//! Must never: do I/O, or hold state beyond the incremental planner's cache (the same store
//! gives the same plan, whatever came before), look at requests
//! (that is `evaluate`), or import from `evaluate`, `sources` or `render`.
//!
//! Called by: `sources::planner` (every new store), the agent's `plan` and `replay` commands,
//! and tests.

mod addresses;
mod annotations;
mod clients;
mod config;
mod cross_serving;
mod defaults;
mod filter_order;
mod grpc_matches;
mod grpc_shared;
mod incremental;
mod matches;
mod mirror_patch;
mod mirror_spec;
mod parents;
mod plan;
mod references;
mod route;
mod selector;
mod service_ports;

pub use config::PlanConfig;
pub(crate) use grpc_shared::shared_fields;
pub use incremental::IncrementalPlanner;
pub(crate) use parents::consumer_route_namespace;
pub use plan::plan;
pub use selector::{MirrorSelector, SelectorError};
