//! Turning a stream of stores (from either source) into a stream of plans, reporting
//! problems as Events when a reporter is given.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::events::ProblemReporter;
use crate::compile::{IncrementalPlanner, PlanConfig};
use crate::model::{Plan, RouteKind, Store};

/// The routes the problems of `plan` are about (all a reporter reads of the store).
fn problem_routes(store: &Store, plan: &Plan) -> Store {
    let mut out = Store::new();
    for p in &plan.problems {
        match p.kind {
            RouteKind::Http => {
                if let Some(r) = store.routes.get(&p.route) {
                    out.put(r.clone());
                }
            }
            RouteKind::Grpc => {
                if let Some(r) = store.grpc_routes.get(&p.route) {
                    out.put(r.clone());
                }
            }
        }
    }
    out
}

/// Plans every store `stores` yields (the current one first) and publishes the plans; with a
/// reporter, new problems become Events on their routes (planned again when the reporter's
/// leadership changes, so a new leader publishes at once).
///
/// Plans are incremental ([`IncrementalPlanner`]): only the routes whose inputs changed are
/// analysed again. No store is held between plans, so the source can bring its store in
/// step in place.
pub fn spawn_planner(
    mut stores: watch::Receiver<Arc<Store>>,
    node: String,
    cfg: PlanConfig,
    mut reporter: Option<ProblemReporter>,
) -> (watch::Receiver<Arc<Plan>>, JoinHandle<()>) {
    let mut planner = IncrementalPlanner::new(node, cfg);
    let first = {
        let s = stores.borrow_and_update().clone();
        planner.plan_shared(&s)
    };
    let (tx, rx) = watch::channel(first);
    let task = tokio::spawn(async move {
        loop {
            let (p, reported) = {
                let store = stores.borrow_and_update().clone();
                let p = planner.plan_shared(&store);
                let reported = reporter.is_some().then(|| problem_routes(&store, &p));
                (p, reported)
            };
            if let (Some(r), Some(store)) = (reporter.as_mut(), reported) {
                for e in r.report(&store, &p.problems).await {
                    tracing::warn!(error = %e, "event not published");
                }
            }
            for prob in &p.problems {
                tracing::debug!(problem = %prob, "plan problem");
            }
            // The planner hands back the plan it published when nothing changed, and says
            // when it changed the plan in place; otherwise compare.
            let changed = {
                let current = tx.borrow();
                !Arc::ptr_eq(&current, &p) && (planner.patched() || **current != *p)
            };
            if changed && tx.send(p).is_err() {
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
