//! Control-plane scale: the Kubernetes source and the planner of one agent against a large
//! simulated cluster served through kube's mocked service, then under EndpointSlice churn.
//!
//! Reports the process heap (a counting allocator: peak while listing, live after the
//! lists, peak and live under churn; the stand-in API server generates objects on demand and
//! holds almost nothing), the agent thread's CPU under churn (% of one core, from its
//! schedstat), and the time from a change of a mirror backend's EndpointSlice on the API
//! server to the plan that holds the new endpoint (p50 / p99), beside the targets.
//!
//! `cargo bench -p shadowtap-routes --bench control_plane` (env `CHURN_SECS`, default 30;
//! `MIN_INTERVAL_MS`, the source's shortest time between stores, default the agent's).

mod api;
mod cluster;
mod counting_alloc;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response};
use shadowtap_routes::{spawn_planner, start_kube_source, KubeSourceConfig, Plan, PlanConfig};
use tokio::sync::watch;

use api::{Api, Body};
use cluster::{
    labelled, node_of, ENDPOINTS_PER_SLICE, NODE, ROUTES, SERVICES, SLICES, SLICES_PER_SERVICE,
};

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Endpoint changes per second.
const CHURN_PER_SEC: u32 = 50;
/// One change in this many moves an endpoint of a mirror backend this node's plan holds
/// (its latency is measured); the others hit slices anywhere in the cluster.
const MEASURED_EVERY: u32 = 5;
/// Longest wait for the first plan.
const SYNC_TIMEOUT: Duration = Duration::from_secs(600);

const MIB: f64 = 1024.0 * 1024.0;

/// CPU time of a thread so far (`/proc/<pid>/task/<tid>/schedstat`, nanoseconds on CPU).
fn thread_cpu(task: &str) -> Duration {
    let text = std::fs::read_to_string(format!("{task}/schedstat")).expect("schedstat");
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat format");
    Duration::from_nanos(ns)
}

/// The capture endpoints the plan must hold once every list is in: the node's endpoints of
/// the labelled routes' backends.
fn expected_endpoints() -> usize {
    (0..ROUTES)
        .filter(|r| labelled(*r))
        .flat_map(|r| {
            let svc = 5 * r;
            (svc * SLICES_PER_SERVICE..(svc + 1) * SLICES_PER_SERVICE)
                .flat_map(|s| (0..ENDPOINTS_PER_SLICE).map(move |e| s * ENDPOINTS_PER_SLICE + e))
        })
        .filter(|g| node_of(*g) == 0)
        .count()
}

/// Every mirror endpoint address of the plan.
fn mirror_addrs(plan: &Plan) -> BTreeSet<IpAddr> {
    plan.route_sets
        .values()
        .flat_map(|s| s.parents.iter())
        .flat_map(|p| p.rules.iter())
        .flat_map(|r| r.mirrors.iter())
        .flat_map(|m| m.endpoints.iter().map(|a| a.ip()))
        .collect()
}

/// The index of each mirror backend Service the plan holds.
fn mirror_services(plan: &Plan) -> Vec<u32> {
    let names: BTreeSet<u32> = plan
        .route_sets
        .values()
        .flat_map(|s| s.parents.iter())
        .flat_map(|p| p.rules.iter())
        .flat_map(|r| r.mirrors.iter())
        .filter_map(|m| m.backend.name.strip_prefix("svc-")?.parse().ok())
        .collect();
    names.into_iter().collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The churn: `secs` seconds at [`CHURN_PER_SEC`]; measured changes are recorded in
/// `pending` (new address → when the API server sent it).
async fn churn(
    api: Arc<Mutex<Api>>,
    mirrors: Vec<u32>,
    secs: u64,
    pending: Arc<Mutex<HashMap<IpAddr, Instant>>>,
) -> u32 {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / CHURN_PER_SEC);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut rng: u64 = 0x5eed_1234_abcd_ef01;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let changes = CHURN_PER_SEC * secs as u32;
    for i in 0..changes {
        tick.tick().await;
        let measured = i % MEASURED_EVERY == 0 && !mirrors.is_empty();
        let s = if measured {
            let svc = mirrors[(next() % mirrors.len() as u64) as usize];
            svc * SLICES_PER_SERVICE + (next() % u64::from(SLICES_PER_SERVICE)) as u32
        } else {
            (next() % u64::from(SLICES)) as u32
        };
        // An endpoint of another node (the node's own Pods stay as they are).
        let e = (0..ENDPOINTS_PER_SLICE)
            .find(|e| node_of(s * ENDPOINTS_PER_SLICE + e) != 0)
            .unwrap_or(0) as usize;
        let addr = Ipv4Addr::from(0x0ac8_0000 + i);
        let mut a = api.lock().expect("api lock");
        if measured {
            pending
                .lock()
                .expect("pending lock")
                .insert(IpAddr::V4(addr), Instant::now());
            a.change_slice(s, |st| {
                st.addrs[e] = addr;
                st.ready[e] = true;
            });
        } else if next() % 2 == 0 {
            a.change_slice(s, |st| st.addrs[e] = addr);
        } else {
            a.change_slice(s, |st| st.ready[e] = !st.ready[e]);
        }
    }
    changes
}

