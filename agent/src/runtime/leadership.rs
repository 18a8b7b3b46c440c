//! Who publishes route problems: the Lease election, its reporter and its metrics.
//!
//! Every agent runs the election in its own task ([`shadowtap_routes::spawn_election`]); the
//! planner's [`ProblemReporter`] follows it, so route-level problems are published by the
//! agent holding the Lease only. Nothing else reads the election: capture, the plan, the
//! kernel maps and mirroring go on whatever it says, and an election that fails (API server
//! unreachable, renewal refused) only pauses Event publishing on this node.

use kube::runtime::events::Reporter;
use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};
use shadowtap_routes::{spawn_election, Election, ElectionState, LeaseConfig, ProblemReporter};
use tokio::sync::watch;

use super::RuntimeError;

/// Controller name of shadowtap's Events.
const CONTROLLER: &str = "shadowtap";

/// The election's metrics: `shadowtap_leader` and `shadowtap_leader_election_errors_total`.
#[derive(Clone, Debug, Default)]
pub struct Leadership {
    leader: Gauge,
    errors: Counter,
}

impl Leadership {
    /// With a cluster: starts the election, keeps these metrics in step with it, and returns
    /// the reporter that follows it and the election (released on shutdown). Without one
    /// (file source): neither, and the gauge stays 0.
    pub fn start(
        &self,
        client: Option<kube::Client>,
        lease: &LeaseConfig,
    ) -> Result<Option<(ProblemReporter, Election)>, RuntimeError> {
        let Some(client) = client else {
            return Ok(None);
        };
        let election = spawn_election(client.clone(), lease.clone())?;
        tokio::spawn(self.clone().follow(election.state.clone()));
        let reporter = ProblemReporter::new(
            client,
            Reporter {
                controller: CONTROLLER.into(),
                instance: Some(lease.identity.clone()),
            },
        )
        .follow(election.state.clone());
        tracing::info!(
            lease = %lease.name,
            namespace = %lease.namespace,
            identity = %lease.identity,
            "electing the agent that publishes route problems"
        );
        Ok(Some((reporter, election)))
    }

    /// Adds the election's metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "leader",
            "1 while this agent holds the Lease and publishes route problems as Events.",
            self.leader.clone(),
        );
        registry.register(
            "leader_election_errors",
            "Failed Lease requests (API server unreachable, renewal refused); each makes this agent a follower until the election recovers.",
            self.errors.clone(),
        );
    }

    /// Mirrors the election's state into the metrics until the election ends.
    async fn follow(self, mut state: watch::Receiver<ElectionState>) {
        let mut seen_errors = 0;
        loop {
            let now = *state.borrow_and_update();
            self.update(now, &mut seen_errors);
            if state.changed().await.is_err() {
                self.leader.set(0);
                return;
            }
        }
    }

    fn update(&self, now: ElectionState, seen_errors: &mut u64) {
        self.leader.set(i64::from(now.leading));
        if now.errors > *seen_errors {
            self.errors.inc_by(now.errors - *seen_errors);
            *seen_errors = now.errors;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(l: &Leadership) -> String {
        let mut registry = Registry::with_prefix("shadowtap");
        l.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        out
    }

    #[tokio::test]
    async fn the_gauge_follows_the_election_and_drops_when_it_ends() {
        let l = Leadership::default();
        let (tx, rx) = watch::channel(ElectionState::default());
        let task = tokio::spawn(l.clone().follow(rx));
        let wait = |want: &'static str| {
            let l = l.clone();
            async move {
                tokio::time::timeout(std::time::Duration::from_secs(10), async {
                    while !rendered(&l).contains(want) {
                        tokio::task::yield_now().await;
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("never rendered {want:?}:\n{}", rendered(&l)));
            }
        };
        assert!(rendered(&l).contains("shadowtap_leader 0\n"));
        tx.send_replace(ElectionState {
            leading: true,
            errors: 0,
        });
        wait("shadowtap_leader 1\n").await;
        tx.send_replace(ElectionState {
            leading: false,
            errors: 2,
        });
        wait("shadowtap_leader_election_errors_total 2\n").await;
        assert!(rendered(&l).contains("shadowtap_leader 0\n"));
        tx.send_replace(ElectionState {
            leading: true,
            errors: 2,
        });
        wait("shadowtap_leader 1\n").await;
        drop(tx);
        task.await.expect("follow ends with the election");
        assert!(rendered(&l).contains("shadowtap_leader 0\n"));
        assert!(rendered(&l).contains("shadowtap_leader_election_errors_total 2\n"));
    }

    /// The agent's registry (served from its first second) carries the election's metrics.
    #[test]
    fn the_agent_registry_serves_the_leader_gauge() {
        let (registry, _handles) = crate::runtime::telemetry::Telemetry::new().split();
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        assert!(out.contains("\nshadowtap_leader 0\n"), "{out}");
        assert!(
            out.contains("\nshadowtap_leader_election_errors_total 0\n"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn without_a_cluster_there_is_no_reporter_and_no_leader() {
        let lease = LeaseConfig::new(
            "shadowtap-system",
            "node-a",
            std::time::Duration::from_secs(15),
            std::time::Duration::from_secs(5),
        );
        let l = Leadership::default();
        let reporter = l.start(None, &lease).expect("starts");
        assert!(reporter.is_none());
        assert!(rendered(&l).contains("shadowtap_leader 0\n"));
    }
}
