//! Delivery outcomes counted for whoever submitted a request: the agent gives each route
//! rule's mirror its own [`Tally`], so `sent` and every drop after queueing are known per
//! route and not only per backend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::CLASSES;
use crate::reason::DropReason;

#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    classes: [AtomicU64; CLASSES.len()],
    dropped: [AtomicU64; DropReason::ALL.len()],
}

/// Shared outcome counters of the requests submitted with it: each such request, once
/// queued, is counted exactly once here, as sent or dropped with its reason. Refusals at
/// submission are the submitter's to count (they are returned by
/// [`Replayer::submit_tallied`](crate::Replayer::submit_tallied)). Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    counts: Arc<Counts>,
    latency: Option<Histogram>,
}

impl Tally {
    /// New counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// New counters at zero that also observe each sent request's latency (seconds) on
    /// `latency` (see [`latency_histogram`](crate::latency_histogram) for the buckets the
    /// per-backend histogram uses).
    pub fn with_latency(latency: Histogram) -> Self {
        Self {
            counts: Arc::default(),
            latency: Some(latency),
        }
    }

    pub(crate) fn sent(&self, status: u16, latency: Duration) {
        self.counts.sent.fetch_add(1, Ordering::Relaxed);
        self.counts.classes[class_index(status)].fetch_add(1, Ordering::Relaxed);
        if let Some(h) = &self.latency {
            h.observe(latency.as_secs_f64());
        }
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        self.counts.dropped[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests sent and answered.
    pub fn sent_count(&self) -> u64 {
        self.counts.sent.load(Ordering::Relaxed)
    }

    /// Final responses of the sent requests by status class (`1xx`..`5xx`; classes never
    /// seen are left out).
    pub fn response_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CLASSES
            .iter()
            .zip(&self.counts.classes)
            .filter_map(|(c, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then_some((*c, n))
            })
    }

    /// Requests dropped after queueing, by reason (reasons never seen are left out).
    pub fn dropped_counts(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().filter_map(|r| {
            let n = self.counts.dropped[r.index()].load(Ordering::Relaxed);
            (n > 0).then_some((*r, n))
        })
    }
}

/// Index of `status`'s class in [`CLASSES`] (out-of-range codes clamp to 1xx / 5xx).
pub(crate) fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// Counts `reason` on the tally a request was submitted with, if any.
pub(crate) fn drop_on(tally: Option<&Tally>, reason: DropReason) {
    if let Some(t) = tally {
        t.dropped(reason);
    }
}
