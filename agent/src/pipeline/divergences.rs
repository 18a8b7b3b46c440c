//! The divergence log as the agent serves it (`GET /debug/divergences`) and
//! `shadowtap diff` reads it: recent divergent pairs of comparing routes, newest first,
//! sensitive header values already redacted by the comparator.

use serde::{Deserialize, Serialize};
use shadowtap_compare::{DivergenceLog, DivergentPair};

use super::comparison::PairKey;

/// The first differing header field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DivergentHeader {
    /// Its name, lower case.
    pub name: String,
    /// The primary's value (`[redacted]` for sensitive fields; absent when missing).
    pub primary: Option<String>,
    /// The mirror's value, likewise.
    pub mirror: Option<String>,
}

/// One divergent pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DivergenceEntry {
    /// The route, `namespace/name` (`grpcroute:namespace/name` for a GRPCRoute).
    pub route: String,
    /// The rule's index.
    pub rule: usize,
    /// The mirror, `namespace/name:port`.
    pub mirror: String,
    /// The pair's number on this agent.
    pub pair: u64,
    /// The request's method.
    pub method: String,
    /// The request's target (cut when long).
    pub target: String,
    /// The outcome (`status_class_differs`, `status_differs`, `headers_differ`,
    /// `body_differs`).
    pub outcome: String,
    /// The primary's status.
    pub primary_status: u16,
    /// The mirror's status.
    pub mirror_status: u16,
    /// The primary's `grpc-status` (gRPC responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_grpc_status: Option<String>,
    /// The mirror's `grpc-status`, likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_grpc_status: Option<String>,
    /// The primary's body length.
    pub primary_body_bytes: u64,
    /// The mirror's body length.
    pub mirror_body_bytes: u64,
    /// The first differing header, in the headers and body modes.
    pub first_header: Option<DivergentHeader>,
    /// Where the bodies first differ: `[from, to)`, exact when `to - from == 1`.
    pub first_body_offset: Option<(u64, u64)>,
    /// The primary's latency, µs.
    pub primary_latency_us: u64,
    /// The mirror's latency, µs.
    pub mirror_latency_us: u64,
}

/// The document: the log's capacity and its pairs, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DivergenceDoc {
    /// Most pairs the agent keeps.
    pub capacity: usize,
    /// The pairs, newest first.
    pub pairs: Vec<DivergenceEntry>,
}

impl DivergenceEntry {
    fn of(p: &DivergentPair<PairKey>) -> Self {
        DivergenceEntry {
            route: p.key.rule.route_label(),
            rule: p.key.rule.rule_index,
            mirror: p.key.mirror.clone(),
            pair: p.pair,
            method: p.method.to_owned(),
            target: p.target.clone(),
            outcome: p.outcome.name().to_owned(),
            primary_status: p.primary_status,
            mirror_status: p.mirror_status,
            primary_grpc_status: p.primary_grpc_status.clone(),
            mirror_grpc_status: p.mirror_grpc_status.clone(),
            primary_body_bytes: p.primary_body_bytes,
            mirror_body_bytes: p.mirror_body_bytes,
            first_header: p.first_header.as_ref().map(|h| DivergentHeader {
                name: h.name.clone(),
                primary: h.primary.clone(),
                mirror: h.mirror.clone(),
            }),
            first_body_offset: p.first_body_offset.map(|o| (o.from, o.to)),
            primary_latency_us: p.primary_latency_us,
            mirror_latency_us: p.mirror_latency_us,
        }
    }
}

impl DivergenceDoc {
    /// The document of a log.
    pub fn of(log: &DivergenceLog<PairKey>) -> Self {
        DivergenceDoc {
            capacity: log.capacity(),
            pairs: log.iter().rev().map(DivergenceEntry::of).collect(),
        }
    }
}
