//! How to plan: the opt-in selector, the GatewayClasses that mirror by themselves, and the
//! node-wide flow sampling switch.

use super::selector::MirrorSelector;

/// How to plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanConfig {
    /// The HTTPRoutes whose mirrors are shadowtap's (default `shadowtap.dev/mirror=enabled`).
    /// Every route competes in precedence; this only decides whose mirrors are implemented.
    pub selector: MirrorSelector,
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
            selector: MirrorSelector::default(),
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
