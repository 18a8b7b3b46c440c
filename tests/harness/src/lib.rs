//! `shadowtap-harness`: what shadowtap's kernel and end-to-end tests (`tests/kernel`,
//! `tests/e2e`), its benchmarks and its demo (`xtask/bench`) share. It owns the real-system
//! plumbing — namespaces, veth topologies, crafted packets, test servers, load generators,
//! the agent under test — so that a test file holds only its scenario and its assertions.
//! It must never decide what shadowtap should do (no expected values live here), and nothing
//! in the product depends on it. Where each kind of test goes: `tests/README.md`.
//!
//! - Privileges: [`privileged`], [`require_privileges`] (skip with a message, fail in CI).
//! - The network: [`topology`] (namespaces and veth pairs, removed on drop), [`packets`]
//!   (frames for `BPF_PROG_TEST_RUN`).
//! - The kernel side of the agent: [`loaded`] (programs loaded, maps and ring taken),
//!   [`reassemble`] (a test-only reassembly of what the kernel copied).
//! - The whole agent: [`scenario`] (a node running `shadowtap agent --routes`, clients, pods,
//!   the Kubernetes objects describing them, metrics).
//! - Peers: [`grpc`] (Python grpcio server and client), [`nghttp2`] (nghttpd, nghttpx,
//!   h2load), [`http_server`] (a server recording the bytes it received, lock-step clients),
//!   [`load`] (an open- and closed-loop load generator), [`idle_flows`] (many idle
//!   keep-alive connections on one thread), [`nginx`] (the mirroring proxy shadowtap is
//!   compared with), [`nginx_backend`] (nginx as a fast backend, with its request count).
//! - Monitoring: [`monitoring`] (the PromQL of `deploy/components/monitoring`, parsed, and
//!   the metric names it reads).
//! - Time: [`wait`] (conditions with a deadline — never fixed sleeps).

pub mod grpc;
pub mod http_server;
pub mod idle_flows;
pub mod load;
pub mod loaded;
pub mod monitoring;
pub mod nghttp2;
pub mod nginx;
pub mod nginx_backend;
pub mod packets;
mod privileges;
pub mod reassemble;
pub mod scenario;
pub mod topology;
pub mod wait;

pub use privileges::{privileged, require_privileges};
