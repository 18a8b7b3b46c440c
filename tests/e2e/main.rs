//! End-to-end tests: the `shadowtap` binary (`shadowtap agent --routes`, built first: `cargo
//! build -p shadowtap-agent`) in a node namespace, real clients, real pods and real mirror
//! backends over veth pairs (`shadowtap_harness::scenario`). They need root, like the kernel
//! tests, and skip (or fail in CI) without it.
//!
//! - `compare`: shadow comparison with a foo-v2 that differs on purpose (a 500, another
//!   body, 50 ms slower): every pair over keep-alive and pipelined connections in its
//!   outcome, the slow path in the mirror's latency histogram, hostile primary responses
//!   counted and never mis-pairing, `shadowtap diff` and `status`.
//! - `compare_h2`: shadow comparison over HTTP/2 (nghttpd as foo-h2 and foo-h2-v2 with
//!   document roots that differ on purpose, h2load interleaving three paths on each
//!   connection): every pair, paired by stream id, in its path's outcome; `shadowtap diff`;
//!   gRPC (grpcio) with a foo-grpc-v2 whose client-streaming calls end NOT_FOUND
//!   (`status_differs` by `grpc-status`) and server-streaming replies differ.
//! - `gamma`: GAMMA consumer routes apply to the clients of their namespace (known by pod
//!   IP), every other client follows the producer route; a host-network address is counted
//!   as of unknown namespace; a route on one Service port decides only the requests
//!   reaching that port's targetPort (the other port's `/x` is `no_rule`).
//! - `grpcroute`: a GRPCRoute with real HTTP/2 peers (h2load's gRPC-shaped POSTs to
//!   nghttpd): only the matching method is mirrored, a rule no call matches wins nothing,
//!   the series name the GRPCRoute; HTTP/1 mirrors to an h2c-only backend (`appProtocol`)
//!   are refused as `protocol_mismatch`.
//! - `grpc`: gRPC with real peers (Python grpcio): unary calls over 4 channels mirrored
//!   per call at 42 %, a rule matching no call receives nothing, client-, server-streaming
//!   and bidi calls and messages over 1 MiB mirrored whole (by content hash).
//! - `h2c`: HTTP/2 with real peers (nghttpd, nghttpx, h2load, curl): h2c requests mirrored
//!   per request at 20 % over HTTP/2, h2c upgrade requests mirrored as stream 1, and a
//!   connection opened before the agent counted as `h2_midstream`, never mirrored.
//! - `listeners`: precedence per Gateway listener: the HTTP→HTTPS redirect guide's set-up
//!   mirrors 42 % (the redirect on `http` never delivers to the pod, so it cannot win).
//! - `mirror`: every request mirrored byte for byte at 100 %, IPv4 and IPv6, host-side and
//!   pod-side attach modes; a clean exit on SIGTERM.
//! - `routing`: only requests won by a labelled mirroring rule are mirrored; mirrored
//!   requests are never mirrored again; route edits apply live.
//! - `sampling`: per-request sampling at the configured fractions, independent mirrors,
//!   exact conservation between the servers and the agent's counters.
//! - `peers`: the real peers the benchmarks count with report what happened (nginx's
//!   request count is not moved by reading it).
//! - `monitoring`: every metric the monitoring component's alerts and dashboard read is a
//!   series the running agent exports.
//! - `privileges`: the agent runs and mirrors as a non-root uid with its capabilities as
//!   ambient ones, in both attach modes; with them in its bounding and inheritable sets
//!   only it refuses to start, naming them.
//! - `failures`: dead and black-holed mirror backends never affect the client; every mirror
//!   is sent or dropped with a counted reason.
//! - `replay_pcap`: `shadowtap replay --pcap` replays a captured grpcio exchange (h2c)
//!   over HTTP/2 to a real grpcio server: every call arrives marked, with its messages.
//! - `restart`: an agent SIGKILLed on the clsact path leaves its filters; the next start
//!   removes exactly those and keeps another party's filter.

mod compare;
mod compare_h2;
mod failures;
mod gamma;
mod grpc;
mod grpcroute;
mod h2c;
mod listeners;
mod mirror;
mod monitoring;
mod peers;
mod privileges;
mod replay_pcap;
mod restart;
mod routing;
mod sampling;
