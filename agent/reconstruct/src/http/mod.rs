//! HTTP/1.x request decoding on top of shadowtap-wire, which holds the grammar (heads,
//! framing, chunked bodies): here are the per-flow stream decoder (state machine, buffers,
//! limits, skips, budgets) and the mapping of the grammar's outcomes to drop counters.

pub(crate) mod buf;
pub(crate) mod decoder;
pub mod head;
pub mod request;
