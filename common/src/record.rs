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
    /// Read a header from the first [`RECORD_HEADER_LEN`] bytes of a ring record (native byte
    /// order, the `#[repr(C)]` layout); `None` if `bytes` is shorter.
    pub fn from_bytes(bytes: &[u8]) -> Option<RecordHeader> {
        let b = bytes.get(..RECORD_HEADER_LEN)?;
        let arr16 = |o: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[o..o + 16]);
            a
        };
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[0..8]);
        Some(RecordHeader {
            ts_ns: u64::from_ne_bytes(ts),
            saddr: arr16(8),
            daddr: arr16(24),
            sport: [b[40], b[41]],
            dport: [b[42], b[43]],
            seq: u32_at(44),
            ack: u32_at(48),
            ifindex: u32_at(52),
            payload_len: u32_at(56),
            captured_len: u32_at(60),
            tcp_flags: b[64],
            ip_version: b[65],
            truncated: b[66],
            _pad: [b[67], b[68], b[69], b[70], b[71]],
        })
    }

    /// The header's bytes as the kernel writes them (the inverse of [`Self::from_bytes`]).
    pub fn to_bytes(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0..8].copy_from_slice(&self.ts_ns.to_ne_bytes());
        b[8..24].copy_from_slice(&self.saddr);
        b[24..40].copy_from_slice(&self.daddr);
        b[40..42].copy_from_slice(&self.sport);
        b[42..44].copy_from_slice(&self.dport);
        for (i, v) in [
            self.seq,
            self.ack,
            self.ifindex,
            self.payload_len,
            self.captured_len,
        ]
        .iter()
        .enumerate()
        {
            b[44 + 4 * i..48 + 4 * i].copy_from_slice(&v.to_ne_bytes());
        }
        b[64] = self.tcp_flags;
        b[65] = self.ip_version;
        b[66] = self.truncated;
        b[67..72].copy_from_slice(&self._pad);
        b
    }

    /// Source port in host order.
    pub const fn src_port(&self) -> u16 {
        u16::from_be_bytes(self.sport)
    }
    /// Destination port in host order.
    pub const fn dst_port(&self) -> u16 {
        u16::from_be_bytes(self.dport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_match_the_layout() {
        let h = RecordHeader {
            ts_ns: 0x0102_0304_0506_0708,
            saddr: [1; 16],
            daddr: [2; 16],
            sport: [3, 4],
            dport: [5, 6],
            seq: 7,
            ack: 8,
            ifindex: 9,
            payload_len: 10,
            captured_len: 11,
            tcp_flags: 12,
            ip_version: 6,
            truncated: 1,
            _pad: [0; 5],
        };
        let b = h.to_bytes();
        assert_eq!(RecordHeader::from_bytes(&b), Some(h));
        assert_eq!(RecordHeader::from_bytes(&b[..71]), None);
        assert_eq!(core::mem::offset_of!(RecordHeader, seq), 44);
        assert_eq!(core::mem::offset_of!(RecordHeader, tcp_flags), 64);
    }
}
