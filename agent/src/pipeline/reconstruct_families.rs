//! The reconstruction counters as metric families grouped by stage — segments, bytes, gaps,
//! resynchronisation, flows, evictions, requests — each with the label of its outcome or
//! reason. Totals that are the sum of their parts are left out (segments pushed = ring
//! records read; gaps = Σ reasons; requests started = emitted + dropped + in progress), and
//! so are the counters only an offline capture-file reader moves.

use shadowtap_reconstruct::{Counter, Counters};

use crate::metrics::{Family, FamilyKind};

/// A stage's family: name (without the prefix), help, label name.
struct Stage {
    name: &'static str,
    help: &'static str,
    label: &'static str,
}

const SEGMENTS: Stage = Stage {
    name: "reconstruct_segments",
    help: "Segments that did not simply extend their flow's stream, by outcome (every segment is a ring record: shadowtap_ring_records_total).",
    label: "outcome",
};
const BYTES: Stage = Stage {
    name: "reconstruct_bytes",
    help: "Stream bytes by outcome: delivered in order to the decoder, duplicate, lost in gaps, skipped after a dropped request or while resynchronising.",
    label: "outcome",
};
const GAPS: Stage = Stage {
    name: "reconstruct_gaps",
    help: "Stream ranges given up as missing, by reason.",
    label: "reason",
};
const RESYNC: Stage = Stage {
    name: "reconstruct_resyncs",
    help: "Resynchronisation: times a flow entered resync (entered), resync points accepted (accepted), returns to a range a gap timeout had skipped (reanchored).",
    label: "event",
};
const FLOWS: Stage = Stage {
    name: "reconstruct_flows",
    help: "Flow lifecycle events: created, midstream (no SYN seen), not_http1 (no longer decoded), stopped_invalid, closed_by_request, http2 (handed to HTTP/2 decoding), h2_midstream (HTTP/2 frames on a flow that started before capture: not decodable), h2_over_budget (HTTP/2 decoding stopped at the in-flight budget).",
    label: "event",
};
const EVICTIONS: Stage = Stage {
    name: "reconstruct_flow_evictions",
    help: "Flows that ended, by reason.",
    label: "reason",
};
const REQUESTS: Stage = Stage {
    name: "reconstruct_requests",
    help: "Requests by outcome: emitted (decoded whole), or the reason one was dropped.",
    label: "outcome",
};

/// Where a counter is published: its stage and label value; `None` for sums of other
/// counters and for offline-only counters. Exhaustive, so a new counter must be placed.
fn place(c: Counter) -> Option<(&'static Stage, &'static str)> {
    use Counter::*;
    Some(match c {
        RequestsStarted | SegmentsSeen | Gaps => return None,
        PcapPackets | PcapNotTcp | PcapMalformed | PcapServerToClient | PcapUndirected => {
            return None
        }
        RequestsEmitted => (&REQUESTS, "emitted"),
        RequestsUpgradedH2 => (&REQUESTS, "upgraded_h2"),
        DroppedGap => (&REQUESTS, "gap"),
        DroppedIncomplete => (&REQUESTS, "incomplete"),
        DroppedHeaderTooLarge => (&REQUESTS, "header_too_large"),
        DroppedTooManyHeaders => (&REQUESTS, "too_many_headers"),
        DroppedBodyTooLarge => (&REQUESTS, "body_too_large"),
        DroppedBodyBudget => (&REQUESTS, "body_budget"),
        DroppedInvalidRequest => (&REQUESTS, "invalid_request"),
        DroppedUnknownMethod => (&REQUESTS, "unknown_method"),
        DroppedBareLf => (&REQUESTS, "bare_lf"),
        DroppedObsFold => (&REQUESTS, "obs_fold"),
        DroppedClAndTe => (&REQUESTS, "cl_and_te"),
        DroppedConflictingContentLength => (&REQUESTS, "conflicting_content_length"),
        DroppedInvalidContentLength => (&REQUESTS, "invalid_content_length"),
        DroppedBadTransferEncoding => (&REQUESTS, "bad_transfer_encoding"),
        DroppedInvalidChunked => (&REQUESTS, "invalid_chunked"),
        DroppedUpgrade => (&REQUESTS, "upgrade"),
        DroppedConnect => (&REQUESTS, "connect"),
        DroppedHttp2 => (&REQUESTS, "http2"),
        FlowsCreated => (&FLOWS, "created"),
        FlowsMidstream => (&FLOWS, "midstream"),
        FlowsNotHttp1 => (&FLOWS, "not_http1"),
        FlowsStoppedInvalid => (&FLOWS, "stopped_invalid"),
        FlowsClosedByRequest => (&FLOWS, "closed_by_request"),
        FlowsHttp2 => (&FLOWS, "http2"),
        FlowsH2Midstream => (&FLOWS, "h2_midstream"),
        FlowsH2OverBudget => (&FLOWS, "h2_over_budget"),
        EvictedFin => (&EVICTIONS, "fin"),
        EvictedRst => (&EVICTIONS, "rst"),
        EvictedIdle => (&EVICTIONS, "idle"),
        EvictedCap => (&EVICTIONS, "cap"),
        EvictedReused => (&EVICTIONS, "reused"),
        EvictedFlush => (&EVICTIONS, "flush"),
        SegmentsMalformed => (&SEGMENTS, "malformed"),
        SegmentsStray => (&SEGMENTS, "stray"),
        SegmentsOutOfOrder => (&SEGMENTS, "out_of_order"),
        SegmentsDuplicate => (&SEGMENTS, "duplicate"),
        SegmentsAfterClose => (&SEGMENTS, "after_close"),
        SegmentsIgnored => (&SEGMENTS, "ignored"),
        SegmentsOutOfWindow => (&SEGMENTS, "out_of_window"),
        OverlapConflicts => (&SEGMENTS, "overlap_conflict"),
        BytesDelivered => (&BYTES, "delivered"),
        BytesDuplicate => (&BYTES, "duplicate"),
        BytesLost => (&BYTES, "lost"),
        BytesSkipped => (&BYTES, "skipped"),
        ResyncSkippedBytes => (&BYTES, "resync_skipped"),
        GapTimeout => (&GAPS, "timeout"),
        GapFlowCap => (&GAPS, "flow_cap"),
        GapBudget => (&GAPS, "budget"),
        GapTruncated => (&GAPS, "truncated"),
        GapClosed => (&GAPS, "closed"),
        GapConflict => (&GAPS, "conflict"),
        GapReanchor => (&RESYNC, "reanchored"),
        Resyncs => (&RESYNC, "entered"),
        ResyncAccepted => (&RESYNC, "accepted"),
    })
}

