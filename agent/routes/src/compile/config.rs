//! How to plan: the opt-in selector, the GatewayClasses that mirror by themselves, and the
//! node-wide flow sampling switch.

use std::collections::BTreeMap;

/// The default opt-in label.
pub const MIRROR_LABEL: (&str, &str) = ("shadowtap.dev/mirror", "enabled");

/// How to plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanConfig {
    /// Labels an HTTPRoute must carry (all of them) for its mirrors to be shadowtap's.
    /// Default: `shadowtap.dev/mirror: "enabled"`.
    pub selector: BTreeMap<String, String>,
    /// GatewayClass names whose implementation mirrors by itself: a labelled route on such a
    /// Gateway gets a `parent_mirrors_itself` warning (the route is still planned).
    pub mirroring_gateway_classes: Vec<String>,
    /// Pre-sample flows in the kernel at every endpoint (`--flow-sampling`), whatever the
    /// routes' annotations say.
    pub flow_sampling: bool,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            selector: BTreeMap::from([(MIRROR_LABEL.0.to_owned(), MIRROR_LABEL.1.to_owned())]),
            mirroring_gateway_classes: [
                "istio",
                "istio-waypoint",
                "eg",
                "envoy-gateway",
                "cilium",
                "kong",
                "nginx",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            flow_sampling: false,
        }
    }
}
