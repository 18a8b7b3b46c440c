//! shadowtap's byte grammars, one crate for every protocol shadowtap reads or writes.
//!
//! What it owns: the rules that decide what bytes mean — where a head ends, which heads are
//! valid, how long a body is, whether a connection stays open. [`http1`] holds every
//! HTTP/1.x rule; a future `http2` module (frames, HPACK) sits next to it.
//!
//! What it must never do: I/O, async, logging, metrics, or policy (which requests to drop,
//! what to count). Callers map its typed errors to their own outcomes. No input makes it
//! panic; [`fuzzing`] holds the entry points that check this in both directions.
//!
//! Who calls it: the capture decoder (`shadowtap-reconstruct`) parses client requests with
//! it, and the mirror client (`shadowtap-mirror`) edits request heads from the layout it
//! produced and reads the mirror backends' responses with it.

#![forbid(unsafe_code)]

pub mod fuzzing;
pub mod http1;
