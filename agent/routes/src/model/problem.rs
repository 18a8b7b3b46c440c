//! Problems found while planning: one per invalid or unresolvable piece of a route.
//!
//! A problem disables only what it affects (one mirror, one backendRef, one rule); everything
//! else in the plan keeps working. The [`ProblemReason`] is a stable snake_case string usable as
//! a metric label and as the reason of a Kubernetes Event.

use std::fmt;

use serde::Serialize;

use super::keys::{ObjectKey, RouteKind};

/// Why a part of a route was disabled. [`ProblemReason::as_str`] is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemReason {
    /// `requestMirror.percent` outside 0–100.
    PercentOutOfRange,
    /// Both `percent` and `fraction` set on one mirror.
    PercentAndFraction,
    /// `fraction.denominator` below 1.
    DenominatorTooSmall,
    /// `fraction.numerator` below 0.
    NumeratorNegative,
    /// `fraction.numerator` greater than `fraction.denominator`.
    NumeratorExceedsDenominator,
    /// The referenced Service does not exist.
    ServiceNotFound,
    /// A Service reference without a port.
    PortMissing,
    /// The port is not one of the Service's ports (or out of range).
    PortNotOnService,
    /// A cross-namespace reference without a ReferenceGrant allowing it.
    RefNotPermitted,
    /// A backend group/kind other than core Service.
    UnsupportedBackendKind,
    /// A RegularExpression match that does not compile.
    InvalidRegex,
    /// A path match value that the CRD's validation rejects.
    InvalidPathMatch,
    /// A header or query parameter match that the CRD's validation rejects.
    InvalidMatch,
    /// A RequestMirror filter without its `requestMirror` field.
    MirrorMissing,
    /// The parent Gateway's class is known to mirror by itself: requests may be mirrored twice.
    ParentMirrorsItself,
    /// The parent Gateway or Service does not exist: the route is not attached there.
    ParentNotFound,
    /// No listener of the parent Gateway accepts the route (sectionName/port, protocol, hostnames,
    /// `allowedRoutes` namespaces or kinds).
    NotAllowedByListeners,
    /// The parent's controller set `Accepted=False` for this parentRef in the route's status.
    ParentRejected,
    /// A Service parentRef's `port` (or `sectionName`, a port name) names no port of the
    /// Service: the route is not attached to that Service (the Gateway API's
    /// `NoMatchingParent`).
    NoMatchingParent,
    /// A Service parentRef names a headless Service (`clusterIP: None`) or an `ExternalName`
    /// Service, which GEP-1294 says should not be parents (no frontend to route): the route
    /// is not attached to it.
    UnsupportedParentService,
    /// An HTTPRoute and a GRPCRoute attached to the same listener (or Service) share a
    /// hostname: of the two, the Gateway API accepts only the older (then the first by
    /// `namespace/name`); this route is the other one and is not attached there.
    HostnameConflict,
    /// A GRPCRoute match entry whose `method` names neither `service` nor `method` (the
    /// CRD's validation requires one of them).
    InvalidMethodMatch,
    /// A RequestMirror filter listed before a request header modifier or URL rewrite: the
    /// mirror gets the modified request (what the pod received), not the unmodified one. A
    /// warning: the mirror stays configured.
    MirrorBeforeModifier,
    /// `shadowtap.dev/mirror-remove-headers` names a framing header (`content-length`,
    /// `transfer-encoding`, `host`, `connection`); that name is ignored, the others apply.
    RemoveHeaderFraming,
    /// The endpoint's requests may also come through another parent (listener or Service)
    /// whose rules deliver here without this rule's mirrors; the pod cannot tell them apart,
    /// and shadowtap mirrors them (a warning).
    AmbiguousParent,
    /// `shadowtap.dev/compare` is not `status`, `headers` or `body` (the route does not
    /// compare), or `shadowtap.dev/compare-ignore-headers` names something that is not a
    /// header name (that name is left out).
    InvalidCompare,
}

