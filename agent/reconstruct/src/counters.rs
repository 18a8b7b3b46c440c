//! Outcome and drop counters of the pipeline, with stable snake_case names for metric labels.

shadowtap_counters::counter_set! {
    /// One counter of the reconstructor.
    Counter, Counters;
    /// A request started: its first byte was seen in sync, or resync accepted its head.
    RequestsStarted => "requests_started",
    /// A complete request was emitted.
    RequestsEmitted => "requests_emitted",
    /// An `Upgrade: h2c` request the server accepted: emitted as HTTP/2 stream 1 (an
    /// [`crate::H2FlowRequest`]) instead of as an HTTP/1.1 request.
    RequestsUpgradedH2 => "requests_upgraded_h2",
    /// Dropped: a gap in the stream cut the request.
    DroppedGap => "dropped_gap",
    /// Dropped: the flow ended or was evicted before the request was complete.
    DroppedIncomplete => "dropped_incomplete",
    /// Dropped: the head exceeded `max_header_bytes`.
    DroppedHeaderTooLarge => "dropped_header_too_large",
    /// Dropped: more than `max_headers` header fields.
    DroppedTooManyHeaders => "dropped_too_many_headers",
    /// Dropped: the body exceeded `max_body_bytes`.
    DroppedBodyTooLarge => "dropped_body_too_large",
    /// Dropped: the global in-flight budget had no room for the request.
    DroppedBodyBudget => "dropped_body_budget",
    /// Dropped: the head does not parse, or its target is invalid.
    DroppedInvalidRequest => "dropped_invalid_request",
    /// Dropped: the method is not one of the nine of RFC 9110/5789.
    DroppedUnknownMethod => "dropped_unknown_method",
    /// Dropped: a line of the head ends in LF without CR.
    DroppedBareLf => "dropped_bare_lf",
    /// Dropped: obsolete line folding in a header field.
    DroppedObsFold => "dropped_obs_fold",
    /// Dropped: both Content-Length and Transfer-Encoding.
    DroppedClAndTe => "dropped_cl_and_te",
    /// Dropped: several differing Content-Length values.
    DroppedConflictingContentLength => "dropped_conflicting_content_length",
    /// Dropped: a Content-Length that is not a decimal number or overflows.
    DroppedInvalidContentLength => "dropped_invalid_content_length",
    /// Dropped: Transfer-Encoding whose last coding is not `chunked`, or chunked twice, or on HTTP/1.0.
    DroppedBadTransferEncoding => "dropped_bad_transfer_encoding",
    /// Dropped: invalid chunked framing (bad or overflowing size, missing CRLF, bad trailer).
    DroppedInvalidChunked => "dropped_invalid_chunked",
    /// Dropped: an `Upgrade` request; the flow is no longer decoded.
    DroppedUpgrade => "dropped_upgrade",
    /// Dropped: a `CONNECT` request; the flow is no longer decoded.
    DroppedConnect => "dropped_connect",
    /// Dropped: the HTTP/2 preface where no HTTP/2 connection can start (after HTTP/1
    /// requests, or at a resync point); the flow is no longer decoded.
    DroppedHttp2 => "dropped_http2",
    /// Flows created.
    FlowsCreated => "flows_created",
    /// Flows whose SYN was not seen (they start in resync).
    FlowsMidstream => "flows_midstream",
    /// Flows no longer decoded (after Upgrade, CONNECT or the HTTP/2 preface).
    FlowsNotHttp1 => "flows_not_http1",
    /// Flows handed to HTTP/2 decoding: the client preface at the start of the connection
    /// (prior knowledge), or an `Upgrade: h2c` request (accepted or declined: the HTTP/2
    /// decoder tells, see `shadowtap_h2`).
    FlowsHttp2 => "flows_http2",
    /// Flows that started before capture and carry HTTP/2 frames: without the connection's
    /// HPACK state nothing on them can be decoded, so they are left alone (also counted as
    /// `h2_midstream` among the HTTP/2 counters).
    FlowsH2Midstream => "flows_h2_midstream",
    /// HTTP/2 connections whose decoding was stopped because what they held passed the
    /// flow's share of the in-flight budget (their open streams are dropped).
    FlowsH2OverBudget => "flows_h2_over_budget",
    /// Flows no longer decoded after an invalid request head or body framing: the server
    /// rejects such a request (and closes) or reads its end differently, so nothing after it
    /// can be trusted to be a request the server processed.
    FlowsStoppedInvalid => "flows_stopped_invalid",
    /// Flows whose request ended the connection (`Connection: close`, or HTTP/1.0 without
    /// keep-alive): the bytes after it, which the server does not read, are ignored.
    FlowsClosedByRequest => "flows_closed_by_request",
    /// Flows ended by FIN, once all data before it was delivered.
    EvictedFin => "evicted_fin",
    /// Flows ended by RST.
    EvictedRst => "evicted_rst",
    /// Flows evicted after `idle_ns` without a segment.
    EvictedIdle => "evicted_idle",
    /// Flows evicted because `max_flows` was reached (least recently active first).
    EvictedCap => "evicted_cap",
    /// Flows replaced by a new connection (a SYN with another ISN on the same 4-tuple).
    EvictedReused => "evicted_reused",
    /// Flows ended by `flush`.
    EvictedFlush => "evicted_flush",
    /// Segments pushed.
    SegmentsSeen => "segments_seen",
    /// Capture records rejected as malformed.
    SegmentsMalformed => "segments_malformed",
    /// FIN/RST/empty segments for no live flow, ignored.
    SegmentsStray => "segments_stray",
    /// Segments that arrived ahead of a hole and were buffered.
    SegmentsOutOfOrder => "segments_out_of_order",
    /// Segments whose bytes had all been seen already (retransmissions).
    SegmentsDuplicate => "segments_duplicate",
    /// Segments of a flow recently ended by FIN or RST (late retransmissions), ignored.
    SegmentsAfterClose => "segments_after_close",
    /// Segments received by a flow after it stopped being decoded.
    SegmentsIgnored => "segments_ignored",
    /// Stream bytes delivered in order to the decoder.
    BytesDelivered => "bytes_delivered",
    /// Bytes received more than once (retransmission or overlap), deduplicated.
    BytesDuplicate => "bytes_duplicate",
    /// Overlapping segments whose bytes differed from bytes held for the same range; the
    /// disputed range becomes a gap ([`Counter::GapConflict`]).
    OverlapConflicts => "overlap_conflicts",
    /// Segments starting further ahead of the next expected byte than any receive window
    /// allows (`Config::max_window_bytes`), ignored.
    SegmentsOutOfWindow => "segments_out_of_window",
    /// Gaps: stream ranges given up as missing.
    Gaps => "gaps",
    /// Gaps declared because the hole outlived `gap_ns`.
    GapTimeout => "gap_timeout",
    /// Gaps forced by the per-flow reassembly cap.
    GapFlowCap => "gap_flow_cap",
    /// Gaps forced by the global reassembly budget.
    GapBudget => "gap_budget",
    /// Gaps after a truncated capture record.
    GapTruncated => "gap_truncated",
    /// Gaps left when a flow ended with a hole.
    GapClosed => "gap_closed",
    /// Gaps over byte ranges two segments disagreed on: no request containing them is
    /// emitted.
    GapConflict => "gap_conflict",
    /// Gaps declared when data arrived inside a range an earlier gap timeout had skipped: the
    /// flow goes back to it (the skip was wrong, e.g. it jumped to a stray far segment).
    GapReanchor => "gap_reanchor",
    /// Bytes known to be missing in gaps.
    BytesLost => "bytes_lost",
    /// Times a flow entered resync (mid-stream start, gap, or undecodable bytes).
    Resyncs => "resyncs",
    /// Resync points accepted.
    ResyncAccepted => "resync_accepted",
    /// Bytes discarded while looking for a resync point.
    ResyncSkippedBytes => "resync_skipped_bytes",
    /// Bytes discarded after a request was dropped (skipped body) or on flows not decoded.
    BytesSkipped => "bytes_skipped",
    /// Packets read from a capture file.
    PcapPackets => "pcap_packets",
    /// Packets that are not TCP over IPv4/IPv6 (or are IP fragments).
    PcapNotTcp => "pcap_not_tcp",
    /// Packets that could not be parsed (truncated or malformed headers, unknown link type).
    PcapMalformed => "pcap_malformed",
    /// Server-to-client packets, not fed to reassembly.
    PcapServerToClient => "pcap_server_to_client",
    /// Packets of connections whose direction was not known yet, not fed to reassembly.
    PcapUndirected => "pcap_undirected",
}

