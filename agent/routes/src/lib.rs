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
