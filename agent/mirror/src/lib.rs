//! shadowtap's mirror client: replays mirrored requests to mirror backends (data path
//! step 7).
//!
//! The capture pipeline hands each request chosen for a mirror to [`Replayer::submit`] as a
//! [`MirrorRequest`], built from the decoder's request ([`MirrorRequest::from_decoded`]):
//! the exact raw head and body the client sent, with the head's layout as the decoder parsed
//! it, so the head is never parsed again. `submit` never blocks: it queues the request on
//! the backend's lane or drops it, counted by [`DropReason`]. The agent's capture task
//! submits with [`Wake::Deferred`] and calls [`Replayer::wake_deferred`] once per pass over
//! the ring, so a busy backend's workers are woken once per pass and take whole batches
//! (a worker that leaves requests queued wakes the next one).
//!
//! Per backend ([`BackendId`]), a fixed set of workers (`max_connections`) takes requests
//! from the lane. Each request goes to exactly one endpoint, chosen round robin among the
//! endpoints not backing off, over a pooled keep-alive connection. When requests wait in the
//! lane, a worker writes up to `pipeline_depth` of them (within 64 KiB) together and reads
//! their responses in order (HTTP/1.1 pipelining); a request that closes the connection
//! ends its batch. The head is written byte for byte with one marker header
//! added last ([`HeadEditor`]) and the backend's [`RewriteOptions`] applied; the body is
//! written verbatim. The response is read to its end with shadowtap-wire's response framing
//! ([`shadowtap_wire::http1::ResponseReader`]) and discarded.
//!
//! Failure handling: connect failures back an endpoint off (1 s doubling to 30 s by
//! default) and requests for a backend whose endpoints all back off are dropped at once as
//! `backend_down`; timeouts bound every connect and every exchange (write + response);
//! any failed exchange closes its connection. Each distinct problem is logged once per
//! backend. Memory is bounded by the per-backend queue depth, the global queue byte budget
//! (oldest dropped first), the response-head limit and the connection limit.
//!
//! HTTP/2 requests ([`H2MirrorRequest`], [`Replayer::submit_h2_tallied`]) share the queue,
//! budget, workers, timeouts, drop reasons and metrics; a worker's batch holds one protocol.
//! They are replayed with the `h2` crate over prior-knowledge h2c: per endpoint at most
//! `h2_connections` connections, each carrying many streams (a worker's whole batch goes out
//! at once), `:authority` as the client sent it (or the Host rewrite), the marker added as a
//! lowercase field, body and trailers sent, the response and its trailers read to the end
//! and discarded, flow-control capacity released as it is read. A reset stream is `reset`,
//! a GOAWAY or closed connection `closed`, a protocol error `bad_response`, a head the
//! `http` types refuse `bad_request`. Every request gets `request_timeout` to finish.
//! A backend that speaks HTTP/2 only ([`BackendProtocol::H2cOnly`], set with
//! [`Replayer::set_protocol`] from the Service port's `appProtocol`) refuses HTTP/1
//! requests when they are submitted, as `protocol_mismatch`.
//!
//! Comparison: an HTTP/1 request submitted with a [`CompareTicket`]
//! ([`MirrorRequest::with_compare`]) has its response read with shadowtap-compare's framer
//! and summarised with its route's settings; the ticket reports the summary (with the
//! latency from the exchange's start to the response's first byte), or a failure when the
//! request is dropped anywhere, exactly once. An HTTP/2 request with a ticket
//! ([`H2MirrorRequest::with_compare`]) has its response summarised the same way on its
//! stream (status, fields, body, trailers, `grpc-status`).
//!
//! New connections are registered with [`OwnFlows`] before their first byte, so capture
//! skips the agent's own traffic, and unregistered when closed.
//!
//! Conservation: every submitted request ends as `sent` or dropped with exactly one reason;
//! [`Replayer::snapshot`] gives the counts ([`BackendSnapshot::is_conserved`]). Metrics are
//! listed in [`ReplayMetrics`].
//!
//! What it must never do: parse HTTP/1 itself (every rule is shadowtap-wire's), block its
//! caller, or grow without bound. Who calls it: the agent's pipeline sink and
//! `shadowtap replay --pcap --to URL`.

mod backend;
mod compare;
mod config;
mod connection;
mod edit;
mod endpoints;
mod error;
mod h2_exchange;
mod h2_pool;
mod h2_request;
mod id;
mod job;
mod metrics;
mod own_flows;
mod pool;
mod protocol;
mod queue;
mod quickack;
mod reader;
mod reason;
mod replayer;
mod request;
mod snapshot;
mod tally;

pub use compare::{CompareTicket, MirrorReport};
pub use config::ReplayConfig;
pub use edit::{HeadEditor, RewriteOptions, DEFAULT_MARKER_NAME, DEFAULT_MARKER_VALUE};
pub use error::{ConfigError, ReplayError, RequestError};
pub use h2_request::H2MirrorRequest;
pub use id::BackendId;
pub use metrics::{latency_histogram, ReplayMetrics};
pub use own_flows::{NoOwnFlows, OwnFlows};
pub use protocol::BackendProtocol;
pub use reason::DropReason;
pub use replayer::{Replayer, ShutdownReport, Wake};
pub use request::MirrorRequest;
pub use snapshot::{BackendSnapshot, ReplaySnapshot};
pub use tally::Tally;
