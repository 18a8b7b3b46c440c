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

/// Which way a record's packet went, in [`RecordHeader::direction`].
pub mod direction {
    /// Client→server: a request's bytes (`saddr` is the client).
    pub const REQUEST: u8 = 0;
    /// Server→client: a response's bytes, of a comparing endpoint (`saddr` is the server).
    pub const RESPONSE: u8 = 1;
}

/// Header of one capture record. Followed in the ring by `captured_len` payload bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RecordHeader {
    /// Kernel monotonic time (`bpf_ktime_get_ns`) when the packet was seen.
    pub ts_ns: u64,
    /// Source address of the packet, IPv4-mapped for IPv4 (the client's for a request,
    /// the server's for a response).
    pub saddr: Addr,
    /// Destination address of the packet, IPv4-mapped for IPv4.
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
    /// 1 when `captured_len < payload_len`: the record limit, or a response copied as a
    /// prefix (the status and headers comparison modes).
    pub truncated: u8,
    /// [`direction::REQUEST`] or [`direction::RESPONSE`].
    pub direction: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 4],
}

/// Why a ring record is malformed. [`RecordHeader::parse`] is the only place records are
/// validated; every user-space reader goes through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The record is shorter than its fixed header.
    Short {
        /// Bytes in the record.
        len: usize,
    },
    /// `captured_len` does not match the payload bytes that follow the header.
    LengthMismatch {
        /// Value of the header field.
        captured_len: u32,
        /// Bytes actually present.
        actual: usize,
    },
    /// More bytes captured than the packet's payload holds, or more than a record may carry.
    CapturedTooLong {
        /// Value of `captured_len`.
        captured_len: u32,
        /// Value of `payload_len`.
        payload_len: u32,
    },
    /// The `truncated` flag disagrees with the lengths.
    TruncatedMismatch {
        /// Value of the flag.
        flag: u8,
        /// Value of `captured_len`.
        captured_len: u32,
        /// Value of `payload_len`.
        payload_len: u32,
    },
    /// `ip_version` is neither 4 nor 6, or an IPv4 record's address is not IPv4-mapped.
    BadAddress {
        /// Value of `ip_version`.
        version: u8,
    },
    /// `direction` is neither [`direction::REQUEST`] nor [`direction::RESPONSE`].
    BadDirection {
        /// Value of `direction`.
        direction: u8,
    },
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            RecordError::Short { len } => write!(
                f,
                "record of {len} bytes is shorter than the {RECORD_HEADER_LEN} byte header"
            ),
            RecordError::LengthMismatch {
                captured_len,
                actual,
            } => write!(
                f,
                "captured_len {captured_len} does not match the {actual} payload bytes present"
            ),
            RecordError::CapturedTooLong {
                captured_len,
                payload_len,
            } => write!(
                f,
                "captured_len {captured_len} exceeds payload_len {payload_len} or the record limit"
            ),
            RecordError::TruncatedMismatch {
                flag,
                captured_len,
                payload_len,
            } => write!(
                f,
                "truncated flag {flag} inconsistent with captured_len {captured_len} / payload_len {payload_len}"
            ),
            RecordError::BadAddress { version } => {
                write!(f, "bad IP version {version} or address form")
            }
            RecordError::BadDirection { direction } => {
                write!(f, "bad direction {direction}")
            }
        }
    }
}

