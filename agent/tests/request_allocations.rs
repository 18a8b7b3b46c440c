//! Heap allocations per request on the agent's user-space hot path, counted with a counting
//! global allocator: a captured 200-byte GET goes through reassembly, decoding, routing,
//! the draw and (when sampled) the mirror client's queue, and is replayed over a keep-alive
//! connection to a loopback mirror server, as `shadowtap agent` does.
//!
//! Two figures per case: the allocations of the pipeline's thread (capture to submission)
//! and those of the whole process once every replay has been answered (the replay workers
//! and the runtime included; the test's own mirror server allocates nothing per request,
//! and the test thread's own polling for the replays to settle is left out). Mirrored
//! requests are measured twice: captured in one burst (the replay workers batch them as
//! they come), and one at a time, each replay settled before the next request is captured,
//! so that every batch holds one request and any per-batch allocation of the replay is paid
//! in full by each request. Every figure is bounded: the pipeline thread's by its known
//! allocations, the process-wide ones by the pipeline thread's plus a margin far below one
//! per request, so a per-request or per-batch allocation anywhere fails the test.
//!
//! One test in this binary: the allocator counts every thread's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use shadowtap_agent::pipeline::Pipeline;
use shadowtap_agent::wiring::{backend_id, sync_backends, ReplayerSink};
use shadowtap_common::record::tcp_flags;
use shadowtap_mirror::{NoOwnFlows, ReplayConfig, Replayer};
use shadowtap_reconstruct::{Config, FlowKey, Reconstructor, Segment};
use shadowtap_routes::{Fraction, Plan, PlanConfig, Sampler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Counting;

static ALL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THIS_THREAD: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    ALL.fetch_add(1, Ordering::Relaxed);
    // Never fails: the slot has a const initializer and no destructor.
    let _ = THIS_THREAD.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are
// added (an atomic and a const-initialized thread-local, neither of which allocates).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation is).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; `ptr` comes from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const ROUTE: &str = include_str!("../routes/tests/fixtures/foo-route-42.yaml");
/// foo-v1's endpoint in the fixture.
const SERVER: &str = "10.244.1.10:8080";
const FLOWS: u16 = 8;
const WARM_UP: usize = 512;
const MEASURED: usize = 4096;
/// Requests captured at once in a burst before waiting for their replays: half the
/// backend's default queue depth.
const BURST: usize = 512;
/// Most allocations per mirrored request on the pipeline's thread (2 and a margin).
const MIRRORED_THREAD: f64 = 2.05;
/// Most allocations per request not sampled on the pipeline's thread (1 and a margin).
const SKIPPED_THREAD: f64 = 1.05;
/// Most allocations per request that the rest of the process may add to the pipeline
/// thread's (replay workers, runtime): a per-batch allocation is at least 1 per request
/// when batches hold one request.
const PER_BATCH_MARGIN: f64 = 0.1;

/// The fixture's plan with every mirror drawn at `fraction`.
fn plan(fraction: Fraction) -> Plan {
    let mut store = shadowtap_routes::store::Store::new();
    shadowtap_routes::file_source::load_str(&mut store, Path::new("route.yaml"), ROUTE)
        .expect("fixture loads");
    let mut plan = shadowtap_routes::plan(&store, "node-a", &PlanConfig::default());
    for rules in plan.route_sets.values_mut() {
        for parent in &mut rules.parents {
            for rule in &mut parent.rules {
                for m in &mut rule.mirrors {
                    m.fraction = fraction;
                }
            }
        }
    }
    plan
}

/// A 200-byte GET (head only), as a browser-less API client sends.
fn get(i: usize) -> Vec<u8> {
    let mut r = format!(
        "GET /api/v1/items/{i:08}?page=2 HTTP/1.1\r\nHost: foo-v1:8080\r\nUser-Agent: bench/1.0\r\nAccept: application/json\r\nX-Request-Id: {i:032x}\r\n"
    )
    .into_bytes();
    let pad = 200 - r.len() - 2 - "X-Pad: \r\n".len();
    r.extend_from_slice(format!("X-Pad: {}\r\n\r\n", "p".repeat(pad)).as_bytes());
    assert_eq!(r.len(), 200);
    r
}

/// A SYN per flow, then `n` requests spread over the flows, one request per segment.
fn segments(n: usize, first: usize) -> (Vec<Segment>, Vec<Segment>) {
    let server: SocketAddr = SERVER.parse().expect("addr");
    let flow = |f: u16| FlowKey::new(SocketAddr::new([10, 0, 0, 1].into(), 40_000 + f), server);
    let syns = (0..FLOWS)
        .map(|f| Segment::new(flow(f), 1000, tcp_flags::SYN, 1, Bytes::new()))
        .collect();
    let mut seq = vec![1001u32; usize::from(FLOWS)];
    let mut data = Vec::with_capacity(n);
    for i in 0..n {
        let f = (i % usize::from(FLOWS)) as u16;
        let payload = get(first + i);
        let len = payload.len() as u32;
        let s = &mut seq[usize::from(f)];
        data.push(Segment::new(
            flow(f),
            *s,
            tcp_flags::ACK | tcp_flags::PSH,
            2,
            Bytes::from(payload),
        ));
        *s = s.wrapping_add(len);
    }
    (syns, data)
}

/// A mirror backend answering every request head with a static 200, counting the heads.
/// It allocates its buffer once per connection.
async fn mirror_server(received: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                let mut buf = vec![0u8; 64 * 1024];
                let mut out = Vec::with_capacity(64 * OK.len());
                // The last four bytes seen, across reads.
                let mut window = [0u8; 4];
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    // Heads end in CRLF CRLF (the replayed GETs have no body).
                    let mut heads = 0;
                    for b in &buf[..n] {
                        window.rotate_left(1);
                        window[3] = *b;
                        if &window == b"\r\n\r\n" {
                            heads += 1;
                        }
                    }
                    out.clear();
                    for _ in 0..heads {
                        out.extend_from_slice(OK);
                    }
                    received.fetch_add(heads, Ordering::Relaxed);
                    if s.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Waits (bounded) until `cond` holds, polling every millisecond so that the runtime's
/// two workers keep the cores.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How the measured requests are captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    /// In bursts of `BURST`: the replay workers batch them as they come.
    Burst,
    /// One at a time, each replay settled before the next request is captured: every
    /// batch holds one request, so whatever a batch costs, each request pays in full.
    LockStep,
}

/// Allocations per request: (pipeline thread, whole process).
fn per_request(fraction: Fraction, pace: Pace) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let received = Arc::new(AtomicU64::new(0));
    let addr = rt.block_on(mirror_server(Arc::clone(&received)));
    let replayer = Replayer::new(ReplayConfig::default(), Arc::new(NoOwnFlows)).expect("replayer");
    let plan = Arc::new(plan(fraction));
    sync_backends(&replayer, &plan, &BTreeSet::new());
    let mirror = plan
        .route_sets
        .values()
        .flat_map(|s| &s.parents)
        .flat_map(|p| &p.rules)
        .flat_map(|r| &r.mirrors)
        .next()
        .expect("the fixture mirrors");
    let id = backend_id(mirror);
    replayer.set_endpoints(&id, vec![addr]);
    let mut pipeline = Pipeline::new(
        Reconstructor::new(Config::default()),
        Sampler::new(7),
        ReplayerSink::new(replayer.clone()),
        "x-shadowtap-mirrored",
    );
    pipeline.set_plan(Arc::clone(&plan));

    let sampled = fraction == Fraction::ONE;
    let label = id.to_string();
    let sent = || replayer.snapshot().backend(&label).sent;
    // Every submitted replay ended: sent, or dropped (then named by the assertion below).
    let settled = || {
        let b = replayer.snapshot().backend(&label);
        b.sent + b.dropped_total()
    };
    let no_drops = || {
        let b = replayer.snapshot().backend(&label);
        assert!(b.dropped.is_empty(), "replays dropped: {:?}", b.dropped);
    };
    let (syns, data) = segments(WARM_UP + MEASURED, 0);
    for s in syns {
        pipeline.push(s);
    }
    let mut data = data.into_iter();
    for s in data.by_ref().take(WARM_UP) {
        pipeline.push(s);
    }
    let want = if sampled { WARM_UP as u64 } else { 0 };
    wait_until("the warm-up's replays", || settled() == want);
    no_drops();
    assert_eq!(sent(), want);
    assert_eq!(received.load(Ordering::Relaxed), want);

    let measured: Vec<Segment> = data.collect();
    let all_before = ALL.load(Ordering::Relaxed);
    let thread_before = THIS_THREAD.with(Cell::get);
    let mut thread_waiting = 0;
    for (i, s) in measured.into_iter().enumerate() {
        pipeline.push(s);
        // Lock step waits for every replay; a burst waits after each `BURST` requests, so
        // the backend's queue (1 024 deep) never overflows however slowly the replay runs
        // on a loaded machine, while the workers still batch what a burst queues.
        let wait = match pace {
            Pace::LockStep => true,
            Pace::Burst => (i + 1) % BURST == 0,
        };
        if wait && sampled {
            // Waiting is not the pipeline's work: its own allocations (none expected, the
            // snapshot's aside) are left out of the pipeline thread's figure.
            let before = THIS_THREAD.with(Cell::get);
            let want = (WARM_UP + i + 1) as u64;
            wait_until("the replays so far", || settled() == want);
            thread_waiting += THIS_THREAD.with(Cell::get) - before;
        }
    }
    let thread = THIS_THREAD.with(Cell::get) - thread_before - thread_waiting;
    let want = if sampled {
        (WARM_UP + MEASURED) as u64
    } else {
        0
    };
    let before = THIS_THREAD.with(Cell::get);
    wait_until("the measured replays", || settled() == want);
    thread_waiting += THIS_THREAD.with(Cell::get) - before;
    let all = ALL.load(Ordering::Relaxed) - all_before - thread_waiting;
    no_drops();
    assert_eq!(sent(), want);
    assert_eq!(received.load(Ordering::Relaxed), want);
    let c = pipeline.counters();
    assert_eq!(c.decoded, (WARM_UP + MEASURED) as u64);
    assert_eq!(c.submitted, if sampled { c.decoded } else { 0 }, "{c:?}");
    drop(pipeline);
    (
        thread as f64 / MEASURED as f64,
        all as f64 / MEASURED as f64,
    )
}

