//! The eBPF object built by build.rs, embedded in the binary.

/// The compiled kernel programs (`shadowtap_tc`, `shadowtap_xdp`) and their maps.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/shadowtap"));
