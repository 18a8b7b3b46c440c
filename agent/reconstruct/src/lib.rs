//! shadowtap's pure reconstruction library: capture events in, complete HTTP/1.x requests out.
//!
//! The agent feeds it [`Segment`]s built from the kernel ring buffer
//! ([`Segment::from_ring_record`]) or read from a capture file ([`pcap`]), and receives
//! [`Request`]s that carry their exact raw bytes, ready to be replayed verbatim.
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

pub mod config;
pub mod counters;
pub mod error;
pub mod flow;
pub mod fuzzing;
pub mod http;
pub mod pcap;
pub mod pipeline;
pub mod reassembly;
pub mod render;
pub mod resync;
pub mod segment;
mod seq;

pub use config::{Budgets, Config, Limits, Timeouts};
pub use counters::{Counter, Counters};
pub use error::{PcapError, SegmentError};
pub use http::request::{Body, Header, Method, Request, Version};
pub use pipeline::Reconstructor;
pub use segment::{FlowKey, Segment};
