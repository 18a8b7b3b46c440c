//! Replay metrics (prometheus-client) and the per-backend counters behind them.
//!
//! Names as exported under the agent's `shadowtap` registry prefix:
//! - `shadowtap_mirror_requests_total{backend,outcome}`: `outcome` is `sent` (written and
//!   its response read to the end) or a [`DropReason`] label.
//! - `shadowtap_mirror_responses_total{backend,class}`: final responses by `1xx`..`5xx`.
//! - `shadowtap_mirror_latency_seconds{backend}`: histogram from the first byte written to
//!   the last response byte read, for sent requests.
//! - `shadowtap_mirror_queue_bytes`: bytes queued over all backends.
//! - `shadowtap_mirror_queue_depth{backend}`: requests queued per backend.
//! - `shadowtap_mirror_connections{backend}`: open connections per backend.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::reason::DropReason;
use crate::snapshot::BackendSnapshot;

/// Status classes, in label order.
pub(crate) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const OUTCOME_SENT: &str = "sent";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    backend: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    backend: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

/// A histogram with the buckets of `shadowtap_mirror_latency_seconds` (0.5 ms .. ~16 s),
/// for per-route latency families that should line up with the per-backend one.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The replay metric families. Clones share the same series. Labels are bounded: the
/// configured backends times the fixed outcome and class sets.
#[derive(Clone, Debug)]
pub struct ReplayMetrics {
    requests: Family<OutcomeLabels, Counter>,
    responses: Family<ClassLabels, Counter>,
    latency: Family<BackendLabels, Histogram, fn() -> Histogram>,
    queue_bytes: Gauge,
    queue_depth: Family<BackendLabels, Gauge>,
    connections: Family<BackendLabels, Gauge>,
}

impl Default for ReplayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayMetrics {
    /// Empty metric families.
    pub fn new() -> Self {
        ReplayMetrics {
            requests: Family::default(),
            responses: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            queue_bytes: Gauge::default(),
            queue_depth: Family::default(),
            connections: Family::default(),
        }
    }

    /// Drops every series of backend `name` (it left the plan), so label sets follow the
    /// configured backends instead of growing with every backend ever seen.
    pub(crate) fn remove_backend(&self, name: &str) {
        let backend = name.to_owned();
        for outcome in DropReason::ALL
            .iter()
            .map(|r| r.as_str())
            .chain([OUTCOME_SENT])
        {
            self.requests.remove(&OutcomeLabels {
                backend: backend.clone(),
                outcome,
            });
        }
        for class in CLASSES {
            self.responses.remove(&ClassLabels {
                backend: backend.clone(),
                class,
            });
        }
        let labels = BackendLabels { backend };
        self.latency.remove(&labels);
        self.queue_depth.remove(&labels);
        self.connections.remove(&labels);
    }

    /// Registers the families (names without the `shadowtap_` prefix, which the agent's
    /// registry adds).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mirror_requests",
            "Mirrored requests by backend and outcome: sent, or the reason they were dropped",
            self.requests.clone(),
        );
        registry.register(
            "mirror_responses",
            "Final responses from mirror backends by status class",
            self.responses.clone(),
        );
        registry.register(
            "mirror_latency_seconds",
            "Time from writing a mirrored request to reading its whole response",
            self.latency.clone(),
        );
        registry.register(
            "mirror_queue_bytes",
            "Bytes of mirrored requests queued for replay, over all backends",
            self.queue_bytes.clone(),
        );
        registry.register(
            "mirror_queue_depth",
            "Mirrored requests queued for replay per backend",
            self.queue_depth.clone(),
        );
        registry.register(
            "mirror_connections",
            "Open connections to mirror backends",
            self.connections.clone(),
        );
    }

    /// The global queue-bytes gauge.
    pub(crate) fn queue_bytes(&self) -> Gauge {
        self.queue_bytes.clone()
    }

    /// Counters for requests submitted to an unknown backend.
    pub(crate) fn unknown_backend(&self) -> Counter {
        self.requests
            .get_or_create(&OutcomeLabels {
                backend: "unknown".to_owned(),
                outcome: DropReason::UnknownBackend.as_str(),
            })
            .clone()
    }

    /// Handles to every series of one backend.
    pub(crate) fn backend(&self, name: String) -> BackendStats {
        let outcome = |outcome| {
            self.requests
                .get_or_create(&OutcomeLabels {
                    backend: name.clone(),
                    outcome,
                })
                .clone()
        };
        let mut outcomes = vec![outcome(OUTCOME_SENT)];
        outcomes.extend(DropReason::ALL.iter().map(|r| outcome(r.as_str())));
        let classes = CLASSES.map(|class| {
            self.responses
                .get_or_create(&ClassLabels {
                    backend: name.clone(),
                    class,
                })
                .clone()
        });
        let labels = BackendLabels {
            backend: name.clone(),
        };
        BackendStats {
            latency: self.latency.get_or_create(&labels).clone(),
            depth: self.queue_depth.get_or_create(&labels).clone(),
            connections: self.connections.get_or_create(&labels).clone(),
            name,
            outcomes,
            classes,
            submitted: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            logged: AtomicU32::new(0),
        }
    }
}

/// Counters and gauges of one backend, plus what conservation checks need.
#[derive(Debug)]
pub(crate) struct BackendStats {
    /// The backend label.
    pub name: String,
    outcomes: Vec<Counter>,
    classes: [Counter; 5],
    latency: Histogram,
    /// Requests queued.
    pub depth: Gauge,
    /// Open connections.
    pub connections: Gauge,
    submitted: AtomicU64,
    /// Requests taken from the queue and not yet finished.
    pub in_flight: AtomicUsize,
    logged: AtomicU32,
}

impl BackendStats {
    /// Counts a submitted request.
    pub fn submitted(&self) {
        self.submitted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request sent and answered.
    pub fn sent(&self, status: u16, latency: Duration) {
        self.outcomes[0].inc();
        self.classes[crate::tally::class_index(status)].inc();
        self.latency.observe(latency.as_secs_f64());
    }

    /// Counts a dropped request.
    pub fn dropped(&self, reason: DropReason) {
        self.outcomes[1 + reason.index()].inc();
    }

    /// Logs a problem the first time it happens for this backend; later ones are counted only.
    pub fn log_once(&self, reason: DropReason, detail: &dyn fmt::Display) {
        let bit = 1u32 << reason.index();
        if self.logged.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            tracing::warn!(
                backend = %self.name,
                reason = reason.as_str(),
                "mirror request dropped: {detail} (further drops for this reason are only counted)"
            );
        }
    }

    /// Current counts.
    pub fn snapshot(&self) -> BackendSnapshot {
        let dropped = DropReason::ALL
            .iter()
            .map(|r| (*r, self.outcomes[1 + r.index()].get()))
            .filter(|(_, n)| *n > 0)
            .collect();
        let responses = CLASSES
            .iter()
            .zip(self.classes.iter())
            .map(|(c, n)| (*c, n.get()))
            .filter(|(_, n)| *n > 0)
            .collect();
        BackendSnapshot {
            submitted: self.submitted.load(Ordering::Relaxed),
            sent: self.outcomes[0].get(),
            dropped,
            responses,
            queued: usize::try_from(self.depth.get()).unwrap_or(0),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            connections: usize::try_from(self.connections.get()).unwrap_or(0),
        }
    }
}
