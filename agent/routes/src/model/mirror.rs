//! A resolved mirror of a rule and the replay options its route asks for.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use shadowtap_compare::{CompareMode, CompareSpec, HeaderNames};

use super::fraction::Fraction;
use super::keys::ServicePortRef;

/// One resolved mirror of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MirrorTarget {
    /// Field path of the filter in the route (identifies the mirror).
    pub field: String,
    /// The mirror Service port.
    pub backend: ServicePortRef,
    /// Exact probability (percent → n/100, fraction → n/d, neither → 1/1).
    pub fraction: Fraction,
    /// Ready endpoint addresses of the mirror Service (any node), port mapped.
    pub endpoints: Vec<SocketAddr>,
    /// The Service's cluster IP, if any (with `backend.port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<IpAddr>,
    /// The protocol the mirror Service port speaks, from its `appProtocol`.
    #[serde(skip_serializing_if = "ReplayProtocol::is_default")]
    pub protocol: ReplayProtocol,
    /// Replay options from the route's annotations.
    #[serde(skip_serializing_if = "MirrorOptions::is_default")]
    pub options: MirrorOptions,
}

/// What a mirror backend's Service port speaks, from its `appProtocol`; decides how
/// requests are replayed to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayProtocol {
    /// `appProtocol` absent, `http`, or anything else: each request is replayed in its own
    /// protocol (HTTP/1 byte for byte, HTTP/2 over prior-knowledge h2c).
    #[default]
    AsCaptured,
    /// `appProtocol: kubernetes.io/h2c` or `grpc`: the port speaks HTTP/2 with prior
    /// knowledge only. HTTP/2 requests are replayed over h2c; HTTP/1 requests cannot be
    /// replayed byte for byte there and are dropped as `protocol_mismatch`.
    H2cOnly,
}

impl ReplayProtocol {
    /// The protocol an `appProtocol` value names (case-sensitive, as Kubernetes spells
    /// them).
    pub fn from_app_protocol(app_protocol: Option<&str>) -> Self {
        match app_protocol {
            Some("kubernetes.io/h2c" | "grpc") => Self::H2cOnly,
            _ => Self::AsCaptured,
        }
    }

    /// Whether this is the default (as captured).
    pub fn is_default(&self) -> bool {
        *self == Self::AsCaptured
    }

    /// Stable name (plan table, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AsCaptured => "as_captured",
            Self::H2cOnly => "h2c",
        }
    }
}

/// Per-route replay and capture options, from the HTTPRoute's annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct MirrorOptions {
    /// Replace the Host header of replayed requests with this value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Header names removed from replayed requests (e.g. `authorization`, `cookie`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove_headers: Vec<String>,
    /// The route asks for flow sampling in the kernel.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flow_sampling: bool,
    /// The route compares the primary's responses with the mirror's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareSetting>,
}

/// A comparing route's setting, from `shadowtap.dev/compare` and
/// `shadowtap.dev/compare-ignore-headers`: the plan's printable form of a
/// [`CompareSpec`], which [`CompareSetting::spec`] builds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CompareSetting {
    /// How much of the two responses is compared.
    pub mode: CompareMode,
    /// Header names ignored on top of [`shadowtap_compare::DEFAULT_IGNORED_HEADERS`]
    /// (lower case, sorted, each an HTTP token).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_headers: Vec<String>,
}

impl CompareSetting {
    /// The comparison settings every pair of the route shares.
    pub fn spec(&self) -> CompareSpec {
        let extra =
            HeaderNames::new(self.ignore_headers.iter().map(String::as_str)).unwrap_or_default();
        CompareSpec::with_extra_ignored(self.mode, &extra)
    }
}

impl MirrorOptions {
    /// Whether these are the defaults (nothing rewritten, per-request sampling).
    pub fn is_default(&self) -> bool {
        *self == MirrorOptions::default()
    }
}
