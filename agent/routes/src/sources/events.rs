//! Plan problems as Kubernetes Events on the route (HTTPRoute or GRPCRoute): one Event per
//! problem per cluster.
//!
//! Route status belongs to the parent's controller, so shadowtap reports through Events
//! (events.k8s.io/v1, type Warning). Two mechanisms keep it to one Event per problem:
//!
//! - **Who publishes.** Route-level problems (everything that depends on the route and the
//!   objects it refers to, which every agent sees alike) are published only by the agent
//!   holding the Lease ([`super::leader`]), when a reporter [follows](ProblemReporter::follow)
//!   an election. Node-level problems ([`ProblemReason::depends_on_node`]) are published by
//!   every agent that sees them.
//! - **Deterministic names.** Each Event is created under a name derived from the problem
//!   ([`super::event_name`]). When another agent already created it (the former leader before
//!   a takeover, or a second agent that briefly believed it led, or a node that saw the same
//!   node-level problem), creation fails with `AlreadyExists` and the problem counts as
//!   reported. A new leader therefore publishes the problems that appeared meanwhile and
//!   nothing twice, without listing Events.
//!
//! Within one agent, a problem is attempted once while it stays present; one that goes away
//! and comes back is attempted again, and is published again when its route was edited since
//! (the name includes the route's generation) or its former Event has expired.

use std::collections::HashSet;

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::events::Reporter;
use kube::{Client, Resource};
use tokio::sync::watch;

use super::event_name::ProblemIdentity;
use super::leader::ElectionState;
use crate::model::{ObjectKey, PlanProblem, ProblemReason, RouteKind, Store};

/// Event `action` of shadowtap's problem events.
const EVENT_ACTION: &str = "PlanMirror";
/// Longest Event `note` the API server accepts.
const MAX_NOTE: usize = 1024;

/// Why publishing an event failed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The API server rejected or did not answer.
    #[error("cannot publish event for route {route}: {source}")]
    Publish {
        /// The route.
        route: ObjectKey,
        /// Client error.
        #[source]
        source: kube::Error,
    },
}

/// What a reporter remembers of a problem it has handled.
type DedupKey = (
    ObjectKey,
    Option<String>,
    Option<i64>,
    String,
    ProblemReason,
);

/// Publishes plan problems as Events, once per problem per cluster.
pub struct ProblemReporter {
    client: Client,
    reporter: Reporter,
    /// The election this reporter follows; `None`: it publishes everything (a lone agent).
    election: Option<watch::Receiver<ElectionState>>,
    /// Whether route-level problems were published at the last report.
    leading: bool,
    /// Problems created, or found already created, since leadership last changed.
    reported: HashSet<DedupKey>,
}

impl std::fmt::Debug for ProblemReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProblemReporter")
            .field("follows_election", &self.election.is_some())
            .field("leading", &self.leading)
            .field("reported", &self.reported.len())
            .finish()
    }
}

