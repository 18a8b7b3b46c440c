//! The per-request decision at an endpoint: for each of its parents the winning rule, and
//! whether that rule's mirrors are shadowtap's to draw.

use super::precedence::winner;
use super::request::{ParsedRequest, RequestView};
use crate::model::{EndpointRules, MirrorTarget, ParentRules, RuleId};

/// What happens to one request at one endpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision<'p> {
    /// A rule of a labelled route that routes here won; draw for each mirror (may be empty
    /// when the rule has no RequestMirror filter).
    Matched {
        /// The winning rule.
        rule: &'p RuleId,
        /// Its mirrors.
        mirrors: &'p [MirrorTarget],
    },
    /// A rule of a route without the opt-in label won: not ours, no mirror.
    WonByUnlabelled {
        /// The winning rule.
        rule: &'p RuleId,
    },
    /// A labelled rule that sends elsewhere won: the request did not come here via it.
    WonByOtherBackend {
        /// The winning rule.
        rule: &'p RuleId,
    },
    /// No rule of any parent matched.
    NotMatched,
}

impl Decision<'_> {
    fn rank(&self) -> u8 {
        match self {
            Decision::Matched { mirrors, .. } if !mirrors.is_empty() => 4,
            Decision::Matched { .. } => 3,
            Decision::WonByOtherBackend { .. } => 2,
            Decision::WonByUnlabelled { .. } => 1,
            Decision::NotMatched => 0,
        }
    }

    /// The mirrors to draw for (empty unless [`Decision::Matched`]).
    pub fn mirrors(&self) -> &[MirrorTarget] {
        match self {
            Decision::Matched { mirrors, .. } => mirrors,
            _ => &[],
        }
    }
}

fn decide_parent<'p>(parent: &'p ParentRules, req: &ParsedRequest<'_>) -> Decision<'p> {
    match winner(&parent.rules, req) {
        None => Decision::NotMatched,
        Some(r) if !r.labelled => Decision::WonByUnlabelled { rule: &r.id },
        Some(r) if !r.routes_here => Decision::WonByOtherBackend { rule: &r.id },
        Some(r) => Decision::Matched {
            rule: &r.id,
            mirrors: &r.mirrors,
        },
    }
}

/// Decides one request at an endpoint. Each parent is decided on its own; when the endpoint
/// serves several parents (the request may have come through any), the first parent whose
/// winner mirrors decides, else the most specific outcome.
pub fn route_request<'p>(rules: &'p EndpointRules, req: &RequestView<'_>) -> Decision<'p> {
    let parsed = ParsedRequest::new(req);
    let mut best = Decision::NotMatched;
    for parent in &rules.parents {
        let d = decide_parent(parent, &parsed);
        if d.rank() > best.rank() {
            best = d;
        }
    }
    best
}
