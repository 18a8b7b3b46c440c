//! shadowtap's HTTP/2 decoder: the client→server bytes of one cleartext HTTP/2 (h2c)
//! connection in, complete requests out.
//!
//! The reconstructor reassembles a TCP flow (shadowtap-reconstruct) and, on a flow that
//! begins with the client preface — or right after an HTTP/1.1 `Upgrade: h2c` request —
//! hands its bytes to an [`H2Decoder`]:
//!
//! ```text
//! bytes ─▶ H2Decoder ─▶ preface ─▶ frames (any split) ─┬▶ HEADERS/CONTINUATION ─▶ HPACK ─┐
//!                                                       ├▶ DATA (streamed, padding off) ─┼▶ H2Request
//!                                                       └▶ RST_STREAM drops a stream      │  (stream id,
//!                                                          others checked, then ignored   │  pseudo-headers,
//!                                                                                          │  headers, body,
//! gap(n) ─▶ DATA payload of known length: that stream dropped, decoding goes on           │  trailers)
//!        ─▶ header block or frame header: the connection stops (counted) ─────────────────┘
//! ```
//!
//! ```
//! use shadowtap_h2::{H2Decoder, Limits, Start};
//!
//! let mut d = H2Decoder::new(Start::PriorKnowledge, Limits::default());
//! let mut out = Vec::new();
//! d.push(b"GET / HTTP/1.1\r\n\r\n", &mut out);
//! assert_eq!(d.stopped(), Some(shadowtap_h2::StopReason::Midstream));
//! ```
//!
//! Guarantees:
//! - A request is emitted only when its header block decoded and every byte of its DATA up
//!   to END_STREAM was seen, in order: a stream that loses a byte is dropped, never spliced.
//! - Frames may be cut anywhere across pushes: the result is the same as one push.
//! - Every stream opened ends as exactly one of: emitted, dropped with a reason, or still
//!   open ([`Counters::check_conservation`]); a connection stops at most once, counted by
//!   reason ([`CONNECTION_STOPS`]).
//! - Memory is bounded by [`Limits`]; bodies are charged by the capacity they hold.
//! - No input makes the library panic (fuzzed: `fuzz/`).
//!
//! Decisions worth knowing:
//! - **HPACK table size.** The client's header blocks are encoded against a table whose
//!   bound is the *server's* SETTINGS_HEADER_TABLE_SIZE, which the client→server direction
//!   does not carry (the client's own SETTINGS size the server's encoder, and are ignored).
//!   But the table's size only ever changes through the dynamic table size updates inside
//!   the blocks (RFC 7541 §4.2, §6.3), which an encoder must send when it changes it. So the
//!   decoder starts at the protocol's 4 096 bytes and follows every update; the unseen
//!   setting is only needed to *reject* an update, which the decoder does above
//!   [`Limits::max_table_size`] (`stopped_table_size_over_limit`). A size update after the
//!   first field of a block is a COMPRESSION_ERROR and stops the connection.
//! - **HPACK crate.** Decoding is `loona-hpack`'s: the only maintained decoder that hands
//!   fields over as raw bytes in wire order (the `h2` crate's is private, and its `unstable`
//!   codec yields `http::HeaderMap`, which regroups fields by name); its tests include RFC
//!   7541 Appendix C and it is fuzzed here through [`fuzzing`]. [`hpack`] adds the
//!   structural checks and the header list size, and decodes Huffman strings itself
//!   ([`huffman`], four bits per step) before handing the block over: `loona-hpack`'s
//!   Huffman decoder rebuilds a hash-map code tree for every string.
//! - **Gaps.** A lost byte inside a DATA payload (frame header seen) drops that stream; one
//!   inside the payload of a frame that carries no header block (SETTINGS, PING,
//!   WINDOW_UPDATE, RST_STREAM, GOAWAY, PRIORITY, unknown types) loses nothing, since its
//!   length is known; one inside a HEADERS or CONTINUATION payload, or in a frame header,
//!   leaves the dynamic table or the framing unknown and stops the connection
//!   (`stopped_gap_in_header_block`, `stopped_gap_in_framing`), dropping its open streams
//!   (`dropped_connection_stopped`).
//! - **Mid-stream start.** A connection whose first bytes are not the preface started
//!   before capture; its HPACK state is unknown, so nothing on it is decoded
//!   (`h2_midstream`). Long-lived gRPC channels opened before the agent are therefore never
//!   mirrored until they reconnect.
//! - **h2c upgrade.** The server's `101` is not seen. A client sends the preface only after
//!   reading it, so the bytes after the upgrade request tell: a preface means accepted;
//!   anything else means declined (`h2c_upgrade_declined`), and those bytes are handed back
//!   ([`H2Decoder::take_declined_bytes`]) for HTTP/1.1 decoding to resume.
//! - **What a server would reject is not emitted.** Connection errors of RFC 9113 (frame
//!   sizes, CONTINUATION order, stream id rules, a first frame other than SETTINGS, client
//!   PUSH_PROMISE) stop the connection; malformed requests (§8.1.1: pseudo-header rules,
//!   uppercase or invalid names, CR/LF/NUL in values, connection-specific fields,
//!   Content-Length against the DATA, trailers without END_STREAM) are dropped
//!   (`dropped_malformed`). Field names and values are kept as bytes, in wire order.
//! - **Limits.** Header list size (drop the stream, keep decoding the table), encoded header
//!   block size (stop: the block cannot be held, so the table cannot follow), open streams,
//!   body size per stream, bytes held per connection: each a counted drop.
//! - RST_STREAM from the client drops the stream (`dropped_reset`). DATA, trailers and RST
//!   for streams that are closed or were dropped are ignored (`frames_on_closed_stream`);
//!   their header blocks are still decoded to keep the table.
#![forbid(unsafe_code)]

pub mod client_bytes;
pub mod config;
pub mod counters;
pub mod decoder;
pub mod frame;
pub mod fuzzing;
pub mod fuzzing_response;
pub mod hpack;
pub mod huffman;
pub mod request;
pub mod response;
pub mod stop;
mod streams;
pub mod table_account;

pub use config::Limits;
pub use counters::{Counter, Counters, CONNECTION_STOPS, STREAM_DROPS};
pub use decoder::{H2Decoder, Start};
pub use hpack::Field;
pub use request::{H2Request, PseudoHeaders};
pub use response::{H2ResponseDecoder, ServerEvent, ServerStop, StreamLoss};
pub use stop::{ProtocolError, StopReason};
