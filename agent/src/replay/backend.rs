//! One mirror backend: its queue lane, pool, rewrite options and workers. Each worker
//! replays one request at a time, so in-flight requests never exceed the worker count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::config::ReplayConfig;
use super::connection::Connection;
use super::edit::{HeadEditor, RewriteOptions};
use super::error::{ConnectError, ExchangeError};
use super::metrics::BackendStats;
use super::own_flows::OwnFlows;
use super::pool::{Checkout, Pool};
use super::queue::{Queue, Queued};
use super::reason::DropReason;
use super::request::MirrorRequest;

/// Requests up to this size (head + body) are written with one write call.
const COALESCE: usize = 64 * 1024;
/// Capacity a worker's head buffer keeps between requests.
const KEEP_BUF: usize = 128 * 1024;

/// What every worker shares.
pub(crate) struct Shared {
    /// Limits and timeouts.
    pub config: ReplayConfig,
    /// Adds the marker and applies rewrites.
    pub editor: HeadEditor,
    /// Own-flow registration.
    pub own: Arc<dyn OwnFlows>,
    /// All queues.
    pub queue: Arc<Queue>,
    /// Notified whenever a worker finishes a request (for draining).
    pub done: Notify,
}

/// One mirror backend.
pub(crate) struct Backend {
    /// Its queue lane.
    pub lane: usize,
    /// Its counters.
    pub stats: Arc<BackendStats>,
    /// Its endpoints and connections.
    pub pool: Pool,
    /// Notified when a request is queued or the backend is removed.
    pub notify: Notify,
    /// Set when the backend is removed: workers exit.
    pub closed: AtomicBool,
    rewrite: RwLock<Arc<RewriteOptions>>,
}

impl Backend {
    /// A backend with no endpoints.
    pub fn new(lane: usize, stats: Arc<BackendStats>, pool: Pool, rewrite: RewriteOptions) -> Self {
        Backend {
            lane,
            stats,
            pool,
            notify: Notify::new(),
            closed: AtomicBool::new(false),
            rewrite: RwLock::new(Arc::new(rewrite)),
        }
    }

    /// Replaces the rewrite options (for requests not yet written).
    pub fn set_rewrite(&self, rewrite: RewriteOptions) {
        *self.rewrite.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rewrite);
    }

    fn rewrite(&self) -> Arc<RewriteOptions> {
        Arc::clone(&self.rewrite.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Resolves when the replayer hard-stops (or is dropped).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The worker loop: take a request, replay it, count the outcome.
pub(crate) async fn worker(
    backend: Arc<Backend>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = Vec::new();
    while let Some(item) = next(&backend, &shared, &mut stop).await {
        let outcome = tokio::select! {
            biased;
            () = stopped(&mut stop) => Err(DropReason::Shutdown),
            r = serve(&backend, &shared, &item.request, &mut buf) => r,
        };
        match outcome {
            Ok((status, latency)) => backend.stats.sent(status, latency),
            Err(reason) => backend.stats.dropped(reason),
        }
        backend.stats.in_flight.fetch_sub(1, Ordering::AcqRel);
        shared.done.notify_waiters();
        if buf.capacity() > KEEP_BUF {
            buf = Vec::new();
        }
    }
}

/// Waits for the next request of this backend; `None` when stopping.
async fn next(
    backend: &Backend,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Option<Queued> {
    loop {
        let notified = backend.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if *stop.borrow() || backend.closed.load(Ordering::Acquire) {
            return None;
        }
        if let Some(item) = shared.queue.pop(backend.lane) {
            return Some(item);
        }
        tokio::select! {
            () = &mut notified => {}
            () = stopped(stop) => return None,
            () = tokio::time::sleep(shared.config.idle_timeout) => backend.pool.purge(Instant::now()),
        }
    }
}

/// Replays one request on one endpoint; returns the status and latency.
async fn serve(
    backend: &Backend,
    shared: &Shared,
    request: &MirrorRequest,
    buf: &mut Vec<u8>,
) -> Result<(u16, Duration), DropReason> {
    let cfg = &shared.config;
    let stats = &backend.stats;
    let mut conn = match backend.pool.checkout(Instant::now()) {
        Checkout::Reuse(conn) => conn,
        Checkout::Connect(addr, slot) => {
            match Connection::connect(addr, cfg.connect_timeout, Arc::clone(&shared.own), slot)
                .await
            {
                Ok(conn) => {
                    backend.pool.connect_succeeded(addr);
                    conn
                }
                Err(e) => {
                    let backoff = backend.pool.connect_failed(
                        addr,
                        Instant::now(),
                        cfg.backoff_initial,
                        cfg.backoff_max,
                    );
                    let reason = connect_reason(&e);
                    stats.log_once(
                        reason,
                        &format_args!("{e}; the endpoint backs off for {backoff:?}"),
                    );
                    return Err(reason);
                }
            }
        }
        Checkout::Down => {
            stats.log_once(
                DropReason::BackendDown,
                &"every endpoint is backing off after connect failures",
            );
            return Err(DropReason::BackendDown);
        }
        Checkout::Empty => {
            stats.log_once(DropReason::NoEndpoints, &"the backend has no endpoints");
            return Err(DropReason::NoEndpoints);
        }
    };
    buf.clear();
    shared.editor.render(request, &backend.rewrite(), buf);
    let body: &[u8] = if buf.len() + request.body().len() <= COALESCE {
        buf.extend_from_slice(request.body());
        &[]
    } else {
        request.body()
    };
    let start = Instant::now();
    let result = conn
        .exchange(
            buf,
            body,
            request.is_head_method(),
            start + cfg.request_timeout,
            cfg.max_response_head,
        )
        .await;
    match result {
        Ok(answer) => {
            let latency = start.elapsed();
            if answer.reusable && !request.closes_connection() {
                backend.pool.checkin(conn, Instant::now());
            }
            Ok((answer.status, latency))
        }
        Err(e) => {
            let reason = exchange_reason(&e);
            let remote = conn.remote();
            stats.log_once(reason, &format_args!("{e} (endpoint {remote})"));
            Err(reason)
        }
    }
}

fn connect_reason(e: &ConnectError) -> DropReason {
    match e {
        ConnectError::Refused { .. } => DropReason::ConnectRefused,
        ConnectError::Timeout { .. } => DropReason::ConnectTimeout,
        ConnectError::Other { .. } => DropReason::ConnectError,
    }
}

fn exchange_reason(e: &ExchangeError) -> DropReason {
    match e {
        ExchangeError::WriteTimeout => DropReason::WriteTimeout,
        ExchangeError::ResponseTimeout => DropReason::ResponseTimeout,
        ExchangeError::Reset { .. } => DropReason::Reset,
        ExchangeError::Closed => DropReason::Closed,
        ExchangeError::BadResponse { .. } => DropReason::BadResponse,
        ExchangeError::Io { .. } => DropReason::Io,
    }
}
