//! One voice per cluster: which agent publishes route-level Events.
//!
//! Every node's agent plans the same routes and finds the same problems; only the holder of
//! one `coordination.k8s.io/v1` Lease publishes them. The election is kube-lease-manager's
//! (server-side apply with conflict detection, so two agents never both take the Lease);
//! this file only runs it in its own task and turns its outcome into an [`ElectionState`].
//!
//! Must never: stop or slow anything but Event publishing. A failing API server, a lost
//! Lease or a renewal error make this agent a follower (it stops publishing) and the task
//! starts again after a bounded back-off; capture and mirroring never wait on it.
//!
//! On a clean stop ([`Election::release`], the agent's SIGTERM) a holder clears the Lease, so
//! another agent takes over on its next attempt instead of after the Lease runs out.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Name of the Lease the agents elect their Event publisher with.
pub const LEASE_NAME: &str = "shadowtap-route-events";

/// Field manager prefix of the Lease's writes (the holder identity follows it).
const FIELD_MANAGER_PREFIX: &str = "shadowtap";

/// Back-off after an election error: first wait, and the cap.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Where and how the agents elect their publisher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease ([`LEASE_NAME`] in the agent).
    pub name: String,
    /// This agent's identity in `spec.holderIdentity` (its node name).
    pub identity: String,
    /// How long a holder's Lease is valid after its last renewal.
    pub duration: Duration,
    /// How often the holder renews (strictly shorter than `duration`).
    pub renew_every: Duration,
}

/// Why a [`LeaseConfig`] cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LeaseConfigError {
    /// Durations are whole seconds in a Lease; these are not.
    #[error("lease {what} must be a whole number of seconds ≥ 1, got {value:?}")]
    NotWholeSeconds {
        /// `duration` or `renewal period`.
        what: &'static str,
        /// The value given.
        value: Duration,
    },
    /// The holder must renew before its Lease runs out.
    #[error(
        "lease renewal period ({renew:?}) must be shorter than the lease duration ({duration:?})"
    )]
    RenewNotShorter {
        /// Renewal period.
        renew: Duration,
        /// Lease duration.
        duration: Duration,
    },
    /// A Lease needs a holder identity.
    #[error("lease holder identity is empty (set the node name)")]
    EmptyIdentity,
}

impl LeaseConfig {
    /// The Lease [`LEASE_NAME`] in `namespace`, held as `identity`.
    pub fn new(
        namespace: impl Into<String>,
        identity: impl Into<String>,
        duration: Duration,
        renew_every: Duration,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            name: LEASE_NAME.into(),
            identity: identity.into(),
            duration,
            renew_every,
        }
    }

    /// Checks the values and turns them into the election crate's parameters: `grace` is
    /// how long before expiry the holder renews, so `duration - renew_every`.
    pub fn params(&self) -> Result<LeaseParams, LeaseConfigError> {
        let secs = |what, value: Duration| {
            if value.subsec_nanos() != 0 || value.as_secs() == 0 {
                Err(LeaseConfigError::NotWholeSeconds { what, value })
            } else {
                Ok(value.as_secs())
            }
        };
        let duration = secs("duration", self.duration)?;
        let renew = secs("renewal period", self.renew_every)?;
        if renew >= duration {
            return Err(LeaseConfigError::RenewNotShorter {
                renew: self.renew_every,
                duration: self.duration,
            });
        }
        if self.identity.is_empty() {
            return Err(LeaseConfigError::EmptyIdentity);
        }
        // Checked above: duration > 0, grace = duration - renew in [1, duration - 1], so
        // `LeaseParams::new` (which panics otherwise) accepts them.
        Ok(
            LeaseParams::new(self.identity.clone(), duration, duration - renew)
                .with_field_manager(format!("{FIELD_MANAGER_PREFIX}-{}", self.identity)),
        )
    }
}

/// What the election task knows, published on a watch channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElectionState {
    /// This agent holds the Lease: it publishes route-level Events.
    pub leading: bool,
    /// Election errors so far (API unreachable, renewal failed, RBAC refused, …).
    pub errors: u64,
}

/// A running election: its state and its task.
#[derive(Debug)]
pub struct Election {
    /// Follows the election (the task ends when every receiver is dropped).
    pub state: watch::Receiver<ElectionState>,
    /// The election task; aborting it stops renewing without releasing the Lease.
    pub task: JoinHandle<Released>,
    /// Asks the task to release the Lease (if held) and end.
    stop: watch::Sender<bool>,
}

/// How a [`Election::release`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// This agent held the Lease and cleared it.
    Cleared,
    /// This agent did not hold the Lease: nothing to clear.
    NotHolder,
    /// Clearing failed or did not finish in time; the Lease runs out on its own.
    Failed,
}

impl Election {
    /// Stops electing and, if this agent holds the Lease, clears it so another agent takes
    /// over at once. Waits at most `within`; past that (or on an error) the Lease simply
    /// runs out as if the agent had crashed.
    pub async fn release(mut self, within: Duration) -> Released {
        // A send error means the task has already ended (every state receiver dropped).
        let _ = self.stop.send(true);
        match tokio::time::timeout(within, &mut self.task).await {
            Ok(Ok(released)) => released,
            Ok(Err(_)) => Released::Failed,
            Err(_) => {
                self.task.abort();
                Released::Failed
            }
        }
    }
}

