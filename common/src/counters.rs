//! Indices of the kernel's per-CPU outcome counters.

/// One per-CPU counter of the kernel programs. The discriminant is the index in the
/// counters map.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Every packet the programs ran on. Derived, never counted: the kernel leaves this
    /// slot at zero, and user space reads it as the sum of the per-packet outcomes
    /// ([`packets_seen`]), since every packet ends in exactly one. Not counting it per
    /// packet keeps the map-miss path to one counter write.
    PacketsSeen = 0,
    /// Not IPv4/IPv6 TCP (ARP, UDP, ICMP, fragments, ...).
    NotTcp = 1,
    /// TCP whose destination is not in the endpoint map.
    NotMatched = 2,
    /// One of the agent's own connections (own-flow map).
    OwnFlow = 3,
    /// The flow hash fell outside the endpoint's pre-sample threshold.
    PresampledOut = 4,
    /// Records written to the ring (payload or SYN/FIN/RST events).
    Copied = 5,
    /// Payload bytes written to the ring.
    BytesCopied = 6,
    /// The ring had no room: the record was lost (and counted here).
    RingFull = 7,
    /// Payload longer than the record limit; the record was truncated and flagged.
    Truncated = 8,
    /// Malformed headers (bad IHL, data offset past the end, short packet).
    ParseError = 9,
    /// IPv6 extension-header chains too long to walk; the packet was skipped.
    Ipv6ExtSkipped = 10,
    /// Matched TCP packets with neither payload nor SYN/FIN/RST (pure ACKs): not recorded.
    PureAck = 11,
    /// Response program: packets whose source is a comparing endpoint, copied (or counted
    /// as pure ACKs, own flows, pre-sampled out like requests).
    ResponsesMatched = 12,
    /// Response program: packets whose source is not a comparing endpoint.
    ResponsesNotMatched = 13,
    /// Response segments copied as a prefix (the status and headers modes).
    ResponsesPrefixOnly = 14,
}

/// All counters of one CPU, indexed by [`Counter`]: the single value of the counters map.
pub type CounterBlock = [u64; Counter::COUNT as usize];

impl Counter {
    /// Number of counters (size of the counters map).
    pub const COUNT: u32 = 15;

    /// Every counter, in index order.
    pub const ALL: [Counter; Self::COUNT as usize] = [
        Counter::PacketsSeen,
        Counter::NotTcp,
        Counter::NotMatched,
        Counter::OwnFlow,
        Counter::PresampledOut,
        Counter::Copied,
        Counter::BytesCopied,
        Counter::RingFull,
        Counter::Truncated,
        Counter::ParseError,
        Counter::Ipv6ExtSkipped,
        Counter::PureAck,
        Counter::ResponsesMatched,
        Counter::ResponsesNotMatched,
        Counter::ResponsesPrefixOnly,
    ];

    /// Whether this counter is a per-packet outcome: each run of a kernel program adds one
    /// to exactly one outcome. The others are derived ([`Counter::PacketsSeen`]), measure
    /// copied records (`BytesCopied`, `Truncated`, `ResponsesPrefixOnly`), or mark a
    /// response-program packet that then ends in an outcome of its own
    /// (`ResponsesMatched`).
    pub const fn is_outcome(self) -> bool {
        !matches!(
            self,
            Counter::PacketsSeen
                | Counter::BytesCopied
                | Counter::Truncated
                | Counter::ResponsesMatched
                | Counter::ResponsesPrefixOnly
        )
    }

    /// Stable snake_case name, used as a metric label.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::PacketsSeen => "packets_seen",
            Counter::NotTcp => "not_tcp",
            Counter::NotMatched => "not_matched",
            Counter::OwnFlow => "own_flow",
            Counter::PresampledOut => "presampled_out",
            Counter::Copied => "copied",
            Counter::BytesCopied => "bytes_copied",
            Counter::RingFull => "ring_full",
            Counter::Truncated => "truncated",
            Counter::ParseError => "parse_error",
            Counter::Ipv6ExtSkipped => "ipv6_ext_skipped",
            Counter::PureAck => "pure_ack",
            Counter::ResponsesMatched => "responses_matched",
            Counter::ResponsesNotMatched => "responses_not_matched",
            Counter::ResponsesPrefixOnly => "responses_prefix_only",
        }
    }
}

/// Packets the kernel programs ran on, derived from one CPU's (or a sum of CPUs') block:
/// the sum of the per-packet outcomes ([`Counter::is_outcome`]).
pub fn packets_seen(block: &CounterBlock) -> u64 {
    Counter::ALL
        .iter()
        .filter(|c| c.is_outcome())
        .map(|c| block[*c as usize])
        .fold(0u64, |sum, v| sum.wrapping_add(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_seen_is_the_sum_of_outcomes_only() {
        let mut block: CounterBlock = [0; Counter::COUNT as usize];
        for c in Counter::ALL {
            // Distinct powers of two: the sum says exactly which counters it took.
            block[c as usize] = 1 << (c as u32);
        }
        let expected: u64 = [
            Counter::NotTcp,
            Counter::NotMatched,
            Counter::OwnFlow,
            Counter::PresampledOut,
            Counter::Copied,
            Counter::RingFull,
            Counter::ParseError,
            Counter::Ipv6ExtSkipped,
            Counter::PureAck,
            Counter::ResponsesNotMatched,
        ]
        .iter()
        .map(|c| 1u64 << (*c as u32))
        .sum();
        assert_eq!(packets_seen(&block), expected);
    }

    #[test]
    fn a_miss_is_a_packet_seen() {
        let mut block: CounterBlock = [0; Counter::COUNT as usize];
        block[Counter::NotMatched as usize] = 3;
        block[Counter::ResponsesNotMatched as usize] = 2;
        assert_eq!(packets_seen(&block), 5);
    }

    #[test]
    fn all_is_in_index_order() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as u32, i as u32, "{c:?}");
        }
    }
}
