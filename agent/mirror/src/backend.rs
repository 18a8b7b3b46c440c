//! One mirror backend: its queue lane, pool, rewrite options and workers. Each worker owns
//! one connection at a time and writes the requests waiting in the queue to it together
//! (HTTP/1.1 pipelining, up to the configured depth), so requests in flight never exceed
//! workers × depth, and a busy backend costs one write and few reads per batch instead of
//! per request.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use http::header::{HeaderName, HeaderValue};
use shadowtap_compare::{CompareSpec, MirrorResult};

use crate::config::ReplayConfig;
use crate::connection::{Answered, Connection};
use crate::edit::{HeadEditor, RewriteOptions};
use crate::error::{ConnectError, ExchangeError};
use crate::h2_exchange::serve_h2;
use crate::h2_pool::H2Pool;
use crate::job::Job;
use crate::metrics::BackendStats;
use crate::own_flows::OwnFlows;
use crate::pool::{Checkout, Pool};
use crate::protocol::BackendProtocol;
use crate::queue::{Queue, Queued};
use crate::reason::DropReason;
use crate::tally::drop_on;

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
    /// The marker as an HTTP/2 field (lowercase name).
    pub h2_marker: (HeaderName, HeaderValue),
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
    /// Its endpoints and HTTP/1 connections.
    pub pool: Pool,
    /// Its HTTP/2 connections.
    pub h2: H2Pool,
    /// Notified when a request is queued (or queued requests are left behind by a worker)
    /// or the backend is removed.
    pub notify: Notify,
    /// Requests queued since the workers were last woken, by [`Wake::Deferred`]
    /// submissions.
    pub unwoken: AtomicUsize,
    /// Set when the backend is removed: workers exit.
    pub closed: AtomicBool,
    /// Set when the backend speaks HTTP/2 only: HTTP/1 requests are refused.
    h2c_only: AtomicBool,
    rewrite: RwLock<Arc<RewriteOptions>>,
}

impl Backend {
    /// A backend with no endpoints.
    pub fn new(
        lane: usize,
        stats: Arc<BackendStats>,
        pool: Pool,
        h2: H2Pool,
        rewrite: RewriteOptions,
    ) -> Self {
        Backend {
            lane,
            stats,
            pool,
            h2,
            notify: Notify::new(),
            unwoken: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            h2c_only: AtomicBool::new(false),
            rewrite: RwLock::new(Arc::new(rewrite)),
        }
    }

    /// Sets what the backend speaks.
    pub fn set_protocol(&self, protocol: BackendProtocol) {
        self.h2c_only
            .store(protocol == BackendProtocol::H2cOnly, Ordering::Release);
    }

    /// Whether a request of this protocol (`h2`: HTTP/2) can be replayed here.
    pub fn takes(&self, h2: bool) -> bool {
        h2 || !self.h2c_only.load(Ordering::Acquire)
    }