impl core::error::Error for RecordError {}

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
            direction: b[67],
            _pad: [b[68], b[69], b[70], b[71]],
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
        b[67] = self.direction;
        b[68..72].copy_from_slice(&self._pad);
        b
    }

    /// Split one raw ring record into its validated header and payload. The record must be
    /// exactly a header followed by `captured_len` bytes (the kernel writes variable-length
    /// records), with consistent lengths, flag and address form.
    pub fn parse(record: &[u8]) -> Result<(RecordHeader, &[u8]), RecordError> {
        let header =
            RecordHeader::from_bytes(record).ok_or(RecordError::Short { len: record.len() })?;
        let payload = &record[RECORD_HEADER_LEN..];
        header.validate(payload.len())?;
        Ok((header, payload))
    }

    /// Checks the header against `present` payload bytes: `captured_len` equals it, is at
    /// most `payload_len` and [`RECORD_MAX_PAYLOAD`], `truncated` says whether it is less,
    /// and the addresses have the form `ip_version` says (IPv4-mapped for 4).
    pub fn validate(&self, present: usize) -> Result<(), RecordError> {
        if self.captured_len as usize != present {
            return Err(RecordError::LengthMismatch {
                captured_len: self.captured_len,
                actual: present,
            });
        }
        if self.captured_len > self.payload_len || self.captured_len as usize > RECORD_MAX_PAYLOAD {
            return Err(RecordError::CapturedTooLong {
                captured_len: self.captured_len,
                payload_len: self.payload_len,
            });
        }
        let truncated = self.captured_len < self.payload_len;
        if self.truncated > 1 || (self.truncated == 1) != truncated {
            return Err(RecordError::TruncatedMismatch {
                flag: self.truncated,
                captured_len: self.captured_len,
                payload_len: self.payload_len,
            });
        }
        if self.direction > direction::RESPONSE {
            return Err(RecordError::BadDirection {
                direction: self.direction,
            });
        }
        let v4 = |a: &Addr| a[..10].iter().all(|b| *b == 0) && a[10] == 0xff && a[11] == 0xff;
        match self.ip_version {
            4 if v4(&self.saddr) && v4(&self.daddr) => Ok(()),
            6 => Ok(()),
            version => Err(RecordError::BadAddress { version }),
        }
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
            direction: 1,
            _pad: [0; 4],
        };
        let b = h.to_bytes();
        assert_eq!(RecordHeader::from_bytes(&b), Some(h));
        assert_eq!(RecordHeader::from_bytes(&b[..71]), None);
        assert_eq!(core::mem::offset_of!(RecordHeader, seq), 44);
        assert_eq!(core::mem::offset_of!(RecordHeader, tcp_flags), 64);
        assert_eq!(core::mem::offset_of!(RecordHeader, direction), 67);
    }

    fn valid(payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
        RecordHeader {
            saddr: crate::maps::ipv4_mapped([10, 0, 0, 1]),
            daddr: crate::maps::ipv4_mapped([10, 0, 0, 2]),
            payload_len: payload.len() as u32,
            captured_len: payload.len() as u32,
            ip_version: 4,
            ..RecordHeader::default()
        }
        .to_bytes()
    }

    #[test]
    fn parse_validates_every_field() {
        let mut raw = [0u8; RECORD_HEADER_LEN + 3];
        raw[..RECORD_HEADER_LEN].copy_from_slice(&valid(b"abc"));
        raw[RECORD_HEADER_LEN..].copy_from_slice(b"abc");
        let (h, payload) = RecordHeader::parse(&raw).expect("valid");
        assert_eq!(payload, b"abc");
        assert_eq!(h.captured_len, 3);
        assert_eq!(
            RecordHeader::parse(&raw[..10]),
            Err(RecordError::Short { len: 10 })
        );
        assert_eq!(
            RecordHeader::parse(&raw[..RECORD_HEADER_LEN + 1]),
            Err(RecordError::LengthMismatch {
                captured_len: 3,
                actual: 1
            })
        );
        let mut bad = h;
        bad.payload_len = 2;
        assert!(matches!(
            bad.validate(3),
            Err(RecordError::CapturedTooLong { .. })
        ));
        let mut bad = h;
        bad.payload_len = 5;
        assert!(matches!(
            bad.validate(3),
            Err(RecordError::TruncatedMismatch { .. })
        ));
        bad.truncated = 1;
        assert_eq!(bad.validate(3), Ok(()));
        let mut bad = h;
        bad.ip_version = 5;
        assert_eq!(bad.validate(3), Err(RecordError::BadAddress { version: 5 }));
        let mut bad = h;
        bad.saddr = [1; 16];
        assert_eq!(bad.validate(3), Err(RecordError::BadAddress { version: 4 }));
        let mut bad = h;
        bad.direction = 2;
        assert_eq!(
            bad.validate(3),
            Err(RecordError::BadDirection { direction: 2 })
        );
        bad.direction = direction::RESPONSE;
        assert_eq!(bad.validate(3), Ok(()));
        let mut v6 = h;
        v6.ip_version = 6;
        v6.saddr = [1; 16];
        assert_eq!(v6.validate(3), Ok(()));
    }
}
