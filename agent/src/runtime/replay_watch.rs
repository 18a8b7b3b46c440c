//! Liveness of the mirror client: its workers run per backend and sleep when nothing is
//! queued, so "no beat" cannot mean "stuck" for them. The control loop asks instead, on every
//! turn, whether replay is idle or has finished a request since the last turn; only a
//! replay that holds work and finishes nothing stops beating.

use shadowtap_mirror::ReplaySnapshot;

/// Remembers how many requests had finished at the previous look.
#[derive(Debug, Default)]
pub struct ReplayProgress {
    finished: u64,
}

impl ReplayProgress {
    /// Whether replay is healthy now: nothing waits (queued or in flight), or at least one
    /// request finished (sent or dropped) since the previous call.
    pub fn healthy(&mut self, snap: &ReplaySnapshot) -> bool {
        let finished: u64 = snap
            .backends
            .values()
            .map(|b| b.sent + b.dropped_total())
            .sum();
        let waiting: usize = snap.backends.values().map(|b| b.queued + b.in_flight).sum();
        let progressed = finished != self.finished;
        self.finished = finished;
        waiting == 0 || progressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_mirror::BackendSnapshot;

    fn snap(sent: u64, queued: usize) -> ReplaySnapshot {
        let mut s = ReplaySnapshot::default();
        s.backends.insert(
            "default/foo-v2:8080".into(),
            BackendSnapshot {
                sent,
                queued,
                ..BackendSnapshot::default()
            },
        );
        s
    }

    #[test]
    fn stuck_only_when_work_waits_and_nothing_finishes() {
        let mut p = ReplayProgress::default();
        assert!(p.healthy(&snap(0, 0)), "idle");
        assert!(p.healthy(&snap(5, 3)), "progress while busy");
        assert!(!p.healthy(&snap(5, 3)), "busy and no progress");
        assert!(p.healthy(&snap(5, 0)), "drained");
        assert!(p.healthy(&snap(6, 2)), "moving again");
    }
}
