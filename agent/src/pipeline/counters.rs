//! The pipeline's outcome counters (see the conservation equations in the module docs).

use crate::metrics::{Family, FamilyKind};

/// Why a decoded request was not matched to a mirroring rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotMatched {
    /// Its server address is not a captured endpoint of the current plan.
    NoEndpoint,
    /// No rule of any parent matched it.
    NoRule,
    /// A rule of an unlabelled route won precedence.
    WonByUnlabelled,
    /// A labelled rule that sends to another backend won.
    WonByOtherBackend,
    /// Method, target or a header name was not UTF-8.
    NotUtf8,
}

impl NotMatched {
    const ALL: [NotMatched; 5] = [
        NotMatched::NoEndpoint,
        NotMatched::NoRule,
        NotMatched::WonByUnlabelled,
        NotMatched::WonByOtherBackend,
        NotMatched::NotUtf8,
    ];

    /// Metric label.
    pub fn name(self) -> &'static str {
        match self {
            NotMatched::NoEndpoint => "no_endpoint",
            NotMatched::NoRule => "no_rule",
            NotMatched::WonByUnlabelled => "won_by_unlabelled",
            NotMatched::WonByOtherBackend => "won_by_other_backend",
            NotMatched::NotUtf8 => "not_utf8",
        }
    }
}

/// Counts of every outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineCounters {
    /// Requests decoded.
    pub decoded: u64,
    /// Requests carrying the mirror marker (replays of another agent): never mirrored.
    pub marked: u64,
    /// Not matched, by reason (indexed like `NotMatched::ALL`).
    pub not_matched: [u64; 5],
    /// Won by a labelled rule without RequestMirror filters.
    pub matched_without_mirror: u64,
    /// Won by a labelled rule with mirrors.
    pub matched_with_mirrors: u64,
    /// Mirror draws made (one per mirror of each matched rule).
    pub draws: u64,
    /// Draws that did not select the request.
    pub not_sampled: u64,
    /// Requests handed to the mirror sink.
    pub submitted: u64,
    /// Refused by the sink, by reason.
    pub refused: Vec<(&'static str, u64)>,
    /// Requests at an endpoint with GAMMA consumer routes from a client whose IP does not
    /// tell its namespace although a pod of a consumer namespace may hold it (a host-network
    /// pod's, the node's IP; an IP pods of two namespaces claim): they followed the producer
    /// routes. Counted besides the routing outcomes, not as one of them.
    pub client_namespace_unknown: u64,
}

impl PipelineCounters {
    /// Count a not-matched request.
    pub fn not_matched(&mut self, why: NotMatched) {
        self.not_matched[why as usize] += 1;
    }

    /// Count a refusal by the sink.
    pub fn refused(&mut self, reason: &'static str) {
        match self.refused.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.refused.push((reason, 1)),
        }
    }

    /// Requests not matched, all reasons.
    pub fn not_matched_total(&self) -> u64 {
        self.not_matched.iter().sum()
    }

    /// Refusals, all reasons.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().map(|(_, n)| n).sum()
    }

    /// Whether both conservation equations hold.
    pub fn conserved(&self) -> bool {
        self.decoded
            == self.marked
                + self.not_matched_total()
                + self.matched_without_mirror
                + self.matched_with_mirrors
            && self.draws == self.not_sampled + self.submitted + self.refused_total()
    }

    /// As metric families.
    pub fn families(&self) -> Vec<Family> {
        let mut requests = vec![
            ("marked", self.marked),
            ("matched_without_mirror", self.matched_without_mirror),
            ("matched_with_mirrors", self.matched_with_mirrors),
        ];
        for why in NotMatched::ALL {
            requests.push((why.name(), self.not_matched[why as usize]));
        }
        let mut draws = vec![
            ("not_sampled", self.not_sampled),
            ("submitted", self.submitted),
        ];
        draws.extend(self.refused.iter().copied());
        vec![
            Family {
                name: "requests",
                help: "Decoded requests by routing outcome; their sum is shadowtap_reconstruct_requests_total{outcome=\"emitted\"}.",
                kind: FamilyKind::Counter,
                label: "outcome",
                values: requests,
            },
            Family {
                name: "mirror_draws",
                help: "Per-mirror sampling draws by outcome: not_sampled, submitted (queued for replay), or a refusal reason.",
                kind: FamilyKind::Counter,
                label: "outcome",
                values: draws,
            },
            Family {
                name: "requests_client_namespace_unknown",
                help: "Requests that met GAMMA consumer routes from a client whose namespace is unknown (host network, or an address pods of two namespaces claim); they followed the producer routes. Counted besides the routing outcomes.",
                kind: FamilyKind::Counter,
                label: "",
                values: vec![("", self.client_namespace_unknown)],
            },
        ]
    }
}
