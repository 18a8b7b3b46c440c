//! Counters of the comparison layer, with stable snake_case names for metric labels.

shadowtap_counters::counter_set! {
    /// One counter of the comparison layer.
    Counter, Counters;
    /// Mirrored requests registered for comparison (each ends in exactly one outcome).
    PairsMirrored => "pairs_mirrored",
    /// Outcome: the responses agree on everything the route compares.
    OutcomeSame => "same",
    /// Outcome: the status classes (1xx–5xx) differ.
    OutcomeStatusClassDiffers => "status_class_differs",
    /// Outcome: the statuses differ within one class.
    OutcomeStatusDiffers => "status_differs",
    /// Outcome: a compared header field differs.
    OutcomeHeadersDiffer => "headers_differ",
    /// Outcome: the bodies' lengths or hashes differ.
    OutcomeBodyDiffers => "body_differs",
    /// Outcome: the mirror gave no response to compare.
    OutcomeMirrorFailed => "mirror_failed",
    /// Outcome: the primary's response was not seen whole (see the `unseen_*` counters).
    OutcomePrimaryUnseen => "primary_unseen",
    /// Outcome: a side had not answered when the pair timed out.
    OutcomePairTimeout => "pair_timeout",
    /// Outcome: dropped, oldest first, to keep pending pairs within their byte budget.
    OutcomeOverBudget => "over_budget",
    /// A primary result for a pair no longer pending (it timed out or was dropped before).
    LatePrimary => "late_primary",
    /// A mirror result for a pair no longer pending.
    LateMirror => "late_mirror",
    /// Body-mode pairs compared on length alone: a side's body was not hashed (bytes not
    /// copied by the kernel, or a mirror summary without a fingerprint).
    BodyNotHashed => "body_not_hashed",
    /// Divergent pairs recorded in the log.
    DivergentLogged => "divergent_logged",
    /// Divergent pairs evicted from the full log (oldest first).
    DivergentEvicted => "divergent_evicted",
    /// Primary responses read to their end (mirrored requests' or not).
    ResponsesFramed => "responses_framed",
    /// Responses to requests that were not mirrored, read and dropped.
    ResponsesUnmirrored => "responses_unmirrored",
    /// Primary responses summarised for a mirrored request.
    ResponsesSummarised => "responses_summarised",
    /// Unseen: a gap in the response stream (the response being read and every later one).
    UnseenGap => "unseen_gap",
    /// Unseen: the response stream broke the HTTP/1 grammar (the connection stops).
    UnseenBadFraming => "unseen_bad_framing",
    /// Unseen: the connection ended in the middle of the response.
    UnseenTruncated => "unseen_truncated",
    /// Unseen: the connection ended before the response started.
    UnseenNoResponse => "unseen_no_response",
    /// Unseen: an earlier response ended the connection (`Connection: close`, HTTP/1.0,
    /// close-delimited body) or HTTP/1 (`101`, a tunnel).
    UnseenConnectionOver => "unseen_connection_over",
    /// Unseen: the request stream lost sync, so responses can no longer be matched by order.
    UnseenRequestsLost => "unseen_requests_lost",
    /// Unseen: bytes the kernel did not copy fell on a head or a chunked body.
    UnseenElided => "unseen_elided",
    /// Unseen: more requests awaited a response than a connection may queue.
    UnseenQueueFull => "unseen_queue_full",
    /// Unseen: response bytes came for no known request, more than a head's worth.
    UnseenOrphanBytes => "unseen_orphan_bytes",
    /// Unseen (HTTP/2): the primary reset the stream (RST_STREAM), or did not process it
    /// (above a GOAWAY's last stream id).
    UnseenReset => "unseen_reset",
    /// Unseen: the connection's pairing was stopped to keep what all pairings hold within
    /// their node-wide byte budget (the connection holding the most goes first).
    UnseenOverBudget => "unseen_over_budget",
    /// Connections whose response stream stopped being framed (any `unseen_*` cause).
    ConnectionsStopped => "connections_stopped",
    /// Response bytes ignored on stopped connections.
    BytesIgnored => "bytes_ignored",
}

/// The counters that end a mirrored pair: `pairs_mirrored` equals their sum once nothing
/// is pending.
pub const PAIR_OUTCOMES: &[Counter] = &[
    Counter::OutcomeSame,
    Counter::OutcomeStatusClassDiffers,
    Counter::OutcomeStatusDiffers,
    Counter::OutcomeHeadersDiffer,
    Counter::OutcomeBodyDiffers,
    Counter::OutcomeMirrorFailed,
    Counter::OutcomePrimaryUnseen,
    Counter::OutcomePairTimeout,
    Counter::OutcomeOverBudget,
];

/// The reasons a mirrored request's primary response is unseen: each unseen result is
/// counted in exactly one.
pub const UNSEEN_REASONS: &[Counter] = &[
    Counter::UnseenGap,
    Counter::UnseenBadFraming,
    Counter::UnseenTruncated,
    Counter::UnseenNoResponse,
    Counter::UnseenConnectionOver,
    Counter::UnseenRequestsLost,
    Counter::UnseenElided,
    Counter::UnseenQueueFull,
    Counter::UnseenOrphanBytes,
    Counter::UnseenReset,
    Counter::UnseenOverBudget,
];

impl Counters {
    /// The sum of `set`.
    pub fn sum(&self, set: &[Counter]) -> u64 {
        set.iter().map(|c| self.get(*c)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        assert_eq!(Counter::check_names(), Ok(()));
    }
}
