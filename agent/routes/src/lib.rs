//! shadowtap routes: from HTTPRoutes (and the Gateways, Services, EndpointSlices,
//! ReferenceGrants and Pods they refer to) to what the data path does.
//!
//! # Flow
//! - [`store::Store`] holds the objects. [`file_source`] (`--routes PATH`) and
//!   [`kube_source`] (reflectors) fill it; both yield a new store on every change.
//! - [`plan::plan`] is a pure function from a store to a [`plan::Plan`]: the local pod
//!   endpoints to capture (each with a route-set id and a flow pre-sample threshold) and, per
//!   route set, the rules of every route attached to the same parents, in precedence
//!   tie-break order, with their resolved mirrors. [`planner::spawn_planner`] turns a stream of
//!   stores into a stream of plans and reports problems as Events ([`events`]).
//! - [`matching::route_request`] decides which rule wins a request and
//!   [`sampler::Sampler`] draws per request and per mirror, conditional on the kernel's flow
//!   pre-sample.
//!
//! # Semantics decided here
//! - CRD defaults and validations are applied in code ([`defaults`], [`validate`],
//!   [`compile`]); every problem is a [`PlanProblem`] with a stable [`ProblemReason`] and
//!   disables only what it affects: one mirror, one backendRef, or one rule (invalid match).
//!   Problems are reported for labelled routes only.
//! - Files are read strictly ([`strict`]): unknown fields and unknown kinds are errors.
//! - RegularExpression matches (path, header, query) use the `regex` crate's syntax and must
//!   match the whole value. Their precedence, which the spec leaves to implementations, is
//!   below Exact and above every PathPrefix (longer expressions first).
//! - For Service parents (GAMMA) route hostnames are ignored; for Gateway parents they are
//!   narrowed by the listeners' hostnames (`allowedRoutes` Same/All honoured, Selector treated
//!   as allowed).
//! - Paths and query values are compared as sent (no percent-decoding or dot-segment
//!   normalization); several header lines of one name are joined with `,`.
//! - A request at an endpoint is mirrored only when, for one of the endpoint's parents, the
//!   winning rule belongs to a labelled route, sends to one of the endpoint's backends, and
//!   carries RequestMirror filters (rule filters, or filters of that backendRef).

pub mod annotations;
pub mod compile;
pub mod defaults;
pub mod diff;
pub mod events;
pub mod file_source;
pub mod fraction;
pub mod kube_source;
pub mod matching;
pub mod plan;
pub mod planner;
pub mod problem;
pub mod render;
pub mod resolve;
pub mod sampler;
pub mod store;
pub mod strict;
pub mod validate;

pub use diff::PlanDiff;
pub use file_source::{load_path, FileEvent, FileSourceError, FileWatch};
pub use fraction::Fraction;
pub use kube_source::{KubeSource, KubeSourceConfig, KubeSourceError};
pub use matching::{route_request, Decision, RequestView};
pub use plan::{plan, Plan, PlanConfig};
pub use planner::spawn_planner;
pub use problem::{PlanProblem, ProblemReason};
pub use render::{render_json, render_table};
pub use sampler::{flow_threshold, Sampler};
pub use store::{Object, ObjectKey, Store};
