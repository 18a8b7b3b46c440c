//! Health: readiness (the plan applied and capture attached) and liveness (every loop that
//! must keep running has made progress recently).

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// A loop that has not beaten for this long is stalled and the agent is not live.
pub const STALL_AFTER: Duration = Duration::from_secs(30);

/// Each loop's name and the time of its last beat (ms since the agent started).
type Loops = Arc<Mutex<Vec<(&'static str, Arc<AtomicU64>)>>>;

/// Readiness and the loops' heartbeats.
#[derive(Clone, Debug)]
pub struct Health {
    ready: Arc<AtomicBool>,
    start: Instant,
    loops: Loops,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            ready: Arc::default(),
            start: Instant::now(),
            loops: Arc::default(),
        }
    }
}

/// One loop's heartbeat; call [`Heartbeat::beat`] on every turn of the loop.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Heartbeat {
    /// The loop made progress now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }
}

impl Health {
    /// Mark ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Whether ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// A heartbeat for the loop `name`, which counts as beating now.
    pub fn heartbeat(&self, name: &'static str) -> Heartbeat {
        let beat = Heartbeat {
            start: self.start,
            last_ms: Arc::default(),
        };
        beat.beat();
        if let Ok(mut loops) = self.loops.lock() {
            loops.push((name, beat.last_ms.clone()));
        }
        beat
    }

    /// The loops that have not beaten within `stall` (empty: live).
    pub fn stalled(&self, stall: Duration) -> Vec<&'static str> {
        let now = self.start.elapsed().as_millis();
        let Ok(loops) = self.loops.lock() else {
            return vec!["health"];
        };
        loops
            .iter()
            .filter(|(_, last)| {
                now.saturating_sub(u128::from(last.load(Ordering::Relaxed))) > stall.as_millis()
            })
            .map(|(name, _)| *name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_that_stops_beating_is_stalled() {
        let health = Health::default();
        let capture = health.heartbeat("capture");
        let control = health.heartbeat("control");
        assert!(health.stalled(Duration::from_millis(50)).is_empty());
        std::thread::sleep(Duration::from_millis(120));
        control.beat();
        assert_eq!(health.stalled(Duration::from_millis(50)), ["capture"]);
        capture.beat();
        assert!(health.stalled(Duration::from_millis(50)).is_empty());
    }
}
