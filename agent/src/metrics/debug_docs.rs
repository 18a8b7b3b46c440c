//! Documents the agent serves under `/debug/` (JSON), replaced whole by the task that owns
//! their data, so the server never reaches into a running loop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// `/debug/divergences`: recent divergent pairs of comparing routes.
pub const DIVERGENCES: &str = "divergences";

/// Named JSON documents, shared by their publishers and the metrics server.
#[derive(Clone, Debug, Default)]
pub struct DebugDocs(Arc<Mutex<BTreeMap<&'static str, String>>>);

impl DebugDocs {
    /// Replace document `name` with `json`.
    pub fn publish(&self, name: &'static str, json: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, json);
    }

    /// Document `name`, if published.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}
