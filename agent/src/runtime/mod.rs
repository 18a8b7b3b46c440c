//! The running agent: sources → plan → kernel maps and attachments; ring → pipeline →
//! replay; metrics and health; a clean detach on SIGTERM/SIGINT.

mod attachments;
mod clock;
mod endpoints;
mod error;
mod own_flows;
mod sink;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{atomic::Ordering, Arc, Mutex},
    time::Duration,
};

use prometheus_client::{
    metrics::{family::Family as PromFamily, gauge::Gauge},
    registry::Registry,
};
use shadowtap_mirror::{ReplayConfig, Replayer};
use shadowtap_reconstruct::{Budgets, Config as ReconstructConfig, Reconstructor, Segment};
use shadowtap_routes::{spawn_planner, Plan, PlanConfig, Sampler, Store};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::watch,
};

pub use attachments::Attachments;
pub use clock::monotonic_ns;
pub use endpoints::{desired_endpoints, sync_backends, sync_endpoints};
pub use error::RuntimeError;
pub use own_flows::KernelOwnFlows;
pub use sink::{backend_id, ReplaySink};

use crate::{
    cli::{AgentArgs, AttachMode},
    datapath::{check_startup, Capability, Datapath, LoadConfig, MapHandles, RingReader},
    metrics::{serve, Family, FamilyKind, Health, Snapshots},
    pipeline::Pipeline,
};

/// How often plans are re-applied even without a change (new interfaces, retries).
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// How often counters are published and capture time advanced.
const TICK: Duration = Duration::from_millis(250);
/// How often the ring is drained when no wake-up came.
const RING_DRAIN: Duration = Duration::from_millis(10);
/// Records taken from the ring before the pipeline task lets other work run.
const RING_BATCH: usize = 1024;

/// Stores from the configured source.
async fn start_source(
    args: &AgentArgs,
) -> Result<(watch::Receiver<Arc<Store>>, Option<kube::Client>), RuntimeError> {
    if let Some(path) = &args.source.routes {
        let watch = shadowtap_routes::FileWatch::new(path.clone())?;
        let (stores, mut errors, _task) = watch.spawn(Duration::from_millis(500));
        tokio::spawn(async move {
            while let Some(e) = errors.recv().await {
                tracing::debug!(error = %e, "routes file rejected");
            }
        });
        return Ok((stores, None));
    }
    let client = kube::Client::try_default()
        .await
        .map_err(RuntimeError::KubeClient)?;
    let mut source = shadowtap_routes::kube_source::start(
        client.clone(),
        shadowtap_routes::KubeSourceConfig::new(&args.node_name),
    );
    source.initial().await?;
    let mut errors = source.errors;
    tokio::spawn(async move {
        while let Some(e) = errors.recv().await {
            tracing::warn!(error = %e, "Kubernetes watch error");
        }
    });
    Ok((source.stores, Some(client)))
}

fn kernel_families(maps: &Mutex<MapHandles>, ring: &crate::datapath::RingStats) -> Vec<Family> {
    let mut out = Vec::new();
    let snap = maps.lock().unwrap_or_else(|e| e.into_inner()).counters();
    if let Ok(snap) = snap {
        out.push(Family {
            name: "kernel_packets",
            help: "Packets seen by the kernel programs, by outcome (bytes_copied counts bytes).",
            kind: FamilyKind::Counter,
            label: "outcome",
            values: snap.iter().map(|(c, v)| (c.name(), v)).collect(),
        });
    }
    out.push(Family {
        name: "ring_records",
        help: "Ring buffer records read by user space, by outcome.",
        kind: FamilyKind::Counter,
        label: "outcome",
        values: vec![
            ("read", ring.records.load(Ordering::Relaxed)),
            ("malformed", ring.malformed.load(Ordering::Relaxed)),
        ],
    });
    out
}

