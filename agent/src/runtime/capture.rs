//! The capture task: ring records → the pipeline (reassembly, decoding, routing, sampling),
//! on one task so the ring (budgeted, counted by the kernel when full) is the only capture
//! backlog.

use std::{sync::Arc, time::Duration};

use shadowtap_reconstruct::Segment;
use shadowtap_routes::Plan;
use tokio::sync::watch;

use super::monotonic_ns;
use crate::wiring::ReplayerSink;
use crate::{
    datapath::RingReader,
    metrics::{DebugDocs, Heartbeat, Snapshots, DIVERGENCES},
    pipeline::Pipeline,
};

/// How often counters are published and capture time advanced.
pub const TICK: Duration = Duration::from_millis(250);
/// Records taken from the ring before the task lets other work run.
const RING_BATCH: usize = 1024;

/// Where the capture task reports: counter snapshots, the divergence document, liveness.
pub struct Reporting {
    /// Counter snapshots, published every [`TICK`].
    pub snapshots: Snapshots,
    /// Documents served under `/debug/` (the recent divergent pairs).
    pub debug: DebugDocs,
    /// Beaten on every loop turn.
    pub heartbeat: Heartbeat,
}

/// Runs until `stop` changes or the ring fails; follows `plans`. The ring is drained when
/// the kernel wakes the task (unread data past the wake-up threshold) or every `drain`.
pub async fn run(
    mut pipeline: Pipeline<ReplayerSink>,
    mut ring: RingReader,
    drain: Duration,
    mut plans: watch::Receiver<Arc<Plan>>,
    reporting: Reporting,
    mut stop: watch::Receiver<bool>,
) {
    let Reporting {
        snapshots,
        debug,
        heartbeat,
    } = reporting;
    pipeline.set_plan(plans.borrow_and_update().clone());
    let mut tick = tokio::time::interval(TICK);
    // Whether the last visit stopped at RING_BATCH with records left.
    let mut more = false;
    loop {
        heartbeat.beat();
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
                debug.publish(DIVERGENCES, pipeline.comparison().divergences_json());
            }
            waited = ring.wait(drain), if !more => {
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
        // The pass's mirrors go out together: one wake-up per backend, whole batches.
        pipeline.flush_mirrors();
        pipeline.poll_comparisons();
    }
    pipeline.publish(&snapshots);
    debug.publish(DIVERGENCES, pipeline.comparison().divergences_json());
}
