//! The contract between shadowtap's kernel programs (`shadowtap-ebpf`) and user space.
//!
//! Everything here is `#[repr(C)]` with explicit padding and a size assertion, so the kernel
//! and user space agree on every byte. Addresses are always 16 bytes: IPv4 addresses are
//! stored IPv4-mapped (`::ffff:a.b.c.d`). Ports and addresses are kept in **network byte
//! order as bytes** (`[u8; N]`), so no side ever has to guess an integer's byte order.
#![no_std]

pub mod counters;
pub mod endpoint_filter;
pub mod flow_hash;
pub mod maps;
pub mod record;

#[cfg(feature = "user")]
mod pod;

pub use counters::{packets_seen, Counter, CounterBlock};
pub use endpoint_filter::{endpoint_slot, ENDPOINT_FILTER_WORDS};
pub use flow_hash::{flow_hash, threshold_for_fraction, FLOW_HASH_SEED, SAMPLE_ALL, SAMPLE_NONE};
pub use maps::{addr_from_ip, compare_mode, ip_from_addr, EndpointKey, EndpointValue, OwnFlowKey};
pub use record::{RecordError, RecordHeader, RECORD_HEADER_LEN, RECORD_MAX_PAYLOAD};

/// Map and program names in the eBPF object, used by user space to find them.
pub mod names {
    /// Endpoint map: [`crate::EndpointKey`] → [`crate::EndpointValue`].
    pub const ENDPOINTS: &str = "SHADOWTAP_ENDPOINTS";
    /// Own-flow map: [`crate::OwnFlowKey`] → `u8` (value unused).
    pub const OWN_FLOWS: &str = "SHADOWTAP_OWN_FLOWS";
    /// Ring buffer of capture records.
    pub const EVENTS: &str = "SHADOWTAP_EVENTS";
    /// Per-CPU scratch slots a record is assembled in before it is copied to the ring.
    pub const SCRATCH: &str = "SHADOWTAP_SCRATCH";
    /// Per-CPU counters: one entry, a [`crate::CounterBlock`] indexed by [`crate::Counter`]
    /// (the kernel leaves the derived [`crate::Counter::PacketsSeen`] at zero).
    pub const COUNTERS: &str = "SHADOWTAP_COUNTERS";
    /// Endpoint pre-filter: [`crate::ENDPOINT_FILTER_WORDS`] `u64` words, a bit per hash of
    /// a captured endpoint (see [`crate::endpoint_filter`]).
    pub const ENDPOINT_FILTER: &str = "SHADOWTAP_ENDPOINT_FILTER";
    /// The TC classifier.
    pub const TC_PROGRAM: &str = "shadowtap_tc";
    /// The TC classifier of the pod→client direction (comparing endpoints' responses).
    pub const TC_RESPONSE_PROGRAM: &str = "shadowtap_tc_response";
    /// A TC program that does nothing, the benchmarks' baseline.
    pub const TC_NOOP_PROGRAM: &str = "shadowtap_tc_noop";
    /// The XDP program.
    pub const XDP_PROGRAM: &str = "shadowtap_xdp";
    /// Global: bytes of unread ring data above which a record forces a reader wake-up.
    pub const WAKEUP_THRESHOLD: &str = "SHADOWTAP_WAKEUP_THRESHOLD";
}

/// Maximum entries of the endpoint map.
pub const MAX_ENDPOINTS: u32 = 16_384;
/// Maximum entries of the own-flow map.
pub const MAX_OWN_FLOWS: u32 = 65_536;
