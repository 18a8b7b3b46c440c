//! The agent's metric registry and the kernel-side families it publishes.

use std::sync::{atomic::Ordering, Arc, Mutex};

use prometheus_client::{
    metrics::{family::Family as PromFamily, gauge::Gauge},
    registry::Registry,
};
use shadowtap_common::Counter;
use shadowtap_mirror::ReplayMetrics;
use shadowtap_routes::PlanProblem;

use super::leadership::Leadership;
use crate::{
    datapath::{MapHandles, RingStats},
    metrics::{Family, FamilyKind, Snapshots},
    pipeline::{route_latency_family, CompareLatency, RouteLatencyFamily},
};

/// Gauges the control loop sets, and the registry they and every other metric live in.
pub struct Telemetry {
    /// Everything served on `/metrics`.
    pub registry: Registry,
    /// Counter snapshots published by single-threaded parts (kernel, pipeline).
    pub snapshots: Snapshots,
    /// `shadowtap_route_mirror_latency_seconds`, whose series the pipeline's route
    /// statistics keep in step with the plan.
    pub route_latency: RouteLatencyFamily,
    /// `shadowtap_route_primary_latency_seconds` and
    /// `shadowtap_route_compared_mirror_latency_seconds` of comparing routes.
    pub compare_latency: CompareLatency,
    /// The mirror client's families, registered before the client exists so that
    /// `/metrics` is served from the start.
    pub replay: ReplayMetrics,
    /// `shadowtap_leader` and the election's error count.
    pub leadership: Leadership,
    problems: PromFamily<Vec<(String, String)>, Gauge>,
    attached: Gauge<i64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A registry under the `shadowtap_` prefix with the snapshots, the mirror client's
    /// metrics and the control loop's gauges.
    pub fn new() -> Self {
        let snapshots = Snapshots::default();
        let problems: PromFamily<Vec<(String, String)>, Gauge> = PromFamily::default();
        let attached = Gauge::<i64>::default();
        let mut registry = Registry::with_prefix("shadowtap");
        registry.register_collector(Box::new(snapshots.collector()));
        let replay = ReplayMetrics::new();
        replay.register(&mut registry);
        let leadership = Leadership::default();
        leadership.register(&mut registry);
        let route_latency = route_latency_family();
        registry.register(
            "route_mirror_latency_seconds",
            "Per mirror of a rule, time from writing a mirrored request to reading its whole response.",
            route_latency.clone(),
        );
        let compare_latency = CompareLatency::default();
        registry.register(
            "route_primary_latency_seconds",
            "Per mirror of a comparing rule, the primary's latency of the compared pairs: the request's last byte to the final response's first byte, both captured at the pod's interface.",
            compare_latency.primary.clone(),
        );
        registry.register(
            "route_compared_mirror_latency_seconds",
            "Per mirror of a comparing rule, the mirror's latency of the same compared pairs: from writing the request to the final response's first byte.",
            compare_latency.mirror.clone(),
        );
        registry.register(
            "plan_problems",
            "Problems in the routes, by route, field and reason (1 while present).",
            problems.clone(),
        );
        registry.register(
            "attached_interfaces",
            "Interfaces with a capture program attached.",
            attached.clone(),
        );
        let build_info: PromFamily<Vec<(String, String)>, Gauge> = PromFamily::default();
        build_info
            .get_or_create(&vec![(
                "version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])
            .set(1);
        registry.register(
            "build_info",
            "The running agent's version (always 1).",
            build_info,
        );
        Self {
            registry,
            snapshots,
            route_latency,
            compare_latency,
            replay,
            leadership,
            problems,
            attached,
        }
    }

    /// The registry for the metrics server, and what the rest of the agent keeps.
    pub fn split(self) -> (Arc<Registry>, TelemetryHandles) {
        (
            Arc::new(self.registry),
            TelemetryHandles {
                snapshots: self.snapshots,
                route_latency: self.route_latency,
                compare_latency: self.compare_latency,
                replay: self.replay,
                leadership: self.leadership,
                gauges: ControlGauges {
                    problems: self.problems,
                    attached: self.attached,
                },
            },
        )
    }
}

/// What the agent keeps of its telemetry once the registry is served.
pub struct TelemetryHandles {
    /// See [`Telemetry::snapshots`].
    pub snapshots: Snapshots,
    /// See [`Telemetry::route_latency`].
    pub route_latency: RouteLatencyFamily,
    /// See [`Telemetry::compare_latency`].
    pub compare_latency: CompareLatency,
    /// See [`Telemetry::replay`].
    pub replay: ReplayMetrics,
    /// See [`Telemetry::leadership`].
    pub leadership: Leadership,
    /// The control loop's gauges.
    pub gauges: ControlGauges,
}

/// The plan's problems and the attachment count, as gauges.
#[derive(Clone)]
pub struct ControlGauges {
    problems: PromFamily<Vec<(String, String)>, Gauge>,
    attached: Gauge<i64>,
}

impl ControlGauges {
    /// Exactly these problems are present (1), no others.
    pub fn set_problems(&self, problems: &[PlanProblem]) {
        self.problems.clear();
        for p in problems {
            self.problems
                .get_or_create(&vec![
                    ("route".to_owned(), p.kind.route_label(&p.route)),
                    ("field".to_owned(), p.field.clone()),
                    ("reason".to_owned(), p.reason.as_str().to_owned()),
                ])
                .set(1);
        }
    }

    /// Interfaces with a capture program.
    pub fn set_attached(&self, n: usize) {
        self.attached.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// The kernel's per-CPU counters (summed) and the ring reader's counts.
pub fn kernel_families(maps: &Mutex<MapHandles>, ring: &RingStats) -> Vec<Family> {
    let mut out = Vec::new();
    let snap = maps.lock().unwrap_or_else(|e| e.into_inner()).counters();
    if let Ok(snap) = snap {
        // Every packet ends in exactly one outcome; `packets_seen` is their sum, and bytes
        // and truncations measure the copied records, so they get their own families.
        out.push(Family {
            name: "kernel_packets",
            help: "Packets seen by the kernel programs, by outcome (each packet has exactly one).",
            kind: FamilyKind::Counter,
            label: "outcome",
            values: snap
                .iter()
                .filter(|(c, _)| {
                    !matches!(
                        c,
                        Counter::PacketsSeen | Counter::BytesCopied | Counter::Truncated
                    )
                })
                .map(|(c, v)| (c.name(), v))
                .collect(),
        });
        out.push(Family {
            name: "kernel_copied_bytes",
            help: "Payload bytes the kernel programs copied into the ring.",
            kind: FamilyKind::Counter,
            label: "",
            values: vec![("", snap.get(Counter::BytesCopied))],
        });
        out.push(Family {
            name: "kernel_truncated_records",
            help:
                "Copied records whose payload was longer than the record limit (cut and flagged).",
            kind: FamilyKind::Counter,
            label: "",
            values: vec![("", snap.get(Counter::Truncated))],
        });
    }
    out.push(Family {
        name: "ring_records",
        help: "Ring buffer records read by user space, by outcome.",
        kind: FamilyKind::Counter,
        label: "outcome",
        values: vec![
            ("read", ring.records.load(Ordering::Relaxed)),
            ("malformed", ring.malformed.load(Ordering::Relaxed)),
        ],
    });
    out
}
