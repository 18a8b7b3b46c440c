//! The replay queue: one FIFO lane per backend, a depth limit per lane and one byte budget
//! over all lanes. Overflow drops the oldest queued requests, counted by reason.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::gauge::Gauge;

use crate::job::Job;
use crate::metrics::BackendStats;
use crate::reason::DropReason;
use crate::tally::{drop_on, Tally};

/// A queued request.
#[derive(Debug)]
pub(crate) struct Queued {
    /// The request.
    pub request: Job,
    /// Where its outcome is also counted (the submitter's route), if anywhere.
    pub tally: Option<Tally>,
    seq: u64,
}

#[derive(Debug)]
struct Lane {
    items: VecDeque<Queued>,
    stats: Arc<BackendStats>,
    depth_limit: usize,
}

#[derive(Debug, Default)]
struct State {
    lanes: Vec<Lane>,
    bytes: usize,
    seq: u64,
}

/// What [`Queue::pop_batch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Popped {
    /// Requests moved to the batch.
    pub taken: usize,
    /// Whether requests are left in the lane (for another worker).
    pub more: bool,
}

/// All backends' queues under one lock (critical sections are O(1), eviction O(backends)).
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    budget: usize,
    bytes_gauge: Gauge,
}

impl Queue {
    /// An empty queue with a global byte budget.
    pub fn new(budget: usize, bytes_gauge: Gauge) -> Self {
        Queue {
            state: Mutex::new(State::default()),
            budget,
            bytes_gauge,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a lane; returns its index.
    pub fn add_lane(&self, stats: Arc<BackendStats>, depth_limit: usize) -> usize {
        let mut st = self.lock();
        st.lanes.push(Lane {
            items: VecDeque::new(),
            stats,
            depth_limit,
        });
        st.lanes.len() - 1
    }

    /// Queues `request` on `lane`, dropping the oldest requests as needed. Never blocks.
    /// `tally` counts the request's outcome once it is queued (a refusal is returned).
    pub fn push(&self, lane: usize, request: Job, tally: Option<Tally>) -> Result<(), DropReason> {
        let size = request.len();
        if size > self.budget {
            return Err(DropReason::QueueBudget);
        }
        let mut evicted = Vec::new();
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            if lane >= st.lanes.len() {
                return Err(DropReason::UnknownBackend);
            }
            if st.lanes[lane].items.len() >= st.lanes[lane].depth_limit {
                if let Some(old) = pop_front(st, lane) {
                    st.lanes[lane].stats.dropped(DropReason::QueueFull);
                    drop_on(old.tally.as_ref(), DropReason::QueueFull);
                    evicted.push((lane, DropReason::QueueFull, old));
                }
            }
            while st.bytes + size > self.budget {
                let Some(oldest) = oldest_lane(st) else {
                    break;
                };
                if let Some(old) = pop_front(st, oldest) {
                    st.lanes[oldest].stats.dropped(DropReason::QueueBudget);
                    drop_on(old.tally.as_ref(), DropReason::QueueBudget);
                    evicted.push((oldest, DropReason::QueueBudget, old));
                }
            }
            st.seq += 1;
            let seq = st.seq;
            st.bytes += size;
            let l = &mut st.lanes[lane];
            l.items.push_back(Queued {
                request,
                tally,
                seq,
            });
            l.stats.depth.set(l.items.len() as i64);
            self.bytes_gauge.set(st.bytes as i64);
            for (i, reason, _) in &evicted {
                st.lanes[*i]
                    .stats
                    .log_once(*reason, &"replay queue over its limit");
            }
        }
        drop(evicted);
        Ok(())
    }

    /// Moves the oldest requests of `lane` to `batch` (emptied first) and counts them in
    /// flight: always the oldest one if any, then more of the same protocol while the batch
    /// holds fewer than `max_items`, stays within `max_bytes`, and its last request keeps
    /// the connection open. Returns how many were taken and whether more wait.
    pub fn pop_batch(
        &self,
        lane: usize,
        max_items: usize,
        max_bytes: usize,
        batch: &mut Vec<Queued>,
    ) -> Popped {
        batch.clear();
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut bytes = 0;
        while let Some(next) = st.lanes.get(lane).and_then(|l| l.items.front()) {
            let len = next.request.len();
            let joins = match batch.last() {
                None => true,
                Some(last) => {
                    batch.len() < max_items
                        && last.request.is_h2() == next.request.is_h2()
                        && bytes + len <= max_bytes
                        && !last.request.closes_connection()
                }
            };
            if !joins {
                break;
            }
            let Some(item) = pop_front(st, lane) else {
                break;
            };
            bytes += len;
            batch.push(item);
        }
        let mut more = false;
        if let Some(l) = st.lanes.get(lane) {
            l.stats.in_flight.fetch_add(batch.len(), Ordering::Relaxed);
            more = !l.items.is_empty();
        }
        self.bytes_gauge.set(st.bytes as i64);
        Popped {
            taken: batch.len(),
            more,
        }
    }

    /// Drops every request of `lane` as `reason`; returns how many.
    pub fn drain_lane(&self, lane: usize, reason: DropReason) -> usize {
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut n = 0;
        while let Some(old) = pop_front(st, lane) {
            st.lanes[lane].stats.dropped(reason);
            drop_on(old.tally.as_ref(), reason);
            n += 1;
        }
        self.bytes_gauge.set(st.bytes as i64);
        n
    }

    /// Drops every queued request as `reason`; returns how many.
    pub fn drain_all(&self, reason: DropReason) -> usize {
        let lanes = self.lock().lanes.len();
        (0..lanes).map(|l| self.drain_lane(l, reason)).sum()
    }

    /// Bytes queued.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether no request is queued or in flight on any lane.
    pub fn is_idle(&self) -> bool {
        self.lock()
            .lanes
            .iter()
            .all(|l| l.items.is_empty() && l.stats.in_flight.load(Ordering::Relaxed) == 0)
    }
}

fn pop_front(st: &mut State, lane: usize) -> Option<Queued> {
    let l = st.lanes.get_mut(lane)?;
    let item = l.items.pop_front()?;
    l.stats.depth.set(l.items.len() as i64);
    st.bytes = st.bytes.saturating_sub(item.request.len());
    Some(item)
}

/// The lane whose front request was queued first.
fn oldest_lane(st: &State) -> Option<usize> {
    st.lanes
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.items.front().map(|q| (q.seq, i)))
        .min()
        .map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ReplayMetrics;
    use crate::request::MirrorRequest;
    use bytes::Bytes;