    /// Replaces the rewrite options (for requests not yet written).
    pub fn set_rewrite(&self, rewrite: RewriteOptions) {
        *self.rewrite.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rewrite);
    }

    /// The rewrite options in force.
    pub fn rewrite(&self) -> Arc<RewriteOptions> {
        Arc::clone(&self.rewrite.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Resolves when the replayer hard-stops (or is dropped).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The worker loop: take a batch of requests, replay it, count each outcome.
pub(crate) async fn worker(
    backend: Arc<Backend>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut scratch = Scratch::default();
    let mut batch = Vec::new();
    while next(&backend, &shared, &mut stop, &mut batch).await {
        if batch.first().is_some_and(|q| q.request.is_h2()) {
            let outcomes = tokio::select! {
                biased;
                () = stopped(&mut stop) => vec![Err(DropReason::Shutdown); batch.len()],
                r = serve_h2(&backend, &shared, &batch) => r,
            };
            for (outcome, q) in outcomes.iter().zip(&batch) {
                match outcome {
                    Ok(a) => {
                        backend.stats.sent(a.status, a.latency);
                        if let Some(t) = &q.tally {
                            t.sent(a.status, a.latency);
                        }
                        report_compared(q, a);
                    }
                    Err(reason) => {
                        backend.stats.dropped(*reason);
                        drop_on(q.tally.as_ref(), *reason);
                        if let Some(ticket) = q.request.compare() {
                            ticket.report(MirrorResult::Failed);
                        }
                    }
                }
            }
            backend
                .stats
                .in_flight
                .fetch_sub(batch.len(), Ordering::AcqRel);
            batch.clear();
            shared.done.notify_waiters();
            continue;
        }
        let rest = tokio::select! {
            biased;
            () = stopped(&mut stop) => {
                // Whatever the stopped exchange had read, the batch counts as shut down.
                scratch.answered.clear();
                DropReason::Shutdown
            }
            r = serve(&backend, &shared, &batch, &mut scratch) => r,
        };
        for (a, q) in scratch.answered.iter().zip(&batch) {
            backend.stats.sent(a.status, a.latency);
            if let Some(t) = &q.tally {
                t.sent(a.status, a.latency);
            }
            report_compared(q, a);
        }
        for q in batch.iter().skip(scratch.answered.len()) {
            backend.stats.dropped(rest);
            drop_on(q.tally.as_ref(), rest);
            if let Some(ticket) = q.request.compare() {
                ticket.report(MirrorResult::Failed);
            }
        }
        backend
            .stats
            .in_flight
            .fetch_sub(batch.len(), Ordering::AcqRel);
        batch.clear();
        shared.done.notify_waiters();
        scratch.reset();
    }
}

/// Reports a compared request's answer on its ticket.
fn report_compared(q: &Queued, a: &Answered) {
    if let (Some(ticket), Some(summary)) = (q.request.compare(), &a.summary) {
        ticket.report(MirrorResult::Response(summary.clone()));
    }
}

/// Waits for the next requests of this backend and moves them to `batch`; false when
/// stopping.
async fn next(
    backend: &Backend,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
    batch: &mut Vec<Queued>,
) -> bool {
    loop {
        let notified = backend.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if *stop.borrow() || backend.closed.load(Ordering::Acquire) {
            return false;
        }
        let depth = shared.config.pipeline_depth;
        let popped = shared.queue.pop_batch(backend.lane, depth, COALESCE, batch);
        if popped.taken > 0 {
            if popped.more {
                // Requests were queued faster than one wake-up each (a deferred wake,
                // a burst): the next worker takes the next batch.
                backend.notify.notify_one();
            }
            return true;
        }
        tokio::select! {
            () = &mut notified => {}
            () = stopped(stop) => return false,
            () = tokio::time::sleep(shared.config.idle_timeout) => {
                backend.pool.purge(Instant::now());
                backend.h2.purge(Instant::now(), shared.config.idle_timeout);
            }
        }
    }
}

/// A worker's buffers, kept from one batch to the next so that replaying a request
/// allocates nothing once they have grown: the rendered heads, and per request of the batch
/// whether it is a `HEAD` and its response (what happened to the batch: the responses, in
/// order; every request after them shares one drop reason).
#[derive(Default)]
struct Scratch {
    buf: Vec<u8>,
    is_head: Vec<bool>,
    /// Per request of a compared batch, the comparison spec its response is summarised
    /// with (empty when nothing in the batch is compared).
    compare: Vec<Option<Arc<CompareSpec>>>,
    answered: Vec<Answered>,
}

impl Scratch {
    /// Empty, keeping the allocations (a head buffer grown past `KEEP_BUF` by a large
    /// batch is let go).
    fn reset(&mut self) {
        if self.buf.capacity() > KEEP_BUF {
            self.buf = Vec::new();
        }
        self.buf.clear();
        self.is_head.clear();
        self.compare.clear();
        self.answered.clear();
    }
}

/// Checks a connection out (connecting if needed); `Err` is why the batch is dropped.
async fn connection(backend: &Backend, shared: &Shared) -> Result<Connection, DropReason> {
    let cfg = &shared.config;
    let stats = &backend.stats;
    match backend.pool.checkout(Instant::now()) {
        Checkout::Reuse(conn) => Ok(conn),
        Checkout::Connect(addr, slot) => {
            match Connection::connect(addr, cfg.connect_timeout, Arc::clone(&shared.own), slot)
                .await
            {
                Ok(conn) => {
                    backend.pool.connect_succeeded(addr);
                    Ok(conn)
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
                    Err(reason)
                }
            }
        }
        Checkout::Down => {
            stats.log_once(
                DropReason::BackendDown,
                &"every endpoint is backing off after connect failures",
            );
            Err(DropReason::BackendDown)
        }
        Checkout::Empty => {
            stats.log_once(DropReason::NoEndpoints, &"the backend has no endpoints");
            Err(DropReason::NoEndpoints)
        }
    }
}

/// Replays a batch: on one connection, or on more when the server ends a connection after
/// answering only part of it. The unanswered requests are written again on a new
/// connection (RFC 9112 §9.3.2) only when the server provably did not read them — it said
/// it would close with its last answer (`Connection: close`), or closed before any byte of
/// the next answer; otherwise (a close-delimited or `101` answer) they are dropped as
/// [`DropReason::Unanswered`], since a non-idempotent request must not be applied twice.
///
/// The responses are left in `scratch.answered`; returns the reason of every request after
/// them.
async fn serve(
    backend: &Backend,
    shared: &Shared,
    batch: &[Queued],
    scratch: &mut Scratch,
) -> DropReason {
    scratch.answered.clear();
    let Scratch {
        buf,
        is_head,
        compare,
        answered,
    } = scratch;
    let rewrite = backend.rewrite();
    while answered.len() < batch.len() {
        let before = answered.len();
        let rest = &batch[before..];
        let mut conn = match connection(backend, shared).await {
            Ok(conn) => conn,
            Err(reason) => return reason,
        };
        let tail = render(shared, &rewrite, rest, buf, is_head);
        compare.clear();
        if rest.iter().any(|q| q.request.compare().is_some()) {
            compare.extend(
                rest.iter()
                    .map(|q| q.request.compare().map(|t| Arc::clone(t.spec()))),
            );
        }
        let closes = rest
            .last()
            .is_some_and(|item| item.request.closes_connection());
        let cfg = &shared.config;
        let exchanged = conn
            .exchange(
                buf,
                tail,
                is_head,
                compare,
                Instant::now() + cfg.request_timeout,
                cfg.max_response_head,
                answered,
            )
            .await;
        let remote = conn.remote();
        if exchanged.reusable && !closes {
            backend.pool.checkin(conn, Instant::now());
        }
        if answered.len() == batch.len() {
            break;
        }
        // Progress on this connection bounds the re-sends: each one answers a request more.
        if exchanged.unread && answered.len() > before {
            continue;
        }
        let reason = match &exchanged.error {
            Some(e) => {
                let reason = exchange_reason(e);
                backend
                    .stats
                    .log_once(reason, &format_args!("{e} (endpoint {remote})"));
                reason
            }
            None => {
                backend.stats.log_once(
                    DropReason::Unanswered,
                    &format_args!(
                        "endpoint {remote} ended the connection without announcing it; the \
                         requests after its last answer are not sent again"
                    ),
                );
                DropReason::Unanswered
            }
        };
        return reason;
    }
    DropReason::Closed
}

/// Renders `batch` into `buf` (emptied first) and the per-request `HEAD` flags into
/// `is_head`; returns the body to write after `buf` (a lone large request's).
fn render<'b>(
    shared: &Shared,
    rewrite: &RewriteOptions,
    batch: &'b [Queued],
    buf: &mut Vec<u8>,
    is_head: &mut Vec<bool>,
) -> &'b [u8] {
    buf.clear();
    is_head.clear();
    let mut tail: &[u8] = &[];
    for item in batch {
        // Batches hold one protocol (`Queue::pop_batch`); HTTP/2 ones never come here.
        let Job::Http1(request) = &item.request else {
            continue;
        };
        shared.editor.render(request, rewrite, buf);
        // Batches of more than one request fit in COALESCE (see `Queue::pop_batch`); only
        // a lone large request has its body written on its own.
        if batch.len() > 1 || buf.len() + request.body().len() <= COALESCE {
            buf.extend_from_slice(request.body());
        } else {
            tail = request.body();
        }
        is_head.push(request.is_head_method());
    }
    tail
}

/// The drop reason of a failed connect.
pub(crate) fn connect_reason(e: &ConnectError) -> DropReason {
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
        ExchangeError::Closed | ExchangeError::ClosedBeforeAnswer => DropReason::Closed,
        ExchangeError::BadResponse { .. } => DropReason::BadResponse,
        ExchangeError::Io { .. } => DropReason::Io,
    }
}
