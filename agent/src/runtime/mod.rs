//! The running agent: sources → plan → kernel maps and attachments; ring → pipeline →
//! mirror client; metrics and health; a clean detach on SIGTERM/SIGINT.
//!
//! [`run`] takes a plain [`AgentConfig`] and only wires the parts together; each part has
//! its own file: [`source`] (stores), [`capture`] (the ring → pipeline task), [`control`]
//! (plan → kernel and backends), [`telemetry`] (the registry), [`leadership`] (the Lease
//! election that decides which agent publishes route problems).

mod attachments;
mod capture;
mod clock;
mod config;
mod control;
mod error;
mod leadership;
mod replay_watch;
mod source;
mod telemetry;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use shadowtap_mirror::Replayer;
use shadowtap_reconstruct::{Config as ReconstructConfig, Reconstructor};
use shadowtap_routes::{spawn_planner, Plan, Sampler};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::watch,
};

pub use attachments::Attachments;
pub use clock::monotonic_ns;
pub use config::{AgentConfig, RouteSource};
pub use error::RuntimeError;

use crate::{
    datapath::{
        check_startup, untested_kernel, AttachMode, Capability, Datapath, LoadConfig, MapHandles,
        RingReader, OLDEST_TESTED_KERNEL,
    },
    metrics::{serve, DebugDocs, Health, ServerLimits},
    pipeline::Pipeline,
    wiring::{KernelOwnFlows, ReplayerSink},
};

/// How often plans are re-applied even without a change (new interfaces, retries).
const RECONCILE_EVERY: Duration = Duration::from_secs(5);
/// How long a stopping leader tries to clear the Lease before letting it run out.
const LEASE_RELEASE_WITHIN: Duration = Duration::from_secs(2);

/// The capabilities the configured attach mode needs.
fn needed_capabilities(attach: AttachMode) -> Vec<Capability> {
    let mut needed = vec![Capability::Bpf, Capability::Perfmon, Capability::NetAdmin];
    if attach == AttachMode::Pod {
        needed.push(Capability::SysAdmin);
    }
    needed
}

/// Run the agent until SIGTERM/SIGINT.
pub async fn run(cfg: AgentConfig) -> Result<(), RuntimeError> {
    check_startup(&needed_capabilities(cfg.attach))?;
    if let Some(release) = untested_kernel() {
        let (major, minor) = OLDEST_TESTED_KERNEL;
        tracing::warn!(
            %release,
            "kernel older than the oldest tested ({major}.{minor}); the eBPF programs may not load"
        );
    }
    // Descriptors are what mirror connections need most; take every one the hard limit
    // allows (the metrics server's connection cap keeps clients from using them up).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(descriptors = n, "descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "descriptor limit not raised"),
    }
    let mut sigterm = signal(SignalKind::terminate()).map_err(RuntimeError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(RuntimeError::Signals)?;

    // Serve /metrics, /livez and /readyz first: the Kubernetes lists and the eBPF load can
    // take a while, and probes and scrapes should see an agent that is starting, not a
    // closed port. Not ready until the first plan is applied.
    let health = Health::default();
    let (registry, telemetry) = telemetry::Telemetry::new().split();
    let debug_docs = DebugDocs::default();
    let (bound, server) = serve(
        cfg.metrics_addr,
        registry,
        health.clone(),
        debug_docs.clone(),
        ServerLimits::default(),
    )
    .await
    .map_err(|source| RuntimeError::Metrics {
        addr: cfg.metrics_addr,
        source,
    })?;
    tokio::spawn(server);
    tracing::info!(metrics = %bound, node = %cfg.node_name, "serving metrics");
    let snapshots = telemetry.snapshots.clone();

    let (stores, client) = source::start(&cfg.source, &cfg.node_name).await?;
    let (reporter, election) = telemetry
        .leadership
        .start(client, &cfg.lease)?
        .map_or((None, None), |(r, e)| (Some(r), Some(e)));
    let (mut plans, _planner) =
        spawn_planner(stores, cfg.node_name.clone(), cfg.plan.clone(), reporter);

    let mut dp = Datapath::load(&LoadConfig {
        ring_bytes: cfg.ring_bytes,
        wakeup_threshold: cfg.ring_wakeup_bytes,
        tc_links: cfg.tc_links,
        ..LoadConfig::default()
    })?;
    dp.spawn_log_forwarding();
    let maps = Arc::new(Mutex::new(MapHandles::take(&mut dp)?));
    let ring = RingReader::take(&mut dp)?;
    let ring_stats = ring.stats();

    let replayer = Replayer::with_metrics(
        cfg.mirror.clone(),
        Arc::new(KernelOwnFlows::new(maps.clone())),
        telemetry.replay.clone(),
    )?;
    let mut attachments = Attachments::new(cfg.attach, cfg.xdp_ifaces.clone());
    // Before anything is attached: a killed predecessor's clsact filters still run.
    tokio::task::block_in_place(|| attachments.sweep_stale(&dp, None));
    let mut control = control::Control::new(
        attachments,
        maps.clone(),
        replayer.clone(),
        telemetry.gauges.clone(),
    );

    let pipeline = Pipeline::new(
        Reconstructor::new(ReconstructConfig {
            budgets: cfg.budgets.clone(),
            ..ReconstructConfig::default()
        }),
        cfg.seed.map_or_else(Sampler::from_entropy, Sampler::new),
        if std::env::var_os("SHADOWTAP_WAKE_NOW").is_some() {
            ReplayerSink::new(replayer.clone())
        } else {
            ReplayerSink::deferring(replayer.clone())
        },
        &cfg.mirror.marker_name,
    )
    .with_route_latency(telemetry.route_latency.clone())
    .with_comparator(cfg.comparator.clone())
    .with_compare_latency(telemetry.compare_latency.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let capture_task = tokio::spawn(capture::run(
        pipeline,
        ring,
        cfg.ring_drain,
        plans.clone(),
        capture::Reporting {
            snapshots: snapshots.clone(),
            debug: debug_docs.clone(),
            heartbeat: health.heartbeat("capture"),
        },
        stop_rx,
    ));

    let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
    let mut tick = tokio::time::interval(capture::TICK);
    let mut plan: Arc<Plan> = plans.borrow_and_update().clone();
    let mut dirty = true;
    let control_beat = health.heartbeat("control");
    let replay_beat = health.heartbeat("replay");
    let mut replay_progress = replay_watch::ReplayProgress::default();
    loop {
        control_beat.beat();
        if dirty {
            dirty = false;
            control.apply(&mut dp, &plan);
            if !health.is_ready() {
                health.set_ready(true);
                tracing::info!(
                    endpoints = plan.endpoints.len(),
                    interfaces = control.attached(),
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
            _ = tick.tick() => {
                snapshots.publish("kernel", telemetry::kernel_families(&maps, &ring_stats));
                if replay_progress.healthy(&replayer.snapshot()) {
                    replay_beat.beat();
                }
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }

    tracing::info!("shutting down: stopping capture, draining mirrors, detaching");
    health.set_ready(false);
    let _ = stop_tx.send(true);
    let _ = capture_task.await;
    if let Some(election) = election {
        election.release(LEASE_RELEASE_WITHIN).await;
    }
    let report = replayer.shutdown(cfg.shutdown_grace).await;
    control.detach();
    drop(dp);
    tracing::info!(
        drained = report.drained,
        dropped = report.dropped,
        "stopped"
    );
    Ok(())
}
