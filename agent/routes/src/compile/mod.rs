//! Compile: a [`Store`](crate::model::Store) to a [`Plan`](crate::model::Plan), purely.
//!
//! Owns the Gateway API semantics decided before any request is seen: the CRD defaults and
//! validations the generated types do not apply (`defaults.rs`, `mirror_spec.rs`,
//! `matches.rs`, `grpc_matches.rs`), GRPCRoute's fields shared with HTTPRoute
//! (`grpc_shared.rs`), HTTPRoute/GRPCRoute hostname conflicts (`cross_serving.rs`), which routes are shadowtap's (`selector.rs`, `config.rs`), where a route
//! attaches — which listeners, with which hostnames (`parents.rs`) —, resolving references to
//! Service ports (`references.rs`) and addresses (`addresses.rs`), which namespace a client
//! pod IP is in, for GAMMA consumer routes (`clients.rs`), per-route analysis
//! (`route.rs`, `annotations.rs`, `filter_order.rs`) and the plan function itself
//! (`plan.rs`). Every problem becomes a [`PlanProblem`](crate::model::PlanProblem) that
//! disables only what it affects (warnings disable nothing).
//!
//! Must never: do I/O or hold state (the same store gives the same plan), look at requests
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
mod matches;
mod mirror_spec;
mod parents;
mod plan;
mod references;
mod route;
mod selector;

pub use config::PlanConfig;
pub(crate) use grpc_shared::shared_fields;
pub(crate) use parents::consumer_route_namespace;
pub use plan::plan;
pub use selector::{MirrorSelector, SelectorError};
