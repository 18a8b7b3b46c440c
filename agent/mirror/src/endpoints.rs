//! The endpoints of one backend: round-robin choice and back-off after connect failures.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Debug)]
struct Endpoint {
    addr: SocketAddr,
    down_until: Option<Instant>,
    backoff: Duration,
}

/// What [`Endpoints::pick`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Use this endpoint.
    Up(SocketAddr),
    /// Every endpoint is backing off.
    AllDown,
    /// There are no endpoints.
    Empty,
}

/// The endpoints of a backend.
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoints {
    list: Vec<Endpoint>,
    cursor: usize,
}

impl Endpoints {
    /// Replaces the endpoint list, keeping the back-off state of endpoints that remain.
    pub fn set(&mut self, addrs: Vec<SocketAddr>) {
        let mut list: Vec<Endpoint> = Vec::with_capacity(addrs.len());
        for addr in addrs {
            if list.iter().any(|e| e.addr == addr) {
                continue;
            }
            let kept = self.list.iter().find(|e| e.addr == addr).cloned();
            list.push(kept.unwrap_or(Endpoint {
                addr,
                down_until: None,
                backoff: Duration::ZERO,
            }));
        }
        self.list = list;
        if self.cursor >= self.list.len() {
            self.cursor = 0;
        }
    }

    /// Whether `addr` is one of the endpoints.
    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.list.iter().any(|e| e.addr == addr)
    }

    /// Whether a request could be sent now, without moving the round-robin cursor.
    pub fn available(&self, now: Instant) -> Pick {
        if self.list.is_empty() {
            return Pick::Empty;
        }
        match self.list.iter().find(|e| is_up(e, now)) {
            Some(e) => Pick::Up(e.addr),
            None => Pick::AllDown,
        }
    }

    /// The next endpoint in round-robin order that is not backing off.
    pub fn pick(&mut self, now: Instant) -> Pick {
        let n = self.list.len();
        if n == 0 {
            return Pick::Empty;
        }
        for step in 0..n {
            let i = (self.cursor + step) % n;
            if is_up(&self.list[i], now) {
                self.cursor = (i + 1) % n;
                return Pick::Up(self.list[i].addr);
            }
        }
        Pick::AllDown
    }

    /// Records a connect failure: the endpoint backs off for `initial`, doubling per
    /// consecutive failure up to `max`. Failures during a back-off (connects that started
    /// before it) do not extend it. Returns the back-off now in force.
    pub fn failed(
        &mut self,
        addr: SocketAddr,
        now: Instant,
        initial: Duration,
        max: Duration,
    ) -> Duration {
        let Some(e) = self.list.iter_mut().find(|e| e.addr == addr) else {
            return Duration::ZERO;
        };
        if e.down_until.is_some_and(|t| t > now) {
            return e.backoff;
        }
        e.backoff = if e.backoff.is_zero() {
            initial
        } else {
            (e.backoff * 2).min(max.max(initial))
        };
        e.down_until = Some(now + e.backoff);
        e.backoff
    }

    /// Records a successful connect: the back-off is reset.
    pub fn succeeded(&mut self, addr: SocketAddr) {
        if let Some(e) = self.list.iter_mut().find(|e| e.addr == addr) {
            e.down_until = None;
            e.backoff = Duration::ZERO;
        }
    }
}

fn is_up(e: &Endpoint, now: Instant) -> bool {
    e.down_until.is_none_or(|t| t <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn round_robin_skips_down_endpoints() {
        let mut e = Endpoints::default();
        assert_eq!(e.pick(Instant::now()), Pick::Empty);
        e.set(vec![addr(1), addr(2), addr(2), addr(3)]);
        let now = Instant::now();
        let picks: Vec<_> = (0..6).map(|_| e.pick(now)).collect();
        assert_eq!(
            picks,
            [1, 2, 3, 1, 2, 3].map(|p| Pick::Up(addr(p))).to_vec()
        );
        let s = Duration::from_secs(1);
        e.failed(addr(2), now, s, 30 * s);
        let picks: Vec<_> = (0..4).map(|_| e.pick(now)).collect();
        assert_eq!(picks, [1, 3, 1, 3].map(|p| Pick::Up(addr(p))).to_vec());
        e.failed(addr(1), now, s, 30 * s);
        e.failed(addr(3), now, s, 30 * s);
        assert_eq!(e.pick(now), Pick::AllDown);
        assert_eq!(e.available(now), Pick::AllDown);
        assert_eq!(e.available(now + s), Pick::Up(addr(1)));
    }

    #[test]
    fn backoff_doubles_to_max_and_resets() {
        let mut e = Endpoints::default();
        e.set(vec![addr(1)]);
        let s = Duration::from_secs(1);
        let mut now = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..7 {
            let b = e.failed(addr(1), now, s, 30 * s);
            // A second failure during the back-off does not extend it.
            assert_eq!(e.failed(addr(1), now, s, 30 * s), b);
            seen.push(b.as_secs());
            now += b;
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 30, 30]);
        e.succeeded(addr(1));
        assert_eq!(e.failed(addr(1), now, s, 30 * s), s);
        e.set(vec![addr(1), addr(4)]);
        assert_eq!(e.pick(now), Pick::Up(addr(4)));
        assert!(e.contains(addr(1)));
        e.set(vec![addr(4)]);
        assert!(!e.contains(addr(1)));
    }
}