fn main() {
    let secs: u64 = std::env::var("CHURN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let api = Arc::new(Mutex::new(Api::default()));
    let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();

    // The API server (and later the churn) on a thread of its own.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    server_rt.spawn(api::serve(api.clone(), handle));

    // The agent's source and planner on one thread, as the agent runs them.
    let started = Instant::now();
    counting_alloc::reset_peak();
    let heap_before = counting_alloc::live();
    // `MIN_INTERVAL_MS`: the source's shortest time between stores (default: the agent's).
    let mut source_cfg = KubeSourceConfig::new(NODE);
    if let Some(ms) = std::env::var("MIN_INTERVAL_MS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        source_cfg.min_interval = Duration::from_millis(ms);
    }
    let min_interval = source_cfg.min_interval;
    let (agent_tx, agent_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("agent runtime");
        rt.block_on(async move {
            let task = std::fs::read_link("/proc/thread-self")
                .map(|p| format!("/proc/{}", p.display()))
                .expect("thread-self");
            let client = kube::Client::new(svc, "default");
            let source = start_kube_source(client, source_cfg);
            let (plans, _planner) = spawn_planner(
                source.stores.clone(),
                NODE.into(),
                PlanConfig::default(),
                None,
            );
            agent_tx.send((plans, task)).expect("bench alive");
            let _keep = source;
            std::future::pending::<()>().await;
        });
    });
    let (mut plans, agent_task): (watch::Receiver<Arc<Plan>>, String) =
        agent_rx.recv().expect("agent started");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("bench runtime");
    let expected = expected_endpoints();
    let initial = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + SYNC_TIMEOUT;
        loop {
            let p = plans.borrow_and_update().clone();
            if p.endpoints.len() >= expected {
                return p;
            }
            match tokio::time::timeout_at(deadline, plans.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!(
                    "no complete plan after {SYNC_TIMEOUT:?}: {} of {expected} endpoints",
                    p.endpoints.len()
                ),
            }
        }
    });
    let sync = started.elapsed();
    let sync_cpu = thread_cpu(&agent_task);
    let peak_list = counting_alloc::peak().saturating_sub(heap_before);
    let live_listed = counting_alloc::live().saturating_sub(heap_before);
    let mirrors = mirror_services(&initial);
    assert!(
        !initial
            .problems
            .iter()
            .any(|p| p.reason.as_str() != "ambiguous_parent"),
        "unexpected problems: {:?}",
        initial.problems.iter().take(3).collect::<Vec<_>>()
    );

    // Under churn.
    counting_alloc::reset_peak();
    let pending: Arc<Mutex<HashMap<IpAddr, Instant>>> = Arc::default();
    let cpu0 = thread_cpu(&agent_task);
    let churn_started = Instant::now();
    let churn_task = server_rt.spawn(churn(api.clone(), mirrors.clone(), secs, pending.clone()));
    let mut latencies: Vec<Duration> = Vec::new();
    let mut plans_seen = 0u32;
    let mut live_samples: Vec<usize> = Vec::new();
    let changes = rt.block_on(async {
        let mut churn_task = churn_task;
        let changes = loop {
            tokio::select! {
                done = &mut churn_task => break done.expect("churn"),
                changed = plans.changed() => {
                    changed.expect("planner alive");
                    plans_seen += 1;
                    let p = plans.borrow_and_update().clone();
                    let now = Instant::now();
                    let seen = mirror_addrs(&p);
                    pending.lock().expect("pending lock").retain(|a, t| {
                        if seen.contains(a) {
                            latencies.push(now - *t);
                            false
                        } else {
                            true
                        }
                    });
                    live_samples.push(counting_alloc::live());
                }
            }
        };
        // The last changes: bounded wait for their plans.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !pending.lock().expect("pending lock").is_empty() {
            match tokio::time::timeout_at(deadline, plans.changed()).await {
                Ok(Ok(())) => {
                    let p = plans.borrow_and_update().clone();
                    let now = Instant::now();
                    let seen = mirror_addrs(&p);
                    pending.lock().expect("pending lock").retain(|a, t| {
                        if seen.contains(a) {
                            latencies.push(now - *t);
                            false
                        } else {
                            true
                        }
                    });
                }
                _ => break,
            }
        }
        changes
    });
    let churn_wall = churn_started.elapsed();
    let cpu = thread_cpu(&agent_task) - cpu0;
    let lost = pending.lock().expect("pending lock").len();
    let peak_churn = counting_alloc::peak().saturating_sub(heap_before);
    let live_churn = counting_alloc::live().saturating_sub(heap_before);
    live_samples.sort_unstable();
    let live_median = live_samples
        .get(live_samples.len() / 2)
        .copied()
        .unwrap_or(0)
        .saturating_sub(heap_before);
    latencies.sort_unstable();
    let cpu_pct = cpu.as_secs_f64() * 100.0 / churn_wall.as_secs_f64();
    let p50 = percentile(&latencies, 0.5);
    let p99 = percentile(&latencies, 0.99);

    println!(
        "control plane at scale: {SERVICES} Services, {SLICES} EndpointSlices ({ENDPOINTS_PER_SLICE} endpoints each), {ROUTES} HTTPRoutes ({} labelled, mirroring), {} Pods on {NODE}; churn {CHURN_PER_SEC} EndpointSlice changes/s for {secs} s; at most one store per {} ms\n",
        (0..ROUTES).filter(|r| labelled(*r)).count(),
        expected_pods(),
        min_interval.as_millis()
    );
    println!("| figure | measured | target |");
    println!("|---|---:|---:|");
    println!(
        "| heap peak while listing, MiB | {:.1} | ≤ 128 |",
        peak_list as f64 / MIB
    );
    println!(
        "| heap after the lists, MiB | {:.1} | ≤ 128 |",
        live_listed as f64 / MIB
    );
    println!(
        "| heap peak under churn, MiB | {:.1} | ≤ 128 |",
        peak_churn as f64 / MIB
    );
    println!(
        "| heap under churn (median of samples), MiB | {:.1} | ≤ 128 |",
        live_median as f64 / MIB
    );
    println!("| agent CPU under churn, % of a core | {cpu_pct:.2} | ≤ 5 |");
    println!(
        "| change → plan, p50 / p99 ms ({} measured changes) | {:.1} / {:.1} | ≤ 50 |",
        latencies.len(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!(
        "\n- first complete plan after {:.1} s ({:.1} s of agent CPU); {} capture endpoints, {} mirror backends in the plan",
        sync.as_secs_f64(),
        sync_cpu.as_secs_f64(),
        initial.endpoints.len(),
        mirrors.len()
    );
    println!(
        "- churn: {changes} changes in {:.1} s, {plans_seen} plans published; measured changes never seen in a plan: {lost}; heap at the end {:.1} MiB",
        churn_wall.as_secs_f64(),
        live_churn as f64 / MIB
    );
    println!(
        "- heap = live bytes of the whole process (counting allocator) minus those before the agent started; the API server's objects are generated per request (its pages and watch frames in flight are counted). CPU = the agent thread's schedstat time (source, watch decoding, planner)."
    );
}

/// Pods on the agent's node.
fn expected_pods() -> usize {
    (0..SLICES * ENDPOINTS_PER_SLICE)
        .filter(|g| node_of(*g) == 0)
        .count()
}