/// Starts electing in its own task. The parameters are checked first, so a bad
/// configuration is an error here and never a panic later.
pub fn spawn_election(client: Client, cfg: LeaseConfig) -> Result<Election, LeaseConfigError> {
    let params = cfg.params()?;
    let (tx, rx) = watch::channel(ElectionState::default());
    let (stop, mut stop_rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        tokio::select! {
            released = elect(client, &cfg, params, &tx, &mut stop_rx) => released,
            () = tx.closed() => Released::NotHolder,
        }
    });
    Ok(Election {
        state: rx,
        task,
        stop,
    })
}

/// Follows the Lease until asked to stop: (re)builds a manager, reports every change of
/// leadership, and after any error becomes a follower, waits, and starts again from the
/// Lease's state. When `stop` turns true, releases the Lease if held.
async fn elect(
    client: Client,
    cfg: &LeaseConfig,
    params: LeaseParams,
    tx: &watch::Sender<ElectionState>,
    stop: &mut watch::Receiver<bool>,
) -> Released {
    let mut retry = RETRY_FIRST;
    let mut failing = false;
    loop {
        let manager = tokio::select! {
            m = LeaseManager::new(
            client.clone(),
            &cfg.name,
            &cfg.namespace,
            params.clone(),
            LeaseCreateMode::AutoCreate,
            ) => m,
            () = stopped(stop) => return Released::NotHolder,
        };
        let error = match manager {
            Ok(manager) => loop {
                let changed = tokio::select! {
                    changed = manager.changed() => changed,
                    () = stopped(stop) => return release(&manager, cfg, tx).await,
                };
                match changed {
                    Ok(leading) => {
                        retry = RETRY_FIRST;
                        if failing {
                            failing = false;
                            tracing::info!(lease = %cfg.name, "leader election recovered");
                        }
                        tx.send_modify(|s| s.leading = leading);
                        if leading {
                            tracing::info!(lease = %cfg.name, namespace = %cfg.namespace, identity = %cfg.identity, "leading: this agent publishes route events");
                        } else {
                            tracing::info!(lease = %cfg.name, namespace = %cfg.namespace, "following: another agent publishes route events");
                        }
                    }
                    Err(e) => break e,
                }
            },
            Err(e) => e,
        };
        // Not knowing is not leading: stop publishing until the Lease says otherwise.
        tx.send_modify(|s| {
            s.leading = false;
            s.errors += 1;
        });
        if failing {
            tracing::debug!(error = %error, lease = %cfg.name, "leader election still failing");
        } else {
            failing = true;
            tracing::warn!(error = %error, lease = %cfg.name, namespace = %cfg.namespace, "leader election failed; not publishing route events until it recovers");
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = stopped(stop) => return Released::NotHolder,
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// Resolves once the election is asked to stop (or its owner is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The borrow `wait_for` returns is not held across an await.
    let _ = stop.wait_for(|s| *s).await;
}

/// Clears the Lease if this agent holds it, and reports the agent a follower either way.
async fn release(
    manager: &LeaseManager,
    cfg: &LeaseConfig,
    tx: &watch::Sender<ElectionState>,
) -> Released {
    let leading = tx.borrow().leading;
    tx.send_modify(|s| s.leading = false);
    if !leading {
        return Released::NotHolder;
    }
    match manager.release().await {
        Ok(()) => {
            tracing::info!(lease = %cfg.name, namespace = %cfg.namespace, "released the Lease: another agent publishes route events from now on");
            Released::Cleared
        }
        Err(error) => {
            tracing::warn!(%error, lease = %cfg.name, "could not release the Lease; it runs out on its own");
            Released::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(duration: u64, renew: u64) -> LeaseConfig {
        LeaseConfig::new(
            "shadowtap-system",
            "node-a",
            Duration::from_secs(duration),
            Duration::from_secs(renew),
        )
    }

    #[test]
    fn production_defaults_are_accepted() {
        let c = cfg(15, 5);
        assert_eq!(c.name, "shadowtap-route-events");
        assert!(c.params().is_ok());
    }

    #[test]
    fn renewal_must_be_shorter_than_the_lease() {
        assert!(matches!(
            cfg(5, 5).params(),
            Err(LeaseConfigError::RenewNotShorter { .. })
        ));
        assert!(matches!(
            cfg(5, 9).params(),
            Err(LeaseConfigError::RenewNotShorter { .. })
        ));
        assert!(cfg(2, 1).params().is_ok());
    }

    #[test]
    fn zero_and_fractional_seconds_are_refused() {
        assert!(matches!(
            cfg(0, 0).params(),
            Err(LeaseConfigError::NotWholeSeconds {
                what: "duration",
                ..
            })
        ));
        let mut c = cfg(10, 1);
        c.renew_every = Duration::from_millis(1500);
        assert!(matches!(
            c.params(),
            Err(LeaseConfigError::NotWholeSeconds {
                what: "renewal period",
                ..
            })
        ));
    }

    #[test]
    fn an_empty_identity_is_refused() {
        let mut c = cfg(15, 5);
        c.identity.clear();
        assert_eq!(
            c.params().expect_err("no identity"),
            LeaseConfigError::EmptyIdentity
        );
    }
}
