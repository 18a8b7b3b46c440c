//! Limits, memory budgets and timeouts of the reconstructor.

/// Per-request limits of the HTTP/1.x decoder. A request over a limit is counted and skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line + header fields + final CRLF), in bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Largest body as received (raw bytes, chunked framing included).
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Global and per-flow memory budgets. Over budget the reconstructor drops and counts, it never
/// grows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budgets {
    /// Out-of-order bytes buffered by reassembly, all flows together.
    pub reassembly_bytes: usize,
    /// Out-of-order bytes buffered by one flow.
    pub flow_reassembly_bytes: usize,
    /// Out-of-order segments buffered by one flow (bounds bookkeeping for tiny segments).
    pub flow_reassembly_segments: usize,
    /// Bytes of requests in progress (heads and bodies not yet complete), all flows together,
    /// charged as the memory they keep alive.
    pub inflight_bytes: usize,
    /// Most in-flight bytes one flow may hold.
    pub flow_inflight_bytes: usize,
    /// A flow holding at most this much may use the whole in-flight budget; beyond it, a flow
    /// may not use the last quarter of it, which stays for such small requests. So a few
    /// large uploads cannot starve every other flow's multi-segment requests.
    pub flow_inflight_small_bytes: usize,
}

impl Budgets {
    /// The in-flight bytes a flow may hold when the other flows hold `others`.
    pub fn flow_inflight_share(&self, others: usize) -> usize {
        let all = self.inflight_bytes.saturating_sub(others);
        let shared = (self.inflight_bytes - self.inflight_bytes / 4).saturating_sub(others);
        self.flow_inflight_bytes
            .min(shared.max(self.flow_inflight_small_bytes.min(all)))
    }
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            reassembly_bytes: 64 * 1024 * 1024,
            flow_reassembly_bytes: 4 * 1024 * 1024,
            flow_reassembly_segments: 1024,
            inflight_bytes: 256 * 1024 * 1024,
            // A largest body (16 MiB) with its head, in a buffer grown by doubling.
            flow_inflight_bytes: 40 * 1024 * 1024,
            flow_inflight_small_bytes: 256 * 1024,
        }
    }
}

/// Timeouts, in nanoseconds of capture time (segment timestamps), never wall-clock time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long a hole in a flow may wait for its missing bytes before it becomes a gap.
    pub gap_ns: u64,
    /// A flow with no segment for this long is evicted.
    pub idle_ns: u64,
    /// Least capture time between two sweeps of all flows triggered by `push`.
    pub sweep_ns: u64,
    /// How long a flow ended by FIN or RST is remembered: its late segments (retransmissions)
    /// are ignored instead of starting a new mid-stream flow. A SYN always starts a new flow.
    pub linger_ns: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            gap_ns: 1_000_000_000,
            idle_ns: 300_000_000_000,
            sweep_ns: 1_000_000_000,
            linger_ns: 5_000_000_000,
        }
    }
}

/// Everything the reconstructor can be tuned with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Per-request limits.
    pub limits: Limits,
    /// Memory budgets.
    pub budgets: Budgets,
    /// Capture-time timeouts.
    pub timeouts: Timeouts,
    /// Most live flows; over it the least recently active flow is evicted.
    pub max_flows: usize,
    /// Largest receive window a server could have advertised: a segment starting further
    /// than this ahead of the next expected byte cannot have been accepted by the receiver,
    /// and is ignored (`segments_out_of_window`).
    pub max_window_bytes: u64,
    /// Limits of the HTTP/2 decoder of each h2c flow. What it holds is also charged to the
    /// in-flight budget, like HTTP/1 requests in progress.
    pub h2_limits: shadowtap_h2::Limits,
}

impl Default for Config {
    /// The defaults of each part, `max_flows` = 65 536 and `max_window_bytes` = 16 MiB
    /// (Linux's default largest receive buffer is 6 MiB).
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            budgets: Budgets::default(),
            timeouts: Timeouts::default(),
            max_flows: 65_536,
            max_window_bytes: 16 << 20,
            h2_limits: shadowtap_h2::Limits::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_inflight_share_keeps_a_quarter_for_small_requests() {
        let b = Budgets {
            inflight_bytes: 4_000,
            flow_inflight_bytes: 2_500,
            flow_inflight_small_bytes: 100,
            ..Budgets::default()
        };
        assert_eq!(b.flow_inflight_share(0), 2_500, "the per-flow cap");
        assert_eq!(b.flow_inflight_share(1_000), 2_000, "three quarters shared");
        assert_eq!(
            b.flow_inflight_share(3_000),
            100,
            "the reserve, small requests only"
        );
        assert_eq!(
            b.flow_inflight_share(3_950),
            50,
            "never beyond the whole budget"
        );
        assert_eq!(b.flow_inflight_share(5_000), 0);
    }
}
