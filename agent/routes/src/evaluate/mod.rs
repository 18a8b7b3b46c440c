//! Evaluate: one request at one captured endpoint, against the plan.
//!
//! Owns request matching exactly as the Gateway API specifies it (`request.rs`, `host.rs`,
//! `path.rs`, `conditions.rs`), precedence among every rule of every route on a parent,
//! labelled or not (`precedence.rs`), which parents apply to the request's client (GAMMA
//! producer and consumer routes, `decision.rs`), the decision whether the winner's mirrors are
//! shadowtap's (`decision.rs`), and the per-request draw, conditional on the kernel's flow
//! pre-sample (`sampler.rs`), and who wins each rule's own requests (`probe.rs`, for
//! `shadowtap plan`).
//!
//! Must never: build or change a plan (it reads [`Plan`](crate::model::Plan)'s rule sets as
//! compiled), do I/O, or import from `compile`, `sources` or `render`.
//!
//! Called by: the agent's pipeline and `replay` command, for every decoded request.

mod conditions;
mod decision;
mod host;
mod path;
mod precedence;
mod probe;
mod request;
mod sampler;

pub use decision::{route_request, Decision};
pub use probe::probe_winners;
pub use request::{RequestProtocol, RequestView};
pub use sampler::Sampler;