impl ProblemReason {
    /// The stable snake_case name (metric label, Event reason suffix).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PercentOutOfRange => "percent_out_of_range",
            Self::PercentAndFraction => "percent_and_fraction",
            Self::DenominatorTooSmall => "denominator_too_small",
            Self::NumeratorNegative => "numerator_negative",
            Self::NumeratorExceedsDenominator => "numerator_exceeds_denominator",
            Self::ServiceNotFound => "service_not_found",
            Self::PortMissing => "port_missing",
            Self::PortNotOnService => "port_not_on_service",
            Self::RefNotPermitted => "ref_not_permitted",
            Self::UnsupportedBackendKind => "unsupported_backend_kind",
            Self::InvalidRegex => "invalid_regex",
            Self::InvalidPathMatch => "invalid_path_match",
            Self::InvalidMatch => "invalid_match",
            Self::MirrorMissing => "mirror_missing",
            Self::ParentMirrorsItself => "parent_mirrors_itself",
            Self::ParentNotFound => "parent_not_found",
            Self::NotAllowedByListeners => "not_allowed_by_listeners",
            Self::ParentRejected => "parent_rejected",
            Self::NoMatchingParent => "no_matching_parent",
            Self::UnsupportedParentService => "unsupported_parent_service",
            Self::HostnameConflict => "hostname_conflict",
            Self::InvalidMethodMatch => "invalid_method_match",
            Self::MirrorBeforeModifier => "mirror_before_modifier",
            Self::RemoveHeaderFraming => "remove_header_framing",
            Self::AmbiguousParent => "ambiguous_parent",
            Self::InvalidCompare => "invalid_compare",
        }
    }

    /// The problem depends on this node's endpoints (another node may not see it), rather
    /// than on the route and the objects it refers to, which every node sees alike. Route-level
    /// problems are published by the elected agent only; node-level ones by every agent that
    /// sees them (deduplicated by their Event name).
    pub const fn depends_on_node(self) -> bool {
        matches!(self, Self::AmbiguousParent)
    }

    /// The reason in UpperCamelCase, as Kubernetes Event reasons are spelt.
    pub fn event_reason(self) -> String {
        self.as_str()
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Every reason, for metric pre-registration.
    pub const ALL: [ProblemReason; 26] = [
        Self::PercentOutOfRange,
        Self::PercentAndFraction,
        Self::DenominatorTooSmall,
        Self::NumeratorNegative,
        Self::NumeratorExceedsDenominator,
        Self::ServiceNotFound,
        Self::PortMissing,
        Self::PortNotOnService,
        Self::RefNotPermitted,
        Self::UnsupportedBackendKind,
        Self::InvalidRegex,
        Self::InvalidPathMatch,
        Self::InvalidMatch,
        Self::MirrorMissing,
        Self::ParentMirrorsItself,
        Self::ParentNotFound,
        Self::NotAllowedByListeners,
        Self::ParentRejected,
        Self::NoMatchingParent,
        Self::UnsupportedParentService,
        Self::HostnameConflict,
        Self::InvalidMethodMatch,
        Self::MirrorBeforeModifier,
        Self::RemoveHeaderFraming,
        Self::AmbiguousParent,
        Self::InvalidCompare,
    ];
}

impl fmt::Display for ProblemReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem of one route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PlanProblem {
    /// The route's kind (HTTPRoute unless said otherwise).
    #[serde(skip_serializing_if = "RouteKind::is_http")]
    pub kind: RouteKind,
    /// The route.
    pub route: ObjectKey,
    /// Field path inside the route, e.g. `spec.rules[0].filters[1].requestMirror.percent`.
    pub field: String,
    /// Stable reason.
    pub reason: ProblemReason,
    /// Human-readable detail.
    pub detail: String,
}

impl PlanProblem {
    /// A problem of `route` at `field`.
    pub fn new(
        route: &ObjectKey,
        field: impl Into<String>,
        reason: ProblemReason,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: RouteKind::Http,
            route: route.clone(),
            field: field.into(),
            reason,
            detail: detail.into(),
        }
    }

    /// The same problem, of a route of kind `kind`.
    pub fn of_kind(mut self, kind: RouteKind) -> Self {
        self.kind = kind;
        self
    }
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: {} ({})",
            self.kind.as_kind(),
            self.route,
            self.field,
            self.reason,
            self.detail
        )
    }
}
