//! The model: the vocabulary every other layer speaks.
//!
//! Owns the names of things ([`ObjectKey`], [`ServicePortRef`], [`ParentKey`], [`RuleId`]),
//! exact probabilities ([`Fraction`]), match entries with their defaults applied
//! ([`RouteMatch`] and its parts), resolved mirrors ([`MirrorTarget`]), the plan of a node
//! ([`Plan`] and what it holds; [`PlanDiff`] between two), problems ([`PlanProblem`]), the
//! input objects ([`Store`]), and the hostname wildcard rule both compile and evaluate apply.
//!
//! Must never: import from `compile`, `evaluate`, `sources` or `render` (it sits at the
//! bottom), decide Gateway API semantics beyond what a type itself means, do I/O.
//!
//! Called by: every other layer, and the agent (it reads [`Plan`] and [`MirrorTarget`]).

mod compact_slice;
mod fraction;
mod hostname;
mod journal;
mod keys;
mod mirror;
mod plan;
mod plan_diff;
mod problem;
mod route_match;
mod shared;
mod store;

pub use compact_slice::{CompactSlice, PodRef, SliceEndpoint, SlicePort, SERVICE_NAME_LABEL};
pub use fraction::Fraction;
pub use hostname::hostname_matches;
pub use journal::{JournalMark, Touched, JOURNAL_CAPACITY};
pub use keys::{ObjectKey, ParentKey, ParentKind, RouteKind, RuleId, ServicePortRef};
pub use mirror::{CompareSetting, MirrorOptions, MirrorTarget, ReplayProtocol};
pub use plan::{CaptureEndpoint, Delivery, EndpointRules, ParentRules, Plan, RuleEntry};
pub use plan_diff::PlanDiff;
pub use problem::{PlanProblem, ProblemReason};
pub use route_match::{
    GrpcNameMatch, GrpcRouteMatch, NameValueMatch, PathMatch, Pattern, RouteMatch, RuleMatches,
    ValueMatch,
};
pub use shared::Shared;
pub use store::{Object, Store, StoreKind, DEFAULT_NAMESPACE, GATEWAY_GROUP};
