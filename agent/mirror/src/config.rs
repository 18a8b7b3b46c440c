//! Replayer configuration: limits, timeouts and the marker header.

use std::time::Duration;

use crate::edit::{HeadEditor, DEFAULT_MARKER_NAME, DEFAULT_MARKER_VALUE};
use crate::error::ConfigError;

/// Limits and timeouts of the replayer. [`Default`] gives the values documented per field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Name of the header added to every replayed request (`x-shadowtap-mirrored`).
    pub marker_name: String,
    /// Value of the marker header (`1`).
    pub marker_value: String,
    /// Requests queued per backend (1024). When full, the oldest queued request of that
    /// backend is dropped (`queue_full`).
    pub queue_depth: usize,
    /// Bytes (head + body) queued over all backends (64 MiB). Over budget, the oldest queued
    /// requests over all backends are dropped (`queue_budget`) until the new one fits; a
    /// request larger than the whole budget is refused.
    pub queue_bytes: usize,
    /// Connections per backend, in use or idle (16). Requests in flight are at most this
    /// times `pipeline_depth`.
    pub max_connections: usize,
    /// Requests written together on one connection before their responses are read (8):
    /// when requests wait in the queue, a worker takes up to this many (within 64 KiB) and
    /// pipelines them. 1 disables pipelining.
    pub pipeline_depth: usize,
    /// Time to establish a connection (1 s).
    pub connect_timeout: Duration,
    /// Time to write a request and read its whole response (5 s).
    pub request_timeout: Duration,
    /// Idle time after which a pooled connection is closed (4 s, below common server
    /// keep-alive timeouts).
    pub idle_timeout: Duration,
    /// First back-off of an endpoint after a connect failure (1 s).
    pub backoff_initial: Duration,
    /// Longest back-off; it doubles per consecutive failure up to this (30 s).
    pub backoff_max: Duration,
    /// Largest response head accepted (64 KiB).
    pub max_response_head: usize,
    /// Most HTTP/2 connections per mirror endpoint, for requests captured over HTTP/2. Each
    /// carries many streams at once (the batch of a worker, up to `pipeline_depth`, goes out
    /// together); a second connection opens only while the first carries `pipeline_depth`
    /// streams or more. They count against `max_connections` like HTTP/1 ones.
    pub h2_connections: usize,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            marker_name: DEFAULT_MARKER_NAME.to_owned(),
            marker_value: DEFAULT_MARKER_VALUE.to_owned(),
            queue_depth: 1024,
            queue_bytes: 64 << 20,
            max_connections: 16,
            pipeline_depth: 8,
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(4),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            max_response_head: 64 << 10,
            h2_connections: 2,
        }
    }
}

impl ReplayConfig {
    /// Checks the values; returns the marker editor.
    pub(crate) fn validate(&self) -> Result<HeadEditor, ConfigError> {
        let positive = [
            ("queue_depth", self.queue_depth == 0),
            ("queue_bytes", self.queue_bytes == 0),
            ("max_connections", self.max_connections == 0),
            ("pipeline_depth", self.pipeline_depth == 0),
            ("connect_timeout", self.connect_timeout.is_zero()),
            ("request_timeout", self.request_timeout.is_zero()),
            ("idle_timeout", self.idle_timeout.is_zero()),
            ("backoff_initial", self.backoff_initial.is_zero()),
            ("max_response_head", self.max_response_head == 0),
            ("h2_connections", self.h2_connections == 0),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(ConfigError::Zero { field });
        }
        HeadEditor::new(&self.marker_name, &self.marker_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(ReplayConfig::default().validate().is_ok());
        let c = ReplayConfig {
            max_connections: 0,
            ..Default::default()
        };
        assert_eq!(
            c.validate().err(),
            Some(ConfigError::Zero {
                field: "max_connections"
            })
        );
    }
}