    fn req(body: usize) -> Job {
        Job::Http1(
            MirrorRequest::new(
                Bytes::from_static(b"POST / HTTP/1.1\r\n\r\n"),
                Bytes::from(vec![b'x'; body]),
            )
            .expect("valid"),
        )
    }

    fn h2_req() -> Job {
        use shadowtap_reconstruct::shadowtap_h2::{H2Request, PseudoHeaders};
        let r = H2Request {
            stream_id: 1,
            pseudo: PseudoHeaders {
                method: Bytes::from_static(b"GET"),
                scheme: Some(Bytes::from_static(b"http")),
                authority: Some(Bytes::from_static(b"a")),
                path: Some(Bytes::from_static(b"/")),
                protocol: None,
            },
            headers: Vec::new(),
            body: Bytes::new(),
            trailers: Vec::new(),
        };
        Job::H2(crate::h2_request::H2MirrorRequest::from_decoded(&r).expect("valid"))
    }

    #[test]
    fn batches_never_mix_protocols() {
        let m = ReplayMetrics::new();
        let q = Queue::new(1 << 20, m.queue_bytes());
        let lane = q.add_lane(Arc::new(m.backend("a".into())), 100);
        for job in [req(1), req(1), h2_req(), h2_req(), h2_req(), req(1)] {
            q.push(lane, job, None).expect("queued");
        }
        let mut batch = Vec::new();
        let mut kinds = Vec::new();
        while q.pop_batch(lane, 8, 1 << 16, &mut batch).taken > 0 {
            kinds.push((batch[0].request.is_h2(), batch.len()));
            assert!(batch
                .iter()
                .all(|b| b.request.is_h2() == batch[0].request.is_h2()));
        }
        assert_eq!(kinds, [(false, 2), (true, 3), (false, 1)]);
    }

