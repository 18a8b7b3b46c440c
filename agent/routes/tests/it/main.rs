//! Integration tests of shadowtap-routes (one binary).
#![allow(clippy::unwrap_used, missing_docs)]

mod diff;
mod file_source;
mod fixtures;
mod gamma;
mod kube_mock;
mod listeners;
mod precedence;
mod robustness;
mod sampling;
mod selector;
mod util;
mod validation;
