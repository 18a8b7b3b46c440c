//! shadowtap's shadow comparison, the user-space core: the primary's HTTP/1 responses are
//! framed from the captured pod→client stream (HTTP/2 ones decoded from its frames), paired
//! with the requests of the same connection (by order; by stream id on HTTP/2), and
//! compared with the mirror's responses, per mirrored request.
//!
//! # Flow
//!
//! 1. The agent mirrors a request of a comparing route: [`Comparator::register`] gives it a
//!    [`PairId`].
//! 2. Every request the decoder emits on the connection, mirrored or not, is pushed in order
//!    to the connection's [`Http1Pairing`] ([`RequestSeen`]); the reassembled pod→client
//!    bytes, gaps, uncopied ranges and the end of the connection follow. The pairing yields a
//!    [`PrimaryEvent`] per mirrored request: the response's [`ResponseSummary`], or why it
//!    was not seen ([`UnseenReason`]). Responses to requests that were not mirrored are read
//!    to their end and dropped.
//! 3. The mirror client summarises the mirror's response the same way
//!    ([`ResponseSummary::observe_header`], [`BodyHasher`]) or reports a failure:
//!    [`Comparator::mirror`].
//! 4. With both sides in, [`compare()`] decides the [`Outcome`]; divergent pairs go to the
//!    [`DivergenceLog`] (sensitive values redacted). Every pair ends in exactly one outcome,
//!    returned as [`Finished`] for the per-route series: `pairs_mirrored` = Σ outcomes +
//!    pending (the conservation the tests check).
//!
//! # Modes, and what the kernel copies for each
//!
//! The modes nest ([`CompareMode`]):
//!
//! | mode | compares | the kernel must copy (pod→client) |
//! |---|---|---|
//! | `status` | status class, then status | every response head; chunked bodies whole |
//! | `headers` | the above, then the header fields not ignored | the same as `status` |
//! | `body` | the above, then body length and hash | everything |
//!
//! Finding where the next response starts needs each body's length: a Content-Length or
//! close-delimited body can be skipped without its bytes, so in the `status` and `headers`
//! modes the kernel may copy a prefix of each segment (long enough for a head) and report
//! the rest as uncopied ([`Http1Pairing::push_elided`]). A chunked body's length is in its
//! framing, spread through the body, so those bytes are needed; a head that falls in an
//! uncopied range stops the pairing on that connection (`unseen_elided`), never mis-pairs.
//! The `status` mode still needs whole heads: the framing fields decide the body length.
//!
//! # Header fields
//!
//! Never compared: the framing and connection fields ([`FRAMING_HEADERS`]). Ignored unless
//! the route gives its own list: [`DEFAULT_IGNORED_HEADERS`] (`date`, `server`, request-id
//! and tracing fields: `x-request-id`, `request-id`, `x-correlation-id`, `x-trace-id`,
//! `x-amzn-requestid`, `x-amzn-trace-id`, `x-cloud-trace-context`, `traceparent`,
//! `tracestate`, `b3`, `x-b3-*`, `x-envoy-upstream-service-time`). Values of
//! [`SENSITIVE_HEADERS`] (`authorization`, `cookie`, `set-cookie`, `proxy-authorization`)
//! and of a node's additions ([`Redaction`]) never reach the log.
//!
//! # Bodies
//!
//! Never held whole: hashed as they stream by ([`digest`]), XXH3-64 per block and XXH3-128
//! over the block hashes and the length. XXH3 because the hash only tells equal from different (a backend
//! forging collisions would only hide its own divergence) and runs at memory speed, where
//! SHA-256 would cost more per mirrored request than the rest of the pipeline. The first
//! differing offset is known to lie within a block ([`BodyOffset`]): 4 KiB wide in the
//! first 64 KiB, then as wide as the offset.
//!
//! # Latency
//!
//! Primary: from the request's last byte to the final response's first byte, both capture
//! times at the pod's interface (interim responses do not count). Mirror: the mirror
//! client's own measurement.
//!
//! # HTTP/2
//!
//! An h2c connection pairs by stream id ([`H2Pairing`]): the server→client frames are
//! decoded with the server's own HPACK table (shadowtap-h2's
//! [`H2ResponseDecoder`](shadowtap_h2::H2ResponseDecoder)), each stream's final head, DATA
//! and trailers summarised and given to the request of the same stream id, in whichever
//! order they come. A differing `grpc-status` is `status_differs` ([`compare()`]). In the
//! `status` and `headers` modes the kernel copies a prefix of each segment: bytes not
//! copied inside a DATA payload only count towards its length (the frame header gave it);
//! where they cover a frame header or a header block the connection stops pairing
//! (`unseen_elided`) — large responses written in few segments need the `body` mode there.
//!
//! # Memory
//!
//! Pending pairs are held under [`ComparatorConfig::budget_bytes`] (oldest first,
//! `over_budget`). A pairing reports what it holds in O(1) ([`Http1Pairing::held_bytes`],
//! [`H2Pairing::held_bytes`]) so that its owner can keep all connections' pairings under
//! [`ComparatorConfig::pairing_budget_bytes`] incrementally, stopping one with
//! `stop_over_budget` (its requests `unseen_over_budget`).
//!
//! # Not here
//!
//! A connection whose start was not seen (opened before the agent) is not paired: its
//! mirrored requests end `primary_unseen`. Nor is an HTTP/1.1 connection upgraded to h2c
//! (its `101` ends HTTP/1 pairing; the streams after it are unseen).

#![forbid(unsafe_code)]

pub mod compare;
pub mod counters;
pub mod digest;
pub mod framer;
pub mod fuzzing;
pub mod h2_pairing;
pub mod outcome;
pub mod pairing;
pub mod pending;
pub mod spec;
pub mod store;
pub mod summary;

pub use compare::{compare, Comparison, HeaderDifference};
pub use counters::{Counter, Counters, PAIR_OUTCOMES, UNSEEN_REASONS};
pub use digest::{BodyDigest, BodyHasher, BodyOffset, ContentDigest};
pub use framer::{FrameError, FrameProgress, Framed, ResponseFramer};
pub use h2_pairing::{H2Pairing, H2RequestSeen};
pub use outcome::Outcome;
pub use pairing::{
    Http1Pairing, PairingLimits, PrimaryEvent, PrimaryResult, RequestSeen, UnseenReason,
};
pub use pending::{Comparator, ComparatorConfig, Finished, MirrorResult, PairId};
pub use spec::{
    CompareMode, CompareSpec, HeaderNames, Redaction, SpecError, DEFAULT_IGNORED_HEADERS,
    FRAMING_HEADERS, REDACTED, SENSITIVE_HEADERS,
};
pub use store::{DivergenceLog, DivergentPair, ShownHeader};
pub use summary::{HeaderField, ResponseSummary, GRPC_STATUS};
