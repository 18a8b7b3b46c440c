//! shadowtap routes: from HTTPRoutes and GRPCRoutes (and the Gateways, Services, EndpointSlices,
//! ReferenceGrants and Pods they refer to) to what the data path does.
//!
//! # Layers
//! Each layer imports only from the layers below it; each folder's `mod.rs` says what it owns,
//! what it must never do, and who calls it.
//!
//! ```text
//! sources/    files and the Kubernetes API → stores; the planner task; problems as Events
//! evaluate/   one request at an endpoint → the winning rule; per-request draws
//! compile/    a store → a plan (pure): CRD defaults, validation, references, per-route analysis
//! model/      the vocabulary: keys, fractions, matches, mirrors, the plan, problems, the store
//! ```
//! [`render`] (a plan as a table or JSON) reads the model, and asks `evaluate` who wins each
//! rule's own requests.
//!
//! # Flow
//! - A [`Store`] holds the objects. The file source ([`load_path`], [`FileWatch`]: `--routes
//!   PATH`) and the Kubernetes source ([`start_kube_source`]: reflectors) fill it; both yield a
//!   new store on every change.
//! - [`plan()`] is a pure function from a store to a [`Plan`]: the local pod endpoints to
//!   capture (each with a route-set id and the one flow pre-sample threshold) and, per route
//!   set, the rules of every route attached to the same parents, in precedence tie-break
//!   order, with their resolved mirrors. [`spawn_planner`] turns a stream of stores into a
//!   stream of plans and reports problems as Events ([`ProblemReporter`]): route-level ones
//!   by the one agent that holds the Lease ([`spawn_election`]), once per cluster.
//! - [`route_request`] decides which rule wins a request (from a client of a given namespace,
//!   if known) and [`Sampler`] draws per request and per mirror, conditional on the kernel's
//!   flow pre-sample.
//!
//! # Semantics decided here
//! - CRD defaults and validations are applied in code ([`compile`]); every problem is a
//!   [`PlanProblem`] with a stable [`ProblemReason`] and disables only what it affects: one
//!   mirror, one backendRef, or one rule (invalid match). Problems are reported for labelled
//!   routes only.
//! - Which routes are shadowtap's is a Kubernetes label selector ([`MirrorSelector`], default
//!   `shadowtap.dev/mirror=enabled`); every route competes in precedence whatever its labels.
//! - Files are read strictly: unknown fields and unknown kinds are errors ([`StrictError`]).
//! - RegularExpression matches (path, header, query) use the `regex` crate's syntax and must
//!   match the whole value. Their precedence, which the spec leaves to implementations, is
//!   below Exact and above every PathPrefix (longer expressions first).
//! - A parent is one Gateway **listener** or one group of a Service's routes (GAMMA, below):
//!   precedence is decided among the routes attached to it, never across listeners. For
//!   Service parents route hostnames are ignored; on a listener they are narrowed by its
//!   hostname. A route attaches where its Gateway exists, its parent's controller has not set
//!   `Accepted=False`, and the listener's protocol, `allowedRoutes.namespaces`
//!   (Same/All/Selector over Namespace labels) and `allowedRoutes.kinds` allow it. Of a
//!   Gateway's listeners sharing a port, a request goes to the one with the most specific
//!   matching hostname.
//! - GAMMA (GEP-1294): a Service's routes form groups — its producer routes (in its
//!   namespace) and, per other namespace, that namespace's consumer routes — decided apart.
//!   A request follows the consumer routes of its client's namespace when there are some,
//!   else the producer routes; the client's namespace comes from the plan's client index
//!   (pod IPs of the namespaces with consumer routes), and a client not found there follows
//!   the producer routes. Routes bound only to Services need no ReferenceGrant.
//! - Ties go to the oldest route, then the string `namespace/name`, then rule order.
//! - GRPCRoutes share everything but their matches with HTTPRoutes (`compile::grpc_shared`
//!   reads those fields through the HTTPRoute code). Their rules match gRPC calls only
//!   (HTTP/2 `POST /service/method`: [`RequestProtocol`]), with the GRPCRoute precedence
//!   (`evaluate::precedence`). An HTTPRoute and a GRPCRoute sharing a hostname on one parent
//!   ("cross serving") keep the older one there (`compile::cross_serving`,
//!   `hostname_conflict`). Their rules are named by [`RuleId::kind`], and their metric
//!   label is `grpcroute:namespace/name` ([`RouteKind::route_label`]).
//! - A mirror's [`ReplayProtocol`] comes from its Service port's `appProtocol`
//!   (`kubernetes.io/h2c` and `grpc` mean HTTP/2 only).
//! - Paths and query values are compared as sent (no percent-decoding or dot-segment
//!   normalization); several header lines of one name are joined with `,`.
//! - A rule delivers to an endpoint only when one of its backendRefs with a weight above 0 is
//!   one of the endpoint's Services and it has no RequestRedirect filter ([`Delivery`]). A
//!   parent whose winning rule does not deliver did not deliver the request. A request at an
//!   endpoint is mirrored when, for one of the endpoint's parents (every parent through which
//!   a route delivers there), the winning rule delivers here, belongs to a labelled route, and
//!   carries RequestMirror filters (rule filters, or filters of that backendRef); the first
//!   such parent decides (`ambiguous_parent` warns when parents disagree).
//! - shadowtap mirrors the request the pod received: a RequestMirror listed before a request
//!   modifier is a warning (`mirror_before_modifier`). Framing headers may not be removed
//!   from replays (`remove_header_framing`).

