//! The maps shared with user space. Names come from `shadowtap_common::names`.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    Global,
};
use shadowtap_common::{
    CounterBlock, EndpointKey, EndpointValue, OwnFlowKey, ENDPOINT_FILTER_WORDS, MAX_ENDPOINTS,
    MAX_OWN_FLOWS, RECORD_HEADER_LEN, RECORD_MAX_PAYLOAD,
};

/// One scratch slot: a record header followed by up to `RECORD_MAX_PAYLOAD` bytes.
pub const SCRATCH_LEN: usize = RECORD_HEADER_LEN + RECORD_MAX_PAYLOAD;

/// A record under construction, 8-byte aligned so the header can be written in place.
#[repr(C, align(8))]
pub struct Scratch {
    /// Header then payload bytes.
    pub bytes: [u8; SCRATCH_LEN],
}

/// Endpoints to capture, keyed by destination address and port.
#[map(name = "SHADOWTAP_ENDPOINTS")]
pub static ENDPOINTS: HashMap<EndpointKey, EndpointValue> =
    HashMap::with_max_entries(MAX_ENDPOINTS, 0);

/// A bit per hash of each captured endpoint (`shadowtap_common::endpoint_filter`), tested
/// before the endpoint lookup.
#[map(name = "SHADOWTAP_ENDPOINT_FILTER")]
pub static ENDPOINT_FILTER: Array<u64> = Array::with_max_entries(ENDPOINT_FILTER_WORDS, 0);

/// The agent's own connections, never captured.
#[map(name = "SHADOWTAP_OWN_FLOWS")]
pub static OWN_FLOWS: HashMap<OwnFlowKey, u8> = HashMap::with_max_entries(MAX_OWN_FLOWS, 0);

/// Capture records. User space sets the size at load time.
#[map(name = "SHADOWTAP_EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// One scratch slot per CPU (a per-CPU array value is capped at 32 KiB, so this is a plain
/// array indexed by CPU id; user space sets its size to the number of possible CPUs).
#[map(name = "SHADOWTAP_SCRATCH")]
pub static SCRATCH: Array<Scratch> = Array::with_max_entries(1, 0);

/// Per-CPU outcome counters: one entry, a block indexed by `Counter`.
#[map(name = "SHADOWTAP_COUNTERS")]
pub static COUNTERS: PerCpuArray<CounterBlock> = PerCpuArray::with_max_entries(1, 0);

/// Unread ring bytes above which a record forces a reader wake-up; below it records are
/// submitted without a wake-up and user space drains the ring on a short timer.
#[allow(unsafe_code, reason = "the loader overrides globals by symbol name")]
#[unsafe(no_mangle)]
pub static SHADOWTAP_WAKEUP_THRESHOLD: Global<u64> = Global::new(256 * 1024);
