//! Waiting on conditions with a deadline — never fixed sleeps.

use std::time::{Duration, Instant};

/// Poll `cond` every few milliseconds until it returns `Some`, or panic with `what` after
/// `timeout`.
pub fn until<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