/// Run the agent until SIGTERM/SIGINT.
pub async fn run(args: AgentArgs, plan_cfg: PlanConfig) -> Result<(), RuntimeError> {
    let mut needed = vec![Capability::Bpf, Capability::Perfmon, Capability::NetAdmin];
    if args.attach == AttachMode::Pod {
        needed.push(Capability::SysAdmin);
    }
    check_startup(&needed)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(RuntimeError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RuntimeError::Signals)?;

    let (stores, client) = start_source(&args).await?;
    let reporter = client.map(|c| {
        shadowtap_routes::events::ProblemReporter::new(
            c,
            kube::runtime::events::Reporter {
                controller: "shadowtap".into(),
                instance: Some(args.node_name.clone()),
            },
        )
    });
    let (mut plans, _planner) = spawn_planner(stores, args.node_name.clone(), plan_cfg, reporter);

    let mut dp = Datapath::load(&LoadConfig {
        ring_bytes: args.ring_bytes,
        ..LoadConfig::default()
    })?;
    if let Some(logger) = dp.take_logger() {
        tokio::spawn(forward_kernel_logs(logger));
    }
    let maps = Arc::new(Mutex::new(MapHandles::take(&mut dp)?));
    let ring = RingReader::take(&mut dp)?;
    let ring_stats = ring.stats();

    let replayer = Replayer::new(
        ReplayConfig {
            marker_name: args.marker_header.clone(),
            queue_bytes: args.replay_queue_budget,
            queue_depth: args.mirror_queue_depth,
            max_connections: args.mirror_connections,
            pipeline_depth: args.mirror_pipeline_depth,
            request_timeout: Duration::from_millis(args.mirror_timeout_ms),
            connect_timeout: Duration::from_millis(args.mirror_connect_timeout_ms),
            ..ReplayConfig::default()
        },
        Arc::new(KernelOwnFlows::new(maps.clone())),
    )?;

    let snapshots = Snapshots::default();
    let problems: PromFamily<Vec<(String, String)>, Gauge> = PromFamily::default();
    let attached = Gauge::<i64>::default();
    let mut registry = Registry::with_prefix("shadowtap");
    registry.register_collector(Box::new(snapshots.collector()));
    replayer.metrics().register(&mut registry);
    registry.register(
        "plan_problems",
        "Problems in the routes, by route, field and reason (1 while present).",
        problems.clone(),
    );
    registry.register(
        "attached_interfaces",
        "Interfaces with a capture program attached.",
        attached.clone(),
    );
    let health = Health::default();
    let (bound, server) = serve(args.metrics_addr, Arc::new(registry), health.clone())
        .await
        .map_err(|source| RuntimeError::Metrics {
            addr: args.metrics_addr,
            source,
        })?;
    tokio::spawn(server);
    tracing::info!(metrics = %bound, node = %args.node_name, "serving metrics");

    // Capture → pipeline: one task reads the ring and runs the pipeline on each record, so
    // the ring (budgeted, counted by the kernel when full) is the only capture backlog.
    let recon = Reconstructor::new(ReconstructConfig {
        budgets: Budgets {
            reassembly_bytes: args.reassembly_budget,
            inflight_bytes: args.body_budget,
            ..Budgets::default()
        },
        ..ReconstructConfig::default()
    });
    let sampler = args.seed.map_or_else(Sampler::from_entropy, Sampler::new);
    let pipeline = Pipeline::new(
        recon,
        sampler,
        ReplaySink::new(replayer.clone()),
        &args.marker_header,
    )
    .with_flow_sampling(args.flow_sampling);
    let (stop_tx, stop_rx) = watch::channel(false);
    let pipeline_task = tokio::spawn(run_pipeline(
        pipeline,
        ring,
        plans.clone(),
        snapshots.clone(),
        stop_rx,
    ));

    // Control: plan → kernel map, attachments, replay backends.
    let mut attachments = Attachments::new(args.attach, args.xdp_ifaces.clone());
    let mut applied = BTreeMap::new();
    let mut backends = BTreeSet::new();
    let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
    let mut tick = tokio::time::interval(TICK);
    let mut plan: Arc<Plan> = plans.borrow_and_update().clone();
    let mut dirty = true;
    loop {
        if dirty {
            dirty = false;
            tokio::task::block_in_place(|| attachments.reconcile(&mut dp, &plan));
            let desired = desired_endpoints(&plan, args.flow_sampling);
            let result = {
                let mut m = maps.lock().unwrap_or_else(|e| e.into_inner());
                sync_endpoints(&mut m, &mut applied, desired)
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "endpoint map not updated");
            }
            backends = sync_backends(&replayer, &plan, &backends);
            problems.clear();
            for p in &plan.problems {
                problems
                    .get_or_create(&vec![
                        ("route".to_owned(), p.route.to_string()),
                        ("field".to_owned(), p.field.clone()),
                        ("reason".to_owned(), p.reason.as_str().to_owned()),
                    ])
                    .set(1);
            }
            attached.set(attachments.count() as i64);
            if !health.is_ready() {
                health.set_ready(true);
                tracing::info!(
                    endpoints = plan.endpoints.len(),
                    interfaces = attachments.count(),
                    "capturing"
                );
            }
        }
        tokio::select! {
            changed = plans.changed() => {
                if changed.is_err() { break; }
                plan = plans.borrow_and_update().clone();
                tracing::info!(endpoints = plan.endpoints.len(), problems = plan.problems.len(), "plan changed");
                dirty = true;
            }
            _ = reconcile.tick() => dirty = true,
            _ = tick.tick() => snapshots.publish("kernel", kernel_families(&maps, &ring_stats)),
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }

    tracing::info!("shutting down: stopping capture, draining mirrors, detaching");
    health.set_ready(false);
    let _ = stop_tx.send(true);
    let _ = pipeline_task.await;
    let report = replayer
        .shutdown(Duration::from_secs(args.shutdown_grace_secs))
        .await;
    attachments.clear();
    drop(dp);
    tracing::info!(
        drained = report.drained,
        dropped = report.dropped,
        "stopped"
    );
    Ok(())
}

