//! shadowtap's pure reconstruction library: capture events in, complete HTTP/1.x requests out.
//!
//! The agent feeds it [`Segment`]s built from the kernel ring buffer
//! ([`Segment::from_ring_record`]) or read from a capture file ([`pcap`]), and receives
//! [`Request`]s that carry their exact raw bytes, ready to be replayed verbatim.
//!
//! The HTTP/1 grammar itself (heads, framing, chunked bodies) is shadowtap-wire's; this
//! crate decides what a flow's bytes become and counts every outcome ([`Counter`]).
//!
//! ```text
//! Segment ─▶ Reconstructor ─▶ per flow: Reassembler (seq order, dedup, gaps)
//!                                       └▶ Decoder (resync, HTTP/1.x framing, limits) ─▶ Request
//! ```
//!
//! Guarantees:
//! - Bytes are ordered by TCP sequence number only (32-bit wrap-around handled), never by ACK.
//! - A request is emitted only when every one of its bytes was seen, in order: a request that
//!   spans a gap is dropped and counted, never spliced.
//! - After a gap, or on a flow whose start was not seen, decoding resumes only at the start of
//!   a captured segment whose bytes begin a complete, parseable request head (see [`resync`]).
//! - Every request start seen ends as exactly one of: emitted, dropped with a reason, or still
//!   in progress ([`Counters::check_conservation`]).
//! - Memory is bounded by global budgets ([`Budgets`]); time bounds use capture timestamps.
//! - No input makes the library panic.
//!
//! Decisions worth knowing:
//! - A bare LF line ending anywhere in a head is rejected (`dropped_bare_lf`): servers
//!   disagree on it, so mirroring it could replay a different request than the one served.
//! - An `Upgrade` or `CONNECT` request is not emitted (`dropped_upgrade`, `dropped_connect`),
//!   and the flow is not decoded after it, except an h2c upgrade (below).
//! - **HTTP/2 (h2c).** A flow whose start was seen and whose first bytes are the client
//!   preface is handed to an HTTP/2 decoder (shadowtap-h2; `flows_http2`), which emits
//!   [`H2FlowRequest`]s ([`Reconstructor::drain_h2`]); gaps reach it with their length.
//!   A preface anywhere else (after HTTP/1 requests, at a resync point) is `dropped_http2`.
//!   An HTTP/1.1 request with `Upgrade: h2c` (listed in `Connection`, with one
//!   `HTTP2-Settings`) is held, and the bytes after it go to the HTTP/2 decoder: the client
//!   preface there means the upgrade was accepted (a client sends it only after the
//!   server's `101`, which is not captured), and the held request is emitted as what the
//!   server then served, HTTP/2 stream 1 (`requests_upgraded_h2`; pseudo-headers from its
//!   request line and Host, connection-specific fields left out, body dechunked); anything
//!   else means declined: the held request is emitted as the HTTP/1.1 request it is and
//!   HTTP/1.1 decoding resumes with those bytes. A flow that ends with nothing after the
//!   upgrade request emits it as HTTP/1.1; a gap there drops it (`dropped_gap`). What the
//!   HTTP/2 decoder holds is charged to the in-flight budget; over the flow's share, its
//!   decoding stops
//!   (`flows_h2_over_budget`). A flow whose start was not seen and whose first captured
//!   segment is a run of whole HTTP/2 frames is counted (`flows_h2_midstream`, and
//!   `h2_midstream` among the HTTP/2 counters) and left alone: its HPACK state is unknown.
//! - `Expect: 100-continue` needs nothing special: the body simply follows in the stream. A
//!   server that rejects the head makes the client skip the body; the next request is then
//!   read as body and the framing error (if any) is counted.
//! - Over a budget, the flow that needs the room pays: its hole becomes a gap
//!   (`gap_budget`) or its request is dropped (`dropped_body_budget`). Memory never grows
//!   past the budgets.
//! - Overlapping bytes that differ are compared with the out-of-order bytes still held; bytes
//!   already delivered are not kept for comparison.
//! - Resync accepts request text at a segment start even inside the body of a request whose
//!   head was lost: that is indistinguishable from a real request and is the one way a
//!   decoded request may not be one the client sent (never a splice of two).
//! - Flows ended by FIN or RST are remembered for `linger_ns`, so late retransmissions are
//!   ignored (`segments_after_close`) rather than decoded twice.
//! - **Responses** (comparing endpoints): segments of [`Direction::Response`] are
//!   reassembled by the same rules in their own streams and come out as
//!   [`ResponseEvent`]s (bytes, gaps, ranges not copied, the end) with their capture times
//!   ([`Reconstructor::drain_responses`]); their out-of-order bytes share the reassembly
//!   budget. Where the request stream of a flow lost sync (a gap, a dropped request),
//!   [`Reconstructor::drain_request_losses`] says so, placed among the returned requests,
//!   so a pairing by order never trusts order past it.

pub mod config;
pub mod counters;
pub mod error;
pub mod flow;
pub mod fuzzing;
pub mod http;
pub mod http2;
pub mod pcap;
pub mod reassembly;
pub mod reconstructor;
pub mod render;
pub mod response;
pub mod resync;
pub mod segment;
mod seq;

pub use config::{Budgets, Config, Limits, Timeouts};
pub use counters::{Counter, Counters};
pub use error::{PcapError, SegmentError};
pub use http::request::{Body, Request};
pub use http2::H2FlowRequest;
pub use reconstructor::Reconstructor;
pub use response::{ResponseCounter, ResponseCounters, ResponseEvent};
pub use segment::{Direction, FlowKey, Segment};
pub use shadowtap_h2;
pub use shadowtap_wire::http1::{Header, Method, RequestHead, Version};
