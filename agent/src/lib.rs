//! shadowtap: the Gateway API `RequestMirror` filter without sidecars, on eBPF.
//!
//! The library behind the `shadowtap` binary; integration tests use it directly.

pub mod cli;
pub mod datapath;
pub mod metrics;
pub mod pipeline;
pub mod runtime;
pub mod wiring;