async fn run_pipeline(
    mut pipeline: Pipeline<ReplaySink>,
    mut ring: RingReader,
    mut plans: watch::Receiver<Arc<Plan>>,
    snapshots: Snapshots,
    mut stop: watch::Receiver<bool>,
) {
    pipeline.set_plan(plans.borrow_and_update().clone());
    let mut tick = tokio::time::interval(TICK);
    // Whether the last visit stopped at RING_BATCH with records left.
    let mut more = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            changed = plans.changed() => {
                if changed.is_err() { break; }
                pipeline.set_plan(plans.borrow_and_update().clone());
            }
            _ = tick.tick() => {
                pipeline.advance_time(monotonic_ns());
                pipeline.publish(&snapshots);
            }
            waited = ring.wait(RING_DRAIN), if !more => {
                if let Err(e) = waited {
                    tracing::error!(error = %e, "capture stopped");
                    break;
                }
            }
            () = tokio::task::yield_now(), if more => {}
        }
        let visited = ring.visit(RING_BATCH, |raw| {
            let seg = Segment::from_ring_record(raw).map_err(|e| e.to_string())?;
            pipeline.push(seg);
            Ok(())
        });
        more = visited == RING_BATCH;
    }
    pipeline.publish(&snapshots);
}

async fn forward_kernel_logs(mut logger: aya_log::EbpfLogger<&'static dyn log::Log>) {
    let raw = std::os::fd::AsRawFd::as_raw_fd(&logger);
    // SAFETY: the fd belongs to `logger`, which is declared before `fd` and so outlives it;
    // it stays open and unchanged for as long as `fd` exists.
    #[allow(unsafe_code)]
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(raw, tokio::io::Interest::READABLE)
    };
    let fd = match registered {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "kernel log forwarding disabled");
            return;
        }
    };
    loop {
        match fd.readable().await {
            Ok(mut guard) => {
                logger.flush();
                guard.clear_ready();
            }
            Err(_) => return,
        }
    }
}