#[test]
fn allocations_per_request_on_the_hot_path() {
    let (mirrored_thread, mirrored_all) = per_request(Fraction::ONE, Pace::Burst);
    let (single_thread, single_all) = per_request(Fraction::ONE, Pace::LockStep);
    let (skipped_thread, skipped_all) = per_request(Fraction::ZERO, Pace::Burst);
    println!(
        "allocations per 200-byte GET: mirrored {mirrored_thread:.2} on the pipeline's thread, \
         {mirrored_all:.2} in the process (replay included); mirrored one at a time (batches \
         of one) {single_thread:.2} / {single_all:.2}; captured but not sampled \
         {skipped_thread:.2} / {skipped_all:.2}"
    );
    // Per mirrored request: the decoded head's field list, and the mirror client's own
    // copy of that layout (the request's bytes are shared, the backend id and the routing
    // view come from per-plan and inline storage).
    for thread in [mirrored_thread, single_thread] {
        assert!(
            thread <= MIRRORED_THREAD,
            "{thread:.2} allocations per mirrored request on the pipeline's thread"
        );
    }
    // The replay itself allocates nothing per batch once its worker's buffers and the
    // connection exist: with batches of one, every per-batch allocation would be paid by
    // each request. The margin is for the runtime's own bookkeeping (a timer-wheel or
    // task-list growth), far below one per request.
    assert!(
        single_all <= single_thread + PER_BATCH_MARGIN,
        "{single_all:.2} allocations per request mirrored one at a time in the process, \
         {single_thread:.2} on the pipeline's thread: the replay allocates per batch"
    );
    // Any batching spreads per-batch costs over at least one request: the process-wide
    // figure of the burst is bounded the same way.
    assert!(
        mirrored_all <= mirrored_thread + PER_BATCH_MARGIN,
        "{mirrored_all:.2} allocations per mirrored request in the process, \
         {mirrored_thread:.2} on the pipeline's thread"
    );
    assert!(
        mirrored_all >= mirrored_thread,
        "{mirrored_all:.2} allocations per mirrored request in the process, fewer than on \
         the pipeline's thread alone"
    );
    // Per request not sampled: the decoded head's field list only.
    assert!(
        skipped_thread <= SKIPPED_THREAD,
        "{skipped_thread:.2} allocations per request not sampled"
    );
    assert!(
        skipped_all <= SKIPPED_THREAD + PER_BATCH_MARGIN,
        "{skipped_all:.2} allocations per request not sampled, process-wide"
    );
}