/// The drop reasons of requests: every started request that is not emitted is counted in
/// exactly one of these.
pub const REQUEST_DROPS: &[Counter] = &[
    Counter::DroppedGap,
    Counter::DroppedIncomplete,
    Counter::DroppedHeaderTooLarge,
    Counter::DroppedTooManyHeaders,
    Counter::DroppedBodyTooLarge,
    Counter::DroppedBodyBudget,
    Counter::DroppedInvalidRequest,
    Counter::DroppedUnknownMethod,
    Counter::DroppedBareLf,
    Counter::DroppedObsFold,
    Counter::DroppedClAndTe,
    Counter::DroppedConflictingContentLength,
    Counter::DroppedInvalidContentLength,
    Counter::DroppedBadTransferEncoding,
    Counter::DroppedInvalidChunked,
    Counter::DroppedUpgrade,
    Counter::DroppedConnect,
    Counter::DroppedHttp2,
];

impl Counters {
    /// Sum of the request drop reasons ([`REQUEST_DROPS`]).
    pub fn requests_dropped(&self) -> u64 {
        REQUEST_DROPS.iter().map(|c| self.get(*c)).sum()
    }

    /// Whether `requests_started == requests_emitted + requests_upgraded_h2 +
    /// requests_dropped + in_progress`,
    /// with `in_progress` from [`crate::Reconstructor::requests_in_progress`] (0 after
    /// `flush`).
    pub fn check_conservation(&self, in_progress: u64) -> bool {
        self.get(Counter::RequestsStarted)
            == self.get(Counter::RequestsEmitted)
                + self.get(Counter::RequestsUpgradedH2)
                + self.requests_dropped()
                + in_progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        assert_eq!(Counter::check_names(), Ok(()));
    }

    #[test]
    fn conservation_arithmetic() {
        let mut c = Counters::default();
        c.add(Counter::RequestsStarted, 5);
        c.add(Counter::RequestsEmitted, 3);
        c.inc(Counter::DroppedGap);
        assert!(c.check_conservation(1));
        assert!(!c.check_conservation(0));
    }
}
