//! Plan problems as Kubernetes Events on the HTTPRoute, each reported once.
//!
//! Route status belongs to the parent's controller, so shadowtap reports through Events
//! (events.k8s.io/v1, type Warning). A problem is published when it first appears; it is
//! published again only after it went away and came back (or the route was re-created).

use std::collections::HashSet;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

use crate::model::{ObjectKey, PlanProblem, ProblemReason, Store};

/// Event `action` of shadowtap's problem events.
const EVENT_ACTION: &str = "PlanMirror";

/// Why publishing an event failed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The API server rejected or did not answer.
    #[error("cannot publish event for HTTPRoute {route}: {source}")]
    Publish {
        /// The route.
        route: ObjectKey,
        /// Client error.
        #[source]
        source: kube::Error,
    },
}

type DedupKey = (ObjectKey, Option<String>, String, ProblemReason);

/// Publishes plan problems as Events, deduplicated.
pub struct ProblemReporter {
    recorder: Recorder,
    reported: HashSet<DedupKey>,
}

impl std::fmt::Debug for ProblemReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProblemReporter")
            .field("reported", &self.reported.len())
            .finish()
    }
}

impl ProblemReporter {
    /// A reporter publishing as `reporter` (controller `shadowtap`, instance the node or pod).
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            recorder: Recorder::new(client, reporter),
            reported: HashSet::new(),
        }
    }

    /// Publishes the problems not reported yet; forgets those that disappeared. A failed
    /// publication is retried on the next call.
    pub async fn report(&mut self, store: &Store, problems: &[PlanProblem]) -> Vec<EventError> {
        let mut errors = Vec::new();
        let mut current = HashSet::new();
        for p in problems {
            let Some(route) = store.routes.get(&p.route) else {
                continue;
            };
            let key: DedupKey = (
                p.route.clone(),
                route.metadata.uid.clone(),
                p.field.clone(),
                p.reason,
            );
            if self.reported.contains(&key) {
                current.insert(key);
                continue;
            }
            let ev = Event {
                type_: EventType::Warning,
                reason: p.reason.event_reason(),
                note: Some(truncate(
                    format!("{}: {} ({})", p.field, p.detail, p.reason),
                    1024,
                )),
                action: EVENT_ACTION.into(),
                secondary: None,
            };
            match self.recorder.publish(&ev, &route.object_ref(&())).await {
                Ok(()) => {
                    tracing::info!(problem = %p, "reported problem as event");
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
