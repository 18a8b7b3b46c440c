//! Outcome and drop counters of the HTTP/2 decoder, with stable snake_case names for metric
//! labels (the same shape as shadowtap-reconstruct's, so both can join the agent's metrics).

shadowtap_counters::counter_set! {
    /// One counter of the HTTP/2 decoder.
    Counter, Counters;
    /// Connections whose client preface was seen (prior knowledge or after an h2c upgrade).
    H2Connections => "h2_connections",
    /// Connections whose first bytes are not the client preface: started before capture, so
    /// the HPACK state is unknown and nothing on them can be decoded.
    H2Midstream => "h2_midstream",
    /// Connections that sent `Upgrade: h2c` but whose next bytes are not the client preface:
    /// the server declined the upgrade and the connection stays HTTP/1.1.
    H2cUpgradeDeclined => "h2c_upgrade_declined",
    /// Streams opened by a request header block.
    StreamsStarted => "streams_started",
    /// Complete requests emitted.
    RequestsEmitted => "requests_emitted",
    /// Dropped: a gap in the stream cut the request's DATA.
    DroppedGap => "dropped_gap",
    /// Dropped: the client reset the stream (RST_STREAM).
    DroppedReset => "dropped_reset",
    /// Dropped: the connection ended (or was finished) before the request was complete.
    DroppedIncomplete => "dropped_incomplete",
    /// Dropped: decoding of the whole connection stopped while the request was open.
    DroppedConnectionStopped => "dropped_connection_stopped",
    /// Dropped: the decoded header list (or trailer list) exceeded `max_header_list_bytes`.
    DroppedHeaderListTooLarge => "dropped_header_list_too_large",
    /// Dropped: more than `max_open_streams` requests were open at once.
    DroppedTooManyStreams => "dropped_too_many_streams",
    /// Dropped: the body exceeded `max_body_bytes`.
    DroppedBodyTooLarge => "dropped_body_too_large",
    /// Dropped: the connection already held `max_connection_bytes`.
    DroppedConnectionBudget => "dropped_connection_budget",
    /// Dropped: a malformed request (RFC 9113 §8.1.1): pseudo-header rules, invalid field
    /// names or values, connection-specific fields, a Content-Length the DATA contradicts,
    /// trailers without END_STREAM. Servers reject these, so they are never mirrored.
    DroppedMalformed => "dropped_malformed",
    /// Connections stopped: bytes were lost inside a frame header (framing unknown).
    StoppedGapInFraming => "stopped_gap_in_framing",
    /// Connections stopped: bytes were lost inside a header block (HPACK state unknown).
    StoppedGapInHeaderBlock => "stopped_gap_in_header_block",
    /// Connections stopped: a header block does not decode (an HPACK COMPRESSION_ERROR).
    StoppedHpackError => "stopped_hpack_error",
    /// Connections stopped: a dynamic table size update beyond `max_table_size`.
    StoppedTableSizeOverLimit => "stopped_table_size_over_limit",
    /// Connections stopped: an encoded header block beyond `max_header_block_bytes`, which
    /// cannot be held to keep the HPACK state.
    StoppedHeaderBlockTooLarge => "stopped_header_block_too_large",
    /// Connections stopped: a connection error by RFC 9113 (bad frame size, CONTINUATION
    /// out of sequence, stream id rules, PUSH_PROMISE from a client, ...). The server closes
    /// such a connection, so nothing after it is decoded.
    StoppedProtocolError => "stopped_protocol_error",
    /// Frames decoded (every type).
    Frames => "frames",
    /// Frames of types this decoder ignores (PRIORITY, PING, WINDOW_UPDATE, GOAWAY, SETTINGS,
    /// unknown types).
    FramesIgnored => "frames_ignored",
    /// Frames for a stream that is closed or no longer tracked (ignored).
    FramesOnClosedStream => "frames_on_closed_stream",
    /// Header blocks HPACK-decoded.
    HeaderBlocks => "header_blocks",
    /// Dynamic table size updates applied.
    TableSizeUpdates => "table_size_updates",
    /// Gaps reported by the caller.
    Gaps => "gaps",
    /// Bytes reported lost by the caller.
    BytesLost => "bytes_lost",
    /// Bytes pushed.
    BytesIn => "bytes_in",
    /// Bytes not decoded or discarded: after a stop, padding, ignored payloads, and the DATA
    /// of dropped streams (what they had received included).
    BytesSkipped => "bytes_skipped",
}

/// The drop reasons of streams: every started stream that is not emitted is counted in
/// exactly one of these.
pub const STREAM_DROPS: &[Counter] = &[
    Counter::DroppedGap,
    Counter::DroppedReset,
    Counter::DroppedIncomplete,
    Counter::DroppedConnectionStopped,
    Counter::DroppedHeaderListTooLarge,
    Counter::DroppedTooManyStreams,
    Counter::DroppedBodyTooLarge,
    Counter::DroppedConnectionBudget,
    Counter::DroppedMalformed,
];

/// The reasons a connection stops being decoded; at most one per connection.
pub const CONNECTION_STOPS: &[Counter] = &[
    Counter::H2Midstream,
    Counter::H2cUpgradeDeclined,
    Counter::StoppedGapInFraming,
    Counter::StoppedGapInHeaderBlock,
    Counter::StoppedHpackError,
    Counter::StoppedTableSizeOverLimit,
    Counter::StoppedHeaderBlockTooLarge,
    Counter::StoppedProtocolError,
];

impl Counters {
    /// Sum of the stream drop reasons ([`STREAM_DROPS`]).
    pub fn streams_dropped(&self) -> u64 {
        STREAM_DROPS.iter().map(|c| self.get(*c)).sum()
    }

    /// Whether `streams_started == requests_emitted + streams_dropped + open`, with `open`
    /// from [`crate::H2Decoder::open_streams`] (0 after `finish`).
    pub fn check_conservation(&self, open: u64) -> bool {
        self.get(Counter::StreamsStarted)
            == self.get(Counter::RequestsEmitted) + self.streams_dropped() + open
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
        c.add(Counter::StreamsStarted, 5);
        c.add(Counter::RequestsEmitted, 3);
        c.inc(Counter::DroppedReset);
        assert!(c.check_conservation(1));
        assert!(!c.check_conservation(0));
    }
}
