//! Turning a stream of stores (from either source) into a stream of plans, reporting
//! problems as Events when a reporter is given.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::events::ProblemReporter;
use crate::compile::{plan, PlanConfig};
use crate::model::{Plan, Store};

/// Plans every store `stores` yields (the current one first) and publishes the plans; with a
/// reporter, new problems become Events on their routes (planned again when the reporter's
/// leadership changes, so a new leader publishes at once).
pub fn spawn_planner(
    mut stores: watch::Receiver<Arc<Store>>,
    node: String,
    cfg: PlanConfig,
    mut reporter: Option<ProblemReporter>,
) -> (watch::Receiver<Arc<Plan>>, JoinHandle<()>) {
    let first = {
        let s = stores.borrow_and_update().clone();
        Arc::new(plan(&s, &node, &cfg))
    };
    let (tx, rx) = watch::channel(first);
    let task = tokio::spawn(async move {
        loop {
            let store = stores.borrow_and_update().clone();
            let p = plan(&store, &node, &cfg);
            if let Some(r) = reporter.as_mut() {
                for e in r.report(&store, &p.problems).await {
                    tracing::warn!(error = %e, "event not published");
                }
            }
            for prob in &p.problems {
                tracing::debug!(problem = %prob, "plan problem");
            }
            let changed = **tx.borrow() != p;
            if changed && tx.send(Arc::new(p)).is_err() {
                return;
            }
            // A new store, or a change of leadership (the new leader publishes what the
            // plan holds now).
            let next = async {
                match reporter.as_mut() {
                    Some(r) => {
                        tokio::select! {
                            changed = stores.changed() => changed.is_ok(),
                            () = r.leadership_changed() => true,
                        }
                    }
                    None => stores.changed().await.is_ok(),
                }
            };
            if !next.await {
                return;
            }
        }
    });
    (rx, task)
}