/// One family per stage, in a fixed order, every label value present (zeros included).
pub fn reconstruct_families(counters: &Counters) -> Vec<Family> {
    let stages = [
        &SEGMENTS, &BYTES, &GAPS, &RESYNC, &FLOWS, &EVICTIONS, &REQUESTS,
    ];
    let mut values: Vec<Vec<(&'static str, u64)>> = vec![Vec::new(); stages.len()];
    for (c, v) in counters.iter() {
        if let Some((stage, label)) = place(c) {
            if let Some(i) = stages.iter().position(|s| std::ptr::eq(*s, stage)) {
                values[i].push((label, v));
            }
        }
    }
    stages
        .iter()
        .zip(values)
        .map(|(s, values)| Family {
            name: s.name,
            help: s.help,
            kind: FamilyKind::Counter,
            label: s.label,
            values,
        })
        .collect()
}

/// The HTTP/2 decoders' counters (all h2c connections together) as one family,
/// `h2_events_total{event}`, every counter present: connections (`h2_connections`,
/// `h2_midstream`, `h2c_upgrade_declined`), streams and their drops, connection stops,
/// frames and bytes.
pub fn h2_family(counters: &shadowtap_reconstruct::shadowtap_h2::Counters) -> Family {
    Family {
        name: "h2_events",
        help: "HTTP/2 (h2c) decoding, all connections: connections seen, midstream (started before capture, not decodable), declined h2c upgrades, streams started, requests emitted, streams dropped by reason, connections stopped by reason, frames and bytes.",
        kind: FamilyKind::Counter,
        label: "event",
        values: counters.iter().map(|(c, v)| (c.name(), v)).collect(),
    }
}

/// The response direction of comparing endpoints (`shadowtap_response_events_total`).
pub fn response_family(counters: &shadowtap_reconstruct::ResponseCounters) -> Family {
    Family {
        name: "response_events",
        help: "Response streams of comparing endpoints: segments seen and stray, streams opened and started mid-stream, bytes delivered and not copied by the kernel, gaps, segments out of window, streams ended by reason.",
        kind: FamilyKind::Counter,
        label: "event",
        values: counters.iter().map(|(c, v)| (c.name(), v)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every published counter appears exactly once, and no family repeats a label.
    #[test]
    fn every_counter_has_one_place() {
        let families = reconstruct_families(&Counters::default());
        let placed = Counter::ALL.iter().filter(|c| place(**c).is_some()).count();
        let published: usize = families.iter().map(|f| f.values.len()).sum();
        assert_eq!(placed, published);
        for f in &families {
            let mut labels: Vec<_> = f.values.iter().map(|(l, _)| *l).collect();
            labels.sort_unstable();
            labels.dedup();
            assert_eq!(labels.len(), f.values.len(), "{}", f.name);
        }
    }
}
