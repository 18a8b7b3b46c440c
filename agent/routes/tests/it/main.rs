//! Integration tests of shadowtap-routes (one binary).
#![allow(clippy::unwrap_used, missing_docs)]

mod compare;
mod diff;
mod fake_lease_api;
mod file_source;
mod fixtures;
mod gamma;
mod grpcroute;
mod incremental;
mod kube_mock;
mod leader_election;
mod listeners;
mod precedence;
mod robustness;
mod sampling;
mod selector;
mod service_ports;
mod util;
mod validation;