    #[test]
    fn depth_and_budget_drop_oldest() {
        let m = ReplayMetrics::new();
        let q = Queue::new(1000, m.queue_bytes());
        let a = Arc::new(m.backend("a".into()));
        let b = Arc::new(m.backend("b".into()));
        let la = q.add_lane(a.clone(), 2);
        let lb = q.add_lane(b.clone(), 10);
        let head = req(0).len();
        for _ in 0..3 {
            q.push(la, req(100), None).expect("queued");
        }
        assert_eq!(a.snapshot().dropped(DropReason::QueueFull), 1);
        assert_eq!(q.bytes(), 2 * (head + 100));
        // b's requests push a's (older) ones out of the budget first.
        for _ in 0..5 {
            q.push(lb, req(200 - head), None).expect("queued");
        }
        assert_eq!(a.snapshot().dropped(DropReason::QueueBudget), 2);
        assert_eq!(b.snapshot().dropped(DropReason::QueueBudget), 0);
        assert!(q.bytes() <= 1000);
        assert_eq!(q.push(lb, req(2000), None), Err(DropReason::QueueBudget));
        let mut batch = Vec::new();
        assert_eq!(q.pop_batch(lb, 1, 0, &mut batch).taken, 1);
        assert_eq!(batch[0].request.len(), 200);
        assert_eq!(b.snapshot().in_flight, 1);
        assert_eq!(q.drain_all(DropReason::Shutdown), 4);
        assert_eq!(q.bytes(), 0);
        assert!(!q.is_idle());
    }

    #[test]
    fn batches_stop_at_count_bytes_and_close() {
        let m = ReplayMetrics::new();
        let q = Queue::new(1 << 20, m.queue_bytes());
        let stats = Arc::new(m.backend("a".into()));
        let lane = q.add_lane(stats.clone(), 100);
        let close = || {
            Job::Http1(
                MirrorRequest::new(
                    Bytes::from_static(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
                    Bytes::new(),
                )
                .expect("valid"),
            )
        };
        for _ in 0..5 {
            q.push(lane, req(10), None).expect("queued");
        }
        q.push(lane, close(), None).expect("queued");
        q.push(lane, req(10), None).expect("queued");
        q.push(lane, req(5000), None).expect("queued");
        let one = req(10).len();
        let mut batch = Vec::new();
        // At most 3 requests.
        assert_eq!(q.pop_batch(lane, 3, 1 << 16, &mut batch).taken, 3);
        // At most 1.5 requests' bytes: the first always, then only what fits.
        assert_eq!(q.pop_batch(lane, 8, one + one / 2, &mut batch).taken, 1);
        // The request that closes the connection ends the batch.
        assert_eq!(q.pop_batch(lane, 8, 1 << 16, &mut batch).taken, 2);
        assert!(batch[1].request.closes_connection());
        // A request larger than the byte limit still goes, alone.
        assert_eq!(q.pop_batch(lane, 8, 100, &mut batch).taken, 1);
        assert_eq!(q.pop_batch(lane, 8, 100, &mut batch).taken, 1);
        assert_eq!(batch[0].request.len(), req(5000).len());
        assert_eq!(q.pop_batch(lane, 8, 1 << 16, &mut batch).taken, 0);
        assert_eq!(stats.snapshot().in_flight, 8);
        assert_eq!(q.bytes(), 0);
    }
}
