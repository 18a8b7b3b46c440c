//! Plain counts of the replayer's state, for tests, health checks and conservation checks.

use std::collections::BTreeMap;

use crate::reason::DropReason;

/// Counts of one backend. Every submitted request is exactly one of: sent, dropped (by
/// reason), queued, in flight; see [`BackendSnapshot::is_conserved`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendSnapshot {
    /// Requests given to [`Replayer::submit`](crate::Replayer::submit) for this backend.
    pub submitted: u64,
    /// Requests written and answered (response read to its end).
    pub sent: u64,
    /// Dropped requests by reason (reasons with a zero count are left out).
    pub dropped: BTreeMap<DropReason, u64>,
    /// Final responses by status class (`"2xx"`...; zero counts left out).
    pub responses: BTreeMap<&'static str, u64>,
    /// Requests queued now.
    pub queued: usize,
    /// Requests being replayed now.
    pub in_flight: usize,
    /// Open connections now.
    pub connections: usize,
}

impl BackendSnapshot {
    /// Requests dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }

    /// Requests dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Whether nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.queued == 0 && self.in_flight == 0
    }

    /// Whether `submitted == sent + Σ dropped + queued + in flight`. Counters are read one by
    /// one, so this is exact only while no request is moving (e.g. once [`Self::is_idle`]).
    pub fn is_conserved(&self) -> bool {
        self.submitted
            == self.sent + self.dropped_total() + self.queued as u64 + self.in_flight as u64
    }
}

/// Counts of all backends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplaySnapshot {
    /// Per backend, by its label (`namespace/name:port`).
    pub backends: BTreeMap<String, BackendSnapshot>,
    /// Requests submitted to a backend that was not configured (dropped as
    /// `unknown_backend`).
    pub unknown_backend: u64,
    /// Bytes queued over all backends.
    pub queue_bytes: usize,
}

impl ReplaySnapshot {
    /// The counts of `backend` (by label), or all zero if unknown.
    pub fn backend(&self, backend: &str) -> BackendSnapshot {
        self.backends.get(backend).cloned().unwrap_or_default()
    }
}