#![forbid(unsafe_code)]

pub mod compile;
pub mod evaluate;
pub mod model;
pub mod render;
pub mod sources;

pub use compile::{plan, MirrorSelector, PlanConfig, SelectorError};
pub use evaluate::{probe_winners, route_request, Decision, RequestProtocol, RequestView, Sampler};
pub use model::{
    CaptureEndpoint, CompareSetting, Delivery, EndpointRules, Fraction, MirrorOptions,
    MirrorTarget, Object, ObjectKey, ParentKey, ParentKind, ParentRules, Plan, PlanDiff,
    PlanProblem, ProblemReason, ReplayProtocol, RouteKind, RuleEntry, RuleId, ServicePortRef,
    Store, GATEWAY_GROUP,
};
pub use render::{render_json, render_table};
pub use sources::{
    load_path, load_str, spawn_election, spawn_planner, start_kube_source, unknown_fields,
    Election, ElectionState, FileEvent, FileSourceError, FileWatch, KubeSource, KubeSourceConfig,
    KubeSourceError, LeaseConfig, LeaseConfigError, ProblemReporter, Released, StrictError,
    LEASE_NAME,
};

// Module paths from before the crate was layered, kept for the callers that still use them
// (the agent's runtime, pipeline and CLI; the tests crate). New code imports from the root.

/// Old path of the plan's types and the plan function (`shadowtap_routes::plan::MirrorTarget`).
pub mod plan {
    pub use crate::compile::{plan, PlanConfig};
    pub use crate::model::{
        CaptureEndpoint, EndpointRules, MirrorOptions, MirrorTarget, ParentKey, ParentKind,
        ParentRules, Plan, RuleEntry, RuleId, ServicePortRef,
    };
}

/// Old path of the object store.
pub mod store {
    pub use crate::model::{Object, ObjectKey, Store};
}

/// Old path of the file source.
pub mod file_source {
    pub use crate::sources::{load_path, load_str, FileEvent, FileSourceError, FileWatch};
}

/// Old path of the Kubernetes source (`kube_source::start`).
pub mod kube_source {
    pub use crate::sources::{
        start_kube_source as start, KubeSource, KubeSourceConfig, KubeSourceError,
    };
}

/// Old path of the Event reporter.
pub mod events {
    pub use crate::sources::ProblemReporter;
}

/// Old path of the strict reader's field check (used by the tests crate).
pub mod strict {
    pub use crate::sources::{unknown_fields, StrictError};
}

/// Old path of the Gateway API group constant (used by the tests crate).
pub mod defaults {
    pub use crate::model::GATEWAY_GROUP;
}
