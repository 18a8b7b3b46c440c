//! A bounded log of recent divergent pairs, what `shadowtap diff` shows: fixed capacity,
//! oldest evicted first, sensitive header values redacted before they are stored.

use std::collections::VecDeque;

use serde::Serialize;

use crate::compare::Comparison;
use crate::digest::BodyOffset;
use crate::outcome::Outcome;
use crate::spec::{Redaction, REDACTED};
use crate::summary::ResponseSummary;

/// Longest header value or target kept in the log; longer ones are cut (and say so).
pub const MAX_SHOWN_BYTES: usize = 256;

/// The first differing header field as the log shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShownHeader {
    /// The name, in lower case.
    pub name: String,
    /// The primary's values ([`REDACTED`] for sensitive fields; absent when it lacks the field).
    pub primary: Option<String>,
    /// The mirror's values, likewise.
    pub mirror: Option<String>,
}

/// One divergent pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DivergentPair<K> {
    /// The route, rule and mirror (as the agent names them).
    pub key: K,
    /// The pair's id.
    pub pair: u64,
    /// The request's method.
    pub method: &'static str,
    /// The request's target (path and query), cut at [`MAX_SHOWN_BYTES`].
    pub target: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The primary's status.
    pub primary_status: u16,
    /// The mirror's status.
    pub mirror_status: u16,
    /// The primary's `grpc-status`, when it sent one (gRPC).
    pub primary_grpc_status: Option<String>,
    /// The mirror's `grpc-status`, likewise.
    pub mirror_grpc_status: Option<String>,
    /// The primary's body length.
    pub primary_body_bytes: u64,
    /// The mirror's body length.
    pub mirror_body_bytes: u64,
    /// The first differing header field, when the mode compares headers.
    pub first_header: Option<ShownHeader>,
    /// Where the bodies first differ, when the mode compares bodies.
    pub first_body_offset: Option<BodyOffset>,
    /// The primary's latency, in microseconds.
    pub primary_latency_us: u64,
    /// The mirror's latency, in microseconds.
    pub mirror_latency_us: u64,
}

impl<K> DivergentPair<K> {
    /// The log entry of a compared pair, sensitive values redacted.
    #[expect(
        clippy::too_many_arguments,
        reason = "one entry from the parts of a finished pair, each named"
    )]
    pub fn new(
        key: K,
        pair: u64,
        method: &'static str,
        target: &[u8],
        primary: &ResponseSummary,
        mirror: &ResponseSummary,
        comparison: &Comparison,
        redaction: &Redaction,
    ) -> DivergentPair<K> {
        let shown = |name: &[u8], v: &Option<Vec<u8>>| {
            v.as_ref().map(|v| {
                if redaction.is_sensitive(name) {
                    REDACTED.to_owned()
                } else {
                    shown_text(v)
                }
            })
        };
        DivergentPair {
            key,
            pair,
            method,
            target: shown_text(target),
            outcome: comparison.outcome,
            primary_status: primary.status,
            mirror_status: mirror.status,
            primary_grpc_status: primary.grpc_status.as_deref().map(shown_text),
            mirror_grpc_status: mirror.grpc_status.as_deref().map(shown_text),
            primary_body_bytes: primary.body.len,
            mirror_body_bytes: mirror.body.len,
            first_header: comparison.header.as_ref().map(|h| ShownHeader {
                name: String::from_utf8_lossy(&h.name).into_owned(),
                primary: shown(&h.name, &h.primary),
                mirror: shown(&h.name, &h.mirror),
            }),
            first_body_offset: comparison.body,
            primary_latency_us: micros(primary.latency),
            mirror_latency_us: micros(mirror.latency),
        }
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Bytes as text for the log: lossy UTF-8, cut at [`MAX_SHOWN_BYTES`] with a `…` mark.
fn shown_text(v: &[u8]) -> String {
    if v.len() <= MAX_SHOWN_BYTES {
        return String::from_utf8_lossy(v).into_owned();
    }
    let mut s = String::from_utf8_lossy(&v[..MAX_SHOWN_BYTES]).into_owned();
    s.push('…');
    s
}

/// The most recent divergent pairs, at most `capacity`.
#[derive(Clone, Debug)]
pub struct DivergenceLog<K> {
    capacity: usize,
    entries: VecDeque<DivergentPair<K>>,
}

impl<K> DivergenceLog<K> {
    /// An empty log keeping at most `capacity` pairs (0 keeps none).
    pub fn new(capacity: usize) -> DivergenceLog<K> {
        DivergenceLog {
            capacity,
            entries: VecDeque::with_capacity(capacity.min(1024)),
        }
    }

    /// Adds a pair; returns whether an older one was evicted to make room.
    pub fn push(&mut self, entry: DivergentPair<K>) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let evicted = self.entries.len() >= self.capacity;
        if evicted {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        evicted
    }

    /// The pairs, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &DivergentPair<K>> + '_ {
        self.entries.iter()
    }

    /// Number of pairs held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare;
    use crate::spec::{CompareMode, CompareSpec};
    use crate::summary::HeaderField;

    fn with_header(status: u16, name: &str, value: &str) -> ResponseSummary {
        let mut s = ResponseSummary::new(status);
        s.headers.push(HeaderField {
            name: name.as_bytes().into(),
            value: value.as_bytes().into(),
        });
        s
    }

    fn entry(name: &str, redaction: &Redaction) -> DivergentPair<()> {
        let spec = CompareSpec::new(CompareMode::Headers);
        let a = with_header(200, name, "secret-1");
        let b = with_header(200, name, "secret-2");
        let c = compare(&spec, &a, &b);
        DivergentPair::new((), 1, "GET", b"/x", &a, &b, &c, redaction)
    }

    #[test]
    fn sensitive_values_are_redacted() {
        let r = Redaction::with_extra(["x-api-key"]).expect("valid names");
        for name in [
            "set-cookie",
            "authorization",
            "cookie",
            "proxy-authorization",
            "x-api-key",
        ] {
            let e = entry(name, &r);
            let h = e.first_header.clone().expect("a header differs");
            assert_eq!(
                (h.primary.as_deref(), h.mirror.as_deref()),
                (Some(REDACTED), Some(REDACTED)),
                "{name}"
            );
            let json = serde_json::to_string(&e).expect("serialises");
            assert!(!json.contains("secret"), "{json}");
        }
        let e = entry("etag", &r);
        let h = e.first_header.expect("a header differs");
        assert_eq!(h.primary.as_deref(), Some("secret-1"));
    }

    #[test]
    fn capacity_evicts_oldest() {
        let r = Redaction::default();
        let mut log = DivergenceLog::new(3);
        for i in 0..5 {
            let mut e = entry("etag", &r);
            e.pair = i;
            assert_eq!(log.push(e), i >= 3);
        }
        assert_eq!(log.iter().map(|e| e.pair).collect::<Vec<_>>(), [2, 3, 4]);
        let mut none = DivergenceLog::new(0);
        assert!(none.push(entry("etag", &r)));
        assert!(none.is_empty());
    }

    #[test]
    fn long_values_are_cut() {
        let long = "v".repeat(1000);
        assert_eq!(
            shown_text(long.as_bytes()).chars().count(),
            MAX_SHOWN_BYTES + 1
        );
        assert_eq!(shown_text(b"short"), "short");
    }
}
