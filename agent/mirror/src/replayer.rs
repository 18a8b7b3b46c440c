//! [`Replayer`]: the public face of replay. `submit` queues without blocking; per-backend
//! workers replay over pooled keep-alive connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::runtime::Handle;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backend::{worker, Backend, Shared};
use crate::config::ReplayConfig;
use crate::connection::SlotCounter;
use crate::edit::RewriteOptions;
use crate::endpoints::Pick;
use crate::error::ReplayError;
use crate::h2_pool::H2Pool;
use crate::h2_request::H2MirrorRequest;
use crate::id::BackendId;
use crate::job::Job;
use crate::metrics::{BackendStats, ReplayMetrics};
use crate::own_flows::OwnFlows;
use crate::pool::Pool;
use crate::protocol::BackendProtocol;
use crate::queue::Queue;
use crate::reason::DropReason;
use crate::request::MirrorRequest;
use crate::snapshot::ReplaySnapshot;
use crate::tally::Tally;

/// Requests a backend queues with [`Wake::Deferred`] before its workers are woken anyway:
/// enough for several full pipelined batches, few enough that a long submission loop never
/// lets the backend's queue fill while its workers sleep.
const DEFERRED_WAKE_MAX: usize = 64;

/// When a submission wakes its backend's workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// At once: a worker is woken for every request queued.
    Now,
    /// At the next [`Replayer::wake_deferred`] (or once [`DEFERRED_WAKE_MAX`] requests
    /// wait): a caller that queues many requests in one pass wakes each backend once, and
    /// the woken worker takes a whole pipelined batch, waking the next worker if more wait.
    Deferred,
}

/// How [`Replayer::shutdown`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every queued and in-flight request finished before the deadline.
    pub drained: bool,
    /// Requests dropped as `shutdown` during the call.
    pub dropped: u64,
}

/// Replays mirrored requests to mirror backends. Cheap to clone (clones share state); the
/// workers stop when [`Replayer::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct Replayer {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    metrics: ReplayMetrics,
    runtime: Handle,
    /// Looked up on every submission: foldhash, not SipHash (the ids are the plan's, not
    /// an attacker's).
    backends: RwLock<HashMap<BackendId, Arc<Backend>, foldhash::fast::RandomState>>,
    /// Per backend label, kept across removal so counts stay conserved.
    stats: Mutex<HashMap<String, Arc<BackendStats>>>,
    unknown: Counter,
    /// Backends with requests queued by [`Wake::Deferred`] submissions and not yet woken.
    deferred: Mutex<Vec<Arc<Backend>>>,
    accepting: AtomicBool,
    stop: watch::Sender<bool>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("config", &self.inner.shared.config)
            .finish_non_exhaustive()
    }
}

impl Replayer {
    /// A replayer with no backends. Must be called within a tokio runtime, on which its
    /// workers run; the other methods may be called from any thread.
    pub fn new(config: ReplayConfig, own_flows: Arc<dyn OwnFlows>) -> Result<Self, ReplayError> {
        Self::with_metrics(config, own_flows, ReplayMetrics::new())
    }