impl ProblemReporter {
    /// A reporter publishing as `reporter` (controller `shadowtap`, instance the node). On
    /// its own it publishes every problem; see [`follow`](Self::follow).
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            election: None,
            leading: true,
            reported: HashSet::new(),
        }
    }

    /// Publishes route-level problems only while `election` says this agent leads (an
    /// election whose task ended counts as not leading).
    pub fn follow(mut self, election: watch::Receiver<ElectionState>) -> Self {
        self.election = Some(election);
        self.leading = false;
        self
    }

    /// Whether route-level problems are this reporter's to publish now.
    pub fn is_leading(&self) -> bool {
        match &self.election {
            None => true,
            Some(rx) => rx.has_changed().is_ok() && rx.borrow().leading,
        }
    }

    /// Resolves when [`is_leading`](Self::is_leading) differs from the last report's view
    /// (the planner then reports again); never, without an election.
    pub async fn leadership_changed(&mut self) {
        let last = self.leading;
        let Some(rx) = self.election.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            // As `is_leading`: an ended election is not leading (and its last value stale).
            let now = rx.has_changed().is_ok() && rx.borrow_and_update().leading;
            if now != last {
                return;
            }
            if rx.changed().await.is_err() {
                // The election ended: not leading from now on.
                if last {
                    return;
                }
                return std::future::pending().await;
            }
        }
    }

    /// Publishes the problems this agent is to publish and has not handled yet; forgets
    /// those that disappeared. A failed publication is retried on the next call.
    pub async fn report(&mut self, store: &Store, problems: &[PlanProblem]) -> Vec<EventError> {
        let leading = self.is_leading();
        if leading != self.leading {
            // A new leader checks every current problem again: those already published
            // answer AlreadyExists.
            self.leading = leading;
            self.reported.clear();
        }
        let mut errors = Vec::new();
        let mut current = HashSet::new();
        for p in problems {
            if !leading && !p.reason.depends_on_node() {
                continue;
            }
            let found = match p.kind {
                RouteKind::Http => store
                    .routes
                    .get(&p.route)
                    .map(|r| (&r.metadata, r.object_ref(&()))),
                RouteKind::Grpc => store
                    .grpc_routes
                    .get(&p.route)
                    .map(|r| (&r.metadata, r.object_ref(&()))),
            };
            let Some((meta, regarding)) = found else {
                continue;
            };
            let key: DedupKey = (
                p.route.clone(),
                meta.uid.clone(),
                meta.generation,
                p.field.clone(),
                p.reason,
            );
            if self.reported.contains(&key) {
                current.insert(key);
                continue;
            }
            let identity = ProblemIdentity {
                namespace: &p.route.namespace,
                name: &p.route.name,
                uid: meta.uid.as_deref().unwrap_or(""),
                generation: meta.generation.unwrap_or(0),
                field: &p.field,
                reason: p.reason,
            };
            let event = self.event(p, identity.event_name(), regarding);
            let api: Api<Event> = Api::namespaced(self.client.clone(), &p.route.namespace);
            match api.create(&PostParams::default(), &event).await {
                Ok(_) => {
                    tracing::info!(problem = %p, "reported problem as event");
                    current.insert(key);
                }
                Err(kube::Error::Api(status))
                    if status.code == 409 && status.reason == "AlreadyExists" =>
                {
                    tracing::debug!(problem = %p, "problem already reported by another agent");
                    current.insert(key);
                }
                Err(source) => errors.push(EventError::Publish {
                    route: p.route.clone(),
                    source,
                }),
            }
        }
        self.reported = current;
        errors
    }

    /// The Event of one problem, as kube's `Recorder` would build it, under `name`.
    fn event(
        &self,
        p: &PlanProblem,
        name: String,
        regarding: k8s_openapi::api::core::v1::ObjectReference,
    ) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(p.route.namespace.clone()),
                ..ObjectMeta::default()
            },
            action: Some(EVENT_ACTION.into()),
            reason: Some(p.reason.event_reason()),
            note: Some(truncate(
                format!("{}: {} ({})", p.field, p.detail, p.reason),
                MAX_NOTE,
            )),
            event_time: Some(MicroTime(Timestamp::now())),
            regarding: Some(regarding),
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some("Warning".into()),
            ..Event::default()
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{Request, Response};

    use super::*;

    /// A client whose requests nobody answers: these tests make none.
    fn client() -> Client {
        let (svc, _handle) =
            tower_test::mock::pair::<Request<kube::client::Body>, Response<kube::client::Body>>();
        Client::new(svc, "default")
    }

    async fn resolves(r: &mut ProblemReporter) -> bool {
        tokio::time::timeout(Duration::from_millis(200), r.leadership_changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn leadership_changes_wake_the_planner_and_an_ended_election_is_not_leading() {
        let (tx, rx) = watch::channel(ElectionState::default());
        let mut r = ProblemReporter::new(client(), Reporter::from("shadowtap")).follow(rx);
        let store = Store::new();
        assert!(!r.is_leading());
        assert!(!resolves(&mut r).await, "nothing changed yet");

        tx.send_replace(ElectionState {
            leading: true,
            errors: 0,
        });
        assert!(resolves(&mut r).await);
        assert!(r.report(&store, &[]).await.is_empty());
        assert!(r.is_leading());
        // An error count alone is no change of leadership.
        tx.send_replace(ElectionState {
            leading: true,
            errors: 1,
        });
        assert!(!resolves(&mut r).await);

        // The election task ends while leading: one wake-up, then not leading, and quiet.
        drop(tx);
        assert!(!r.is_leading());
        assert!(resolves(&mut r).await);
        assert!(r.report(&store, &[]).await.is_empty());
        assert!(!resolves(&mut r).await, "no busy loop on a closed election");
    }

    #[tokio::test]
    async fn a_reporter_without_an_election_always_publishes_and_never_wakes() {
        let mut r = ProblemReporter::new(client(), Reporter::from("shadowtap"));
        assert!(r.is_leading());
        assert!(!resolves(&mut r).await);
    }
}
