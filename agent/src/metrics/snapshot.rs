//! Metric families published as snapshots by their owners and encoded at scrape time.

use std::sync::{Arc, Mutex};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
};

/// Whether a family is a counter (monotonic) or a gauge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyKind {
    /// Monotonic total (`_total` is appended).
    Counter,
    /// A current value.
    Gauge,
}

/// One metric family: a name, one label, and a value per label value.
#[derive(Clone, Debug)]
pub struct Family {
    /// Name without the `shadowtap_` prefix.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: FamilyKind,
    /// The label's name (e.g. `outcome`, `reason`); empty for an unlabelled single value.
    pub label: &'static str,
    /// Label value → value. Label values come from fixed enums: cardinality is bounded.
    pub values: Vec<(&'static str, u64)>,
}

/// A metric family whose series carry several labels with values known only at run time
/// (route, rule, mirror): one row per series. Cardinality is bounded by the plan (routes ×
/// rules × mirrors × outcomes), never by traffic.
#[derive(Clone, Debug)]
pub struct LabelledFamily {
    /// Name without the `shadowtap_` prefix.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: FamilyKind,
    /// `(labels, value)` per series; counters are whole numbers.
    pub rows: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// The families one owner published.
type Slot = (&'static str, Vec<Family>);
/// The labelled families one owner published.
type LabelledSlot = (&'static str, Vec<LabelledFamily>);

/// Families by publisher: each owner replaces its own slot.
#[derive(Clone, Debug, Default)]
pub struct Snapshots {
    slots: Arc<Mutex<Vec<Slot>>>,
    labelled: Arc<Mutex<Vec<LabelledSlot>>>,
}

impl Snapshots {
    /// Replace the families published by `owner`.
    pub fn publish(&self, owner: &'static str, families: Vec<Family>) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        match slots.iter_mut().find(|(o, _)| *o == owner) {
            Some(slot) => slot.1 = families,
            None => slots.push((owner, families)),
        }
    }

    /// Replace the labelled families published by `owner`.
    pub fn publish_labelled(&self, owner: &'static str, families: Vec<LabelledFamily>) {
        let Ok(mut slots) = self.labelled.lock() else {
            return;
        };
        match slots.iter_mut().find(|(o, _)| *o == owner) {
            Some(slot) => slot.1 = families,
            None => slots.push((owner, families)),
        }
    }

    /// The collector that encodes these snapshots; register it once.
    pub fn collector(&self) -> SnapshotCollector {
        SnapshotCollector {
            snapshots: self.clone(),
        }
    }

    /// The current value of `name{label=value}`, if published (tests, summaries).
    pub fn value(&self, name: &str, label_value: &str) -> Option<u64> {
        let slots = self.slots.lock().ok()?;
        slots
            .iter()
            .flat_map(|(_, f)| f.iter())
            .filter(|f| f.name == name)
            .flat_map(|f| f.values.iter())
            .find(|(l, _)| *l == label_value)
            .map(|(_, v)| *v)
    }
}

/// Encodes [`Snapshots`] at scrape time.
#[derive(Debug)]
pub struct SnapshotCollector {
    snapshots: Snapshots,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let families: Vec<Family> = match self.snapshots.slots.lock() {
            Ok(slots) => slots.iter().flat_map(|(_, f)| f.iter().cloned()).collect(),
            Err(_) => return Ok(()),
        };
        for f in &families {
            let ty = match f.kind {
                FamilyKind::Counter => MetricType::Counter,
                FamilyKind::Gauge => MetricType::Gauge,
            };
            let mut metric = encoder.encode_descriptor(f.name, f.help, None, ty)?;
            if f.label.is_empty() {
                // One unlabelled value.
                let v = f.values.first().map_or(0, |(_, v)| *v);
                match f.kind {
                    FamilyKind::Counter => ConstCounter::new(v).encode(metric)?,
                    FamilyKind::Gauge => ConstGauge::new(v as i64).encode(metric)?,
                }
                continue;
            }
            for (label_value, v) in &f.values {
                let labels = [(f.label, *label_value)];
                let fam = metric.encode_family(&labels)?;
                match f.kind {
                    FamilyKind::Counter => ConstCounter::new(*v).encode(fam)?,
                    FamilyKind::Gauge => ConstGauge::new(*v as i64).encode(fam)?,
                }
            }
        }
        let labelled: Vec<LabelledFamily> = match self.snapshots.labelled.lock() {
            Ok(slots) => slots.iter().flat_map(|(_, f)| f.iter().cloned()).collect(),
            Err(_) => return Ok(()),
        };
        for f in &labelled {
            let ty = match f.kind {
                FamilyKind::Counter => MetricType::Counter,
                FamilyKind::Gauge => MetricType::Gauge,
            };
            let mut metric = encoder.encode_descriptor(f.name, f.help, None, ty)?;
            for (labels, v) in &f.rows {
                let fam = metric.encode_family(labels)?;
                match f.kind {
                    FamilyKind::Counter => ConstCounter::new(*v as u64).encode(fam)?,
                    FamilyKind::Gauge => ConstGauge::new(*v).encode(fam)?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::{encoding::text::encode, registry::Registry};

    #[test]
    fn snapshots_encode_as_prefixed_families() {
        let snaps = Snapshots::default();
        let mut registry = Registry::with_prefix("shadowtap");
        registry.register_collector(Box::new(snaps.collector()));
        snaps.publish(
            "kernel",
            vec![Family {
                name: "kernel_packets",
                help: "Packets by outcome.",
                kind: FamilyKind::Counter,
                label: "outcome",
                values: vec![("copied", 3), ("not_matched", 5)],
            }],
        );
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("shadowtap_kernel_packets_total{outcome=\"copied\"} 3"),
            "{text}"
        );
        assert!(text.contains("shadowtap_kernel_packets_total{outcome=\"not_matched\"} 5"));
        assert_eq!(snaps.value("kernel_packets", "copied"), Some(3));
        snaps.publish(
            "gauge",
            vec![Family {
                name: "flows_live",
                help: "Flows.",
                kind: FamilyKind::Gauge,
                label: "",
                values: vec![("", 7)],
            }],
        );
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        assert!(text.contains("\nshadowtap_flows_live 7\n"), "{text}");
        // Republishing replaces, never duplicates.
        snaps.publish("kernel", vec![]);
        assert_eq!(snaps.value("kernel_packets", "copied"), None);

        snaps.publish_labelled(
            "routes",
            vec![
                LabelledFamily {
                    name: "route_requests",
                    help: "Requests.",
                    kind: FamilyKind::Counter,
                    rows: vec![(
                        vec![("route", "default/foo".into()), ("rule", "0".into())],
                        12.0,
                    )],
                },
                LabelledFamily {
                    name: "route_mirror_fraction",
                    help: "Fraction.",
                    kind: FamilyKind::Gauge,
                    rows: vec![(vec![("route", "default/foo".into())], 0.42)],
                },
            ],
        );
        let mut text = String::new();
        encode(&mut text, &registry).expect("encode");
        assert!(
            text.contains("shadowtap_route_requests_total{route=\"default/foo\",rule=\"0\"} 12"),
            "{text}"
        );
        assert!(
            text.contains("shadowtap_route_mirror_fraction{route=\"default/foo\"} 0.42"),
            "{text}"
        );
    }
}
