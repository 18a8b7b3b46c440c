//! shadowtap routes: from HTTPRoutes (and the Gateways, Services, EndpointSlices,
//! ReferenceGrants and Pods they refer to) to what the data path does.
//!
//! - [`store::Store`] holds the objects; [`file_source`] and [`kube_source`] fill it.
//! - [`plan::plan`] is a pure function from a store to a [`plan::Plan`]: the local endpoints to
//!   capture and, per endpoint, the ordered rules with their mirrors.
//! - [`matching::route_request`] decides which rule wins a request (Gateway API precedence,
//!   across all routes of the parent) and [`sampler::Sampler`] draws per request.

pub mod file_source;
pub mod fraction;
pub mod problem;
pub mod store;
pub mod strict;

pub use fraction::Fraction;
pub use problem::{PlanProblem, ProblemReason};
pub use store::{Object, ObjectKey, Store};
pub mod compile;
pub mod defaults;
pub mod matching;
pub mod plan;
pub mod resolve;
pub mod validate;

pub use matching::{route_request, Decision, RequestView};
pub use plan::{plan, Plan, PlanConfig};
pub mod diff;
pub mod render;
pub mod sampler;

pub use diff::PlanDiff;
pub use render::{render_json, render_table};
pub use sampler::{flow_threshold, Sampler};
pub mod events;
pub mod kube_source;
pub mod planner;
