//! When to bring the store in step after watch events: after a quiet time with no event,
//! or at the latest a maximum wait after the first event of a burst — so a burst is
//! coalesced into one store, and steady churn (an event every few milliseconds) still
//! yields a store every `max_wait`.

use std::time::Duration;

use tokio::time::Instant;

/// A quiet-time debounce with a maximum wait.
#[derive(Clone, Debug)]
pub struct Debounce {
    quiet: Duration,
    max_wait: Duration,
    /// First and last event since the last [`Debounce::fired`].
    pending: Option<(Instant, Instant)>,
}

impl Debounce {
    /// Fires `quiet` after the last event, or `max_wait` after the first (the earlier).
    pub fn new(quiet: Duration, max_wait: Duration) -> Self {
        Self {
            quiet,
            max_wait: max_wait.max(quiet),
            pending: None,
        }
    }

    /// An event at `now`.
    pub fn event(&mut self, now: Instant) {
        let first = self.pending.map_or(now, |(first, _)| first);
        self.pending = Some((first, now));
    }

    /// When to fire (none while no event is pending).
    pub fn deadline(&self) -> Option<Instant> {
        self.pending
            .map(|(first, last)| (last + self.quiet).min(first + self.max_wait))
    }

    /// The pending events were handled.
    pub fn fired(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn one_event_fires_after_the_quiet_time() {
        let t0 = Instant::now();
        let mut d = Debounce::new(20 * MS, 50 * MS);
        assert_eq!(d.deadline(), None);
        d.event(t0);
        assert_eq!(d.deadline(), Some(t0 + 20 * MS));
        d.fired();
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn a_burst_is_coalesced_and_steady_churn_waits_at_most_max_wait() {
        let t0 = Instant::now();
        let mut d = Debounce::new(20 * MS, 50 * MS);
        d.event(t0);
        d.event(t0 + 10 * MS);
        assert_eq!(d.deadline(), Some(t0 + 30 * MS), "quiet time from the last");
        d.event(t0 + 25 * MS);
        d.event(t0 + 40 * MS);
        assert_eq!(d.deadline(), Some(t0 + 50 * MS), "max wait from the first");
        d.fired();
        d.event(t0 + 55 * MS);
        assert_eq!(d.deadline(), Some(t0 + 75 * MS), "a new burst starts over");
    }

    #[test]
    fn max_wait_is_never_below_the_quiet_time() {
        let t0 = Instant::now();
        let mut d = Debounce::new(20 * MS, 5 * MS);
        d.event(t0);
        assert_eq!(d.deadline(), Some(t0 + 20 * MS));
    }
}
