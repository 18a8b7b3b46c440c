//! The record the kernel writes to the ring buffer: a fixed header followed by
//! `captured_len` bytes of TCP payload.

use crate::maps::Addr;

/// Largest payload copied into one record. GSO super-packets are captured whole up to this
/// size (the default GSO maximum is 64 KiB); anything longer is truncated and flagged.
pub const RECORD_MAX_PAYLOAD: usize = 65_536;

/// TCP flag bits as they appear in [`RecordHeader::tcp_flags`].
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// Header of one capture record. Followed in the ring by `captured_len` payload bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RecordHeader {
    /// Kernel monotonic time (`bpf_ktime_get_ns`) when the packet was seen.
    pub ts_ns: u64,
    /// Source (client) address, IPv4-mapped for IPv4.
    pub saddr: Addr,
    /// Destination (server) address, IPv4-mapped for IPv4.
    pub daddr: Addr,
    /// Source port, network byte order.
    pub sport: [u8; 2],
    /// Destination port, network byte order.
    pub dport: [u8; 2],
    /// TCP sequence number (host order).
    pub seq: u32,
    /// TCP acknowledgement number (host order).
    pub ack: u32,
    /// Interface index the program ran on.
    pub ifindex: u32,
    /// TCP payload length of the packet (may exceed `captured_len`).
    pub payload_len: u32,
    /// Payload bytes that follow this header.
    pub captured_len: u32,
    /// TCP flags (FIN, SYN, RST, PSH, ACK bits; see [`tcp_flags`]).
    pub tcp_flags: u8,
    /// IP version of the packet: 4 or 6.
    pub ip_version: u8,
    /// 1 when `captured_len < payload_len`.
    pub truncated: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 5],
}

/// Size of [`RecordHeader`] in bytes.
pub const RECORD_HEADER_LEN: usize = core::mem::size_of::<RecordHeader>();
const _: () = assert!(RECORD_HEADER_LEN == 72);
const _: () = assert!(RECORD_HEADER_LEN.is_multiple_of(8));

impl RecordHeader {
    /// Source port in host order.
    pub const fn src_port(&self) -> u16 {
        u16::from_be_bytes(self.sport)
    }
    /// Destination port in host order.
    pub const fn dst_port(&self) -> u16 {
        u16::from_be_bytes(self.dport)
    }
}