    /// [`new`](Self::new), counting into `metrics` (families the caller may have registered
    /// and served before the replayer existed).
    pub fn with_metrics(
        config: ReplayConfig,
        own_flows: Arc<dyn OwnFlows>,
        metrics: ReplayMetrics,
    ) -> Result<Self, ReplayError> {
        let runtime = Handle::try_current().map_err(|e| ReplayError::NoRuntime {
            detail: e.to_string(),
        })?;
        let editor = config.validate()?;
        let h2_marker = editor.h2_marker(&config.marker_value)?;
        let queue = Arc::new(Queue::new(config.queue_bytes, metrics.queue_bytes()));
        let (stop, _) = watch::channel(false);
        Ok(Replayer {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    config,
                    editor,
                    h2_marker,
                    own: own_flows,
                    queue,
                    done: Notify::new(),
                }),
                unknown: metrics.unknown_backend(),
                metrics,
                runtime,
                backends: RwLock::new(HashMap::default()),
                stats: Mutex::new(HashMap::new()),
                deferred: Mutex::new(Vec::new()),
                accepting: AtomicBool::new(true),
                stop,
                workers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The metrics, to register with the agent's registry.
    pub fn metrics(&self) -> &ReplayMetrics {
        &self.inner.metrics
    }

    /// The configuration in force.
    pub fn config(&self) -> &ReplayConfig {
        &self.inner.shared.config
    }

    fn backend(&self, id: &BackendId) -> Option<Arc<Backend>> {
        let map = self
            .inner
            .backends
            .read()
            .unwrap_or_else(|e| e.into_inner());
        map.get(id).cloned()
    }

    /// The backend `id`, created (with no endpoints) if missing.
    fn backend_or_create(&self, id: &BackendId, rewrite: RewriteOptions) -> Arc<Backend> {
        let inner = &self.inner;
        let mut map = inner.backends.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map.get(id) {
            return Arc::clone(b);
        }
        let cfg = &inner.shared.config;
        let label = id.to_string();
        let stats = {
            let mut all = inner.stats.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                all.entry(label.clone())
                    .or_insert_with(|| Arc::new(inner.metrics.backend(label))),
            )
        };
        let lane = inner
            .shared
            .queue
            .add_lane(Arc::clone(&stats), cfg.queue_depth);
        let slots = SlotCounter::new(stats.connections.clone());
        let pool = Pool::new(slots, cfg.max_connections, cfg.idle_timeout);
        let h2 = H2Pool::new(cfg.h2_connections, cfg.pipeline_depth);
        let backend = Arc::new(Backend::new(lane, stats, pool, h2, rewrite));
        let mut workers = inner.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|w| !w.is_finished());
        for _ in 0..cfg.max_connections {
            workers.push(inner.runtime.spawn(worker(
                Arc::clone(&backend),
                Arc::clone(&inner.shared),
                inner.stop.subscribe(),
            )));
        }
        map.insert(id.clone(), Arc::clone(&backend));
        backend
    }

    /// Creates the backend `id`, or replaces its rewrite options.
    pub fn set_backend(&self, id: &BackendId, rewrite: RewriteOptions) -> Result<(), ReplayError> {
        rewrite.validate()?;
        self.backend_or_create(id, rewrite.clone())
            .set_rewrite(rewrite);
        Ok(())
    }

    /// Sets what backend `id` speaks (created with default rewrite options if missing):
    /// with [`BackendProtocol::H2cOnly`], HTTP/1 requests submitted from now on are refused
    /// as `protocol_mismatch`.
    pub fn set_protocol(&self, id: &BackendId, protocol: BackendProtocol) {
        self.backend_or_create(id, RewriteOptions::default())
            .set_protocol(protocol);
    }

    /// Sets the endpoints of backend `id` (created with default rewrite options if missing).
    /// Endpoints that remain keep their back-off state; idle connections to removed ones are
    /// closed. An empty list makes submissions fail with `no_endpoints`.
    pub fn set_endpoints(&self, id: &BackendId, endpoints: Vec<SocketAddr>) {
        let backend = self.backend_or_create(id, RewriteOptions::default());
        backend.h2.retain_endpoints(&endpoints);
        backend.pool.set_endpoints(endpoints);
    }

    /// Removes backend `id`: its queued requests are dropped as `shutdown`, its idle
    /// connections closed, its workers stop after their current request. Its metric series
    /// and snapshot go with it (a backend that left the plan costs nothing), and a backend
    /// added again starts from zero.
    pub fn remove_backend(&self, id: &BackendId) {
        let removed = {
            let mut map = self
                .inner
                .backends
                .write()
                .unwrap_or_else(|e| e.into_inner());
            map.remove(id)
        };
        if let Some(b) = removed {
            b.closed.store(true, Ordering::Release);
            b.notify.notify_waiters();
            self.inner
                .shared
                .queue
                .drain_lane(b.lane, DropReason::Shutdown);
            b.pool.clear();
            b.h2.clear();
            let label = id.to_string();
            self.inner
                .stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&label);
            self.inner.metrics.remove_backend(&label);
        }
    }

    /// Queues `request` for backend `id`. Never blocks and never waits on the network.
    /// `Err` gives the reason the request itself was dropped (already counted); queueing it
    /// may also drop older queued requests (`queue_full`, `queue_budget`), counted on their
    /// backends.
    pub fn submit(&self, id: &BackendId, request: MirrorRequest) -> Result<(), DropReason> {
        self.submit_tallied(id, request, None)
    }

    /// [`submit`](Self::submit), also counting the request's outcome on `tally` once it is
    /// queued (sent, or dropped with its reason). A refusal is returned and not tallied.
    pub fn submit_tallied(
        &self,
        id: &BackendId,
        request: MirrorRequest,
        tally: Option<Tally>,
    ) -> Result<(), DropReason> {
        self.submit_job(id, Job::Http1(request), tally, Wake::Now)
    }

    /// [`submit_tallied`](Self::submit_tallied), waking the backend's workers as `wake`
    /// says (with [`Wake::Deferred`], the caller calls [`wake_deferred`](Self::wake_deferred)
    /// when its pass over new requests ends).
    pub fn submit_tallied_waking(
        &self,
        id: &BackendId,
        request: MirrorRequest,
        tally: Option<Tally>,
        wake: Wake,
    ) -> Result<(), DropReason> {
        self.submit_job(id, Job::Http1(request), tally, wake)
    }

    /// [`submit_h2_tallied`](Self::submit_h2_tallied), waking as `wake` says.
    pub fn submit_h2_tallied_waking(
        &self,
        id: &BackendId,
        request: H2MirrorRequest,
        tally: Option<Tally>,
        wake: Wake,
    ) -> Result<(), DropReason> {
        self.submit_job(id, Job::H2(request), tally, wake)
    }

    /// Wakes the workers of every backend that has requests queued by [`Wake::Deferred`]
    /// submissions since they were last woken.
    pub fn wake_deferred(&self) {
        // Drained in place (notifying never blocks): the list keeps its allocation from
        // one pass to the next.
        let mut pending = self
            .inner
            .deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for backend in pending.drain(..) {
            if backend.unwoken.swap(0, Ordering::AcqRel) > 0 {
                backend.notify.notify_one();
            }
        }
    }

    /// [`submit_tallied`](Self::submit_tallied) for an HTTP/2 request: replayed over
    /// HTTP/2 (prior-knowledge h2c) on the backend's multiplexed connections, with the same
    /// queue, budget, timeouts, drop reasons, metrics and tally as HTTP/1 requests.
    pub fn submit_h2_tallied(
        &self,
        id: &BackendId,
        request: H2MirrorRequest,
        tally: Option<Tally>,
    ) -> Result<(), DropReason> {
        self.submit_job(id, Job::H2(request), tally, Wake::Now)
    }

    fn submit_job(
        &self,
        id: &BackendId,
        request: Job,
        tally: Option<Tally>,
        wake: Wake,
    ) -> Result<(), DropReason> {
        let Some(backend) = self.backend(id) else {
            self.inner.unknown.inc();
            return Err(DropReason::UnknownBackend);
        };
        let stats = &backend.stats;
        stats.submitted();
        let refused = if !self.inner.accepting.load(Ordering::Acquire) {
            Some(DropReason::Shutdown)
        } else if !backend.takes(request.is_h2()) {
            Some(DropReason::ProtocolMismatch)
        } else {
            match backend.pool.available(Instant::now()) {
                Pick::Up(_) => None,
                Pick::AllDown => Some(DropReason::BackendDown),
                Pick::Empty => Some(DropReason::NoEndpoints),
            }
        };
        let result = match refused {
            Some(reason) => Err(reason),
            None => self.inner.shared.queue.push(backend.lane, request, tally),
        };
        match result {
            Ok(()) => {
                match wake {
                    Wake::Now => backend.notify.notify_one(),
                    Wake::Deferred => self.defer_wake(&backend),
                }
                Ok(())
            }
            Err(reason) => {
                stats.dropped(reason);
                stats.log_once(reason, &"request refused when submitted");
                Err(reason)
            }
        }
    }

    /// Counts a request queued without waking `backend`; wakes it when enough wait.
    fn defer_wake(&self, backend: &Arc<Backend>) {
        let unwoken = backend.unwoken.fetch_add(1, Ordering::AcqRel) + 1;
        if unwoken == 1 {
            self.inner
                .deferred
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::clone(backend));
        }
        if unwoken >= DEFERRED_WAKE_MAX && backend.unwoken.swap(0, Ordering::AcqRel) > 0 {
            backend.notify.notify_one();
        }
    }

    /// Current counts per backend.
    pub fn snapshot(&self) -> ReplaySnapshot {
        let all = self.inner.stats.lock().unwrap_or_else(|e| e.into_inner());
        ReplaySnapshot {
            backends: all
                .iter()
                .map(|(name, s)| (name.clone(), s.snapshot()))
                .collect(),
            unknown_backend: self.inner.unknown.get(),
            queue_bytes: self.inner.shared.queue.bytes(),
        }
    }

    fn shutdown_drops(&self) -> u64 {
        self.snapshot()
            .backends
            .values()
            .map(|b| b.dropped(DropReason::Shutdown))
            .sum()
    }

    /// Stops accepting requests (later submissions fail with `shutdown`), lets queued and
    /// in-flight requests finish until `deadline` has passed, then drops what is left as
    /// `shutdown`, stops the workers and closes every connection.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        let inner = &self.inner;
        let before = self.shutdown_drops();
        inner.accepting.store(false, Ordering::Release);
        self.wake_deferred();
        let until = Instant::now() + deadline;
        let queue = &inner.shared.queue;
        let drained = loop {
            let notified = inner.shared.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if queue.is_idle() {
                break true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                break queue.is_idle();
            }
        };
        inner.stop.send_replace(true);
        queue.drain_all(DropReason::Shutdown);
        let workers = std::mem::take(&mut *inner.workers.lock().unwrap_or_else(|e| e.into_inner()));
        // Workers leave at their next await point; bound the wait anyway.
        let join_until = Instant::now() + Duration::from_secs(1);
        for w in workers {
            if tokio::time::timeout_at(join_until, w).await.is_err() {
                break;
            }
        }
        queue.drain_all(DropReason::Shutdown);
        let backends: Vec<Arc<Backend>> = {
            let map = inner.backends.read().unwrap_or_else(|e| e.into_inner());
            map.values().cloned().collect()
        };
        for b in backends {
            b.pool.clear();
            b.h2.clear();
        }
        ShutdownReport {
            drained,
            dropped: self.shutdown_drops().saturating_sub(before),
        }
    }
}
