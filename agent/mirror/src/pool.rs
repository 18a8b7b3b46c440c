//! The connections of one backend: endpoint choice, idle keep-alive connections, and the
//! bound on open connections.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::connection::{Connection, Slot, SlotCounter};
use crate::endpoints::{Endpoints, Pick};

/// What a worker gets for its next request.
#[derive(Debug)]
pub(crate) enum Checkout {
    /// An idle connection to the chosen endpoint.
    Reuse(Connection),
    /// No idle connection: connect to this endpoint, holding this slot.
    Connect(SocketAddr, Slot),
    /// Every endpoint is backing off.
    Down,
    /// The backend has no endpoints.
    Empty,
}

#[derive(Debug, Default)]
struct State {
    endpoints: Endpoints,
    idle: Vec<Connection>,
}

/// Endpoints and connections of one backend. Open connections (in use, idle, or being
/// established) never exceed `max`: a worker needing a new one closes the longest-idle
/// connection first.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<State>,
    slots: Arc<SlotCounter>,
    max: usize,
    idle_timeout: Duration,
}

impl Pool {
    /// An empty pool.
    pub fn new(slots: SlotCounter, max: usize, idle_timeout: Duration) -> Self {
        Pool {
            state: Mutex::new(State::default()),
            slots: Arc::new(slots),
            max,
            idle_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the endpoints; idle connections to removed endpoints are closed.
    pub fn set_endpoints(&self, addrs: Vec<SocketAddr>) {
        let mut st = self.lock();
        st.endpoints.set(addrs);
        let State { endpoints, idle } = &mut *st;
        idle.retain(|c| endpoints.contains(c.remote()));
    }

    /// Whether a request could be sent now.
    pub fn available(&self, now: Instant) -> Pick {
        self.lock().endpoints.available(now)
    }

    /// Chooses the endpoint for the next request (round robin), for HTTP/2 requests (their
    /// connections live in the backend's HTTP/2 pool).
    pub fn pick(&self, now: Instant) -> Pick {
        self.lock().endpoints.pick(now)
    }

    /// A connection slot (for an HTTP/2 connection), released when dropped. Idle HTTP/1
    /// connections are closed first while the backend is at its limit.
    pub fn slot(&self) -> Slot {
        let mut st = self.lock();
        while self.slots.open() >= self.max && !st.idle.is_empty() {
            if let Some(i) = st
                .idle
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.idle_since)
                .map(|(i, _)| i)
            {
                drop(st.idle.remove(i));
            }
        }
        self.slots.take()
    }

    /// Chooses the endpoint for the next request (round robin) and a connection to it.
    pub fn checkout(&self, now: Instant) -> Checkout {
        let mut st = self.lock();
        let addr = match st.endpoints.pick(now) {
            Pick::Up(addr) => addr,
            Pick::AllDown => return Checkout::Down,
            Pick::Empty => return Checkout::Empty,
        };
        // Most recently used first; expired or stale ones are closed on the way.
        while let Some(pos) = st.idle.iter().rposition(|c| c.remote() == addr) {
            let conn = st.idle.remove(pos);
            if now.saturating_duration_since(conn.idle_since) < self.idle_timeout
                && !conn.is_stale()
            {
                return Checkout::Reuse(conn);
            }
        }
        while self.slots.open() >= self.max {
            let oldest = st
                .idle
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.idle_since)
                .map(|(i, _)| i);
            match oldest {
                Some(i) => drop(st.idle.remove(i)),
                None => break,
            }
        }
        Checkout::Connect(addr, self.slots.take())
    }

    /// Returns a connection after a complete exchange, unless its endpoint was removed.
    pub fn checkin(&self, mut conn: Connection, now: Instant) {
        let mut st = self.lock();
        if st.endpoints.contains(conn.remote()) {
            conn.idle_since = now;
            st.idle.push(conn);
        }
    }

    /// Records a failed connect; returns the endpoint's back-off.
    pub fn connect_failed(
        &self,
        addr: SocketAddr,
        now: Instant,
        initial: Duration,
        max: Duration,
    ) -> Duration {
        self.lock().endpoints.failed(addr, now, initial, max)
    }

    /// Records a successful connect.
    pub fn connect_succeeded(&self, addr: SocketAddr) {
        self.lock().endpoints.succeeded(addr);
    }

    /// Closes idle connections unused for the idle timeout.
    pub fn purge(&self, now: Instant) {
        let timeout = self.idle_timeout;
        self.lock()
            .idle
            .retain(|c| now.saturating_duration_since(c.idle_since) < timeout);
    }

    /// Closes every idle connection.
    pub fn clear(&self) {
        self.lock().idle.clear();
    }
}
