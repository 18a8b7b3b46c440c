//! Capture events: the flow key and one TCP segment of the client→server direction, or of
//! the server→client direction of a comparing endpoint ([`Direction::Response`]).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use shadowtap_common::record::{direction, tcp_flags};
use shadowtap_common::RecordHeader;

use crate::error::SegmentError;

/// A TCP flow in the client→server direction. Addresses are 16 bytes (IPv4 addresses
/// IPv4-mapped), as in the kernel contract; ports are host order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Client address.
    pub client_addr: [u8; 16],
    /// Server address.
    pub server_addr: [u8; 16],
    /// Client port.
    pub client_port: u16,
    /// Server port.
    pub server_port: u16,
}

fn to_ip(a: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

fn from_ip(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl FlowKey {
    /// A key from socket addresses (IPv4 addresses are stored IPv4-mapped).
    pub fn new(client: SocketAddr, server: SocketAddr) -> Self {
        Self {
            client_addr: from_ip(client.ip()),
            server_addr: from_ip(server.ip()),
            client_port: client.port(),
            server_port: server.port(),
        }
    }

    /// The client side.
    pub fn client(&self) -> SocketAddr {
        SocketAddr::new(to_ip(self.client_addr), self.client_port)
    }

    /// The server side.
    pub fn server(&self) -> SocketAddr {
        SocketAddr::new(to_ip(self.server_addr), self.server_port)
    }
}

impl fmt::Display for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.client(), self.server())
    }
}

/// Which way a segment went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Client→server: request bytes.
    #[default]
    Request,
    /// Server→client: response bytes (comparing endpoints only).
    Response,
}

/// One captured TCP segment of a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The flow, client→server whatever the segment's direction.
    pub flow: FlowKey,
    /// Which way the segment went.
    pub direction: Direction,
    /// TCP sequence number of the segment (of the SYN itself when SYN is set).
    pub seq: u32,
    /// TCP flags ([`shadowtap_common::record::tcp_flags`] bits).
    pub flags: u8,
    /// Capture time in nanoseconds (kernel monotonic time live, packet time from files).
    pub ts_ns: u64,
    /// Captured payload bytes: the first `payload.len()` bytes of the segment's payload.
    pub payload: Bytes,
    /// Payload length on the wire; larger than `payload.len()` when the capture was truncated.
    pub payload_len: u32,
}

impl Segment {
    /// A complete (untruncated) segment.
    pub fn new(flow: FlowKey, seq: u32, flags: u8, ts_ns: u64, payload: Bytes) -> Self {
        let payload_len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        Self {
            flow,
            direction: Direction::Request,
            seq,
            flags,
            ts_ns,
            payload,
            payload_len,
        }
    }

    /// A complete segment of the server→client direction of `flow` (a response's bytes).
    pub fn response(flow: FlowKey, seq: u32, flags: u8, ts_ns: u64, payload: Bytes) -> Self {
        Self {
            direction: Direction::Response,
            ..Self::new(flow, seq, flags, ts_ns, payload)
        }
    }

    /// Build a segment from a ring record's header and the payload bytes that followed it.
    /// A response record's addresses are swapped so the flow reads client→server. A
    /// malformed record is an error, never a panic.
    pub fn from_record(h: &RecordHeader, payload: &[u8]) -> Result<Self, SegmentError> {
        h.validate(payload.len())?;
        let response = h.direction == direction::RESPONSE;
        let flow = if response {
            FlowKey {
                client_addr: h.daddr,
                server_addr: h.saddr,
                client_port: h.dst_port(),
                server_port: h.src_port(),
            }
        } else {
            FlowKey {
                client_addr: h.saddr,
                server_addr: h.daddr,
                client_port: h.src_port(),
                server_port: h.dst_port(),
            }
        };
        Ok(Self {
            flow,
            direction: if response {
                Direction::Response
            } else {
                Direction::Request
            },
            seq: h.seq,
            flags: h.tcp_flags,
            ts_ns: h.ts_ns,
            payload: Bytes::copy_from_slice(payload),
            payload_len: h.payload_len,
        })
    }

    /// Build a segment from one ring record as raw bytes: a [`RecordHeader`] in native byte
    /// order followed by exactly `captured_len` payload bytes
    /// ([`RecordHeader::parse`] validates it).
    pub fn from_ring_record(record: &[u8]) -> Result<Self, SegmentError> {
        let (h, payload) = RecordHeader::parse(record)?;
        Self::from_record(&h, payload)
    }

    /// Whether the capture holds fewer bytes than the segment carried.
    pub fn truncated(&self) -> bool {
        self.payload_len as usize > self.payload.len()
    }

    /// SYN set.
    pub fn syn(&self) -> bool {
        self.flags & tcp_flags::SYN != 0
    }

    /// FIN set.
    pub fn fin(&self) -> bool {
        self.flags & tcp_flags::FIN != 0
    }

    /// RST set.
    pub fn rst(&self) -> bool {
        self.flags & tcp_flags::RST != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_common::maps::ipv4_mapped;
    use shadowtap_common::{RecordError, RECORD_HEADER_LEN};

    fn header(payload: &[u8]) -> RecordHeader {
        RecordHeader {
            ts_ns: 7,
            saddr: ipv4_mapped([10, 0, 0, 1]),
            daddr: ipv4_mapped([10, 0, 0, 2]),
            sport: 40000u16.to_be_bytes(),
            dport: 80u16.to_be_bytes(),
            seq: 1000,
            payload_len: payload.len() as u32,
            captured_len: payload.len() as u32,
            tcp_flags: tcp_flags::ACK | tcp_flags::PSH,
            ip_version: 4,
            ..RecordHeader::default()
        }
    }

    #[test]
    fn record_round_trip() {
        let h = header(b"GET");
        let s = Segment::from_record(&h, b"GET").expect("valid");
        assert_eq!(s.flow.to_string(), "10.0.0.1:40000->10.0.0.2:80");
        assert_eq!(s.seq, 1000);
        assert!(!s.truncated());
    }

    #[test]
    fn ring_bytes_layout() {
        let h = header(b"abc");
        let mut raw = h.to_bytes().to_vec();
        raw.extend_from_slice(b"abc");
        let (parsed, rest) = RecordHeader::parse(&raw).expect("header");
        assert_eq!(parsed, h);
        assert_eq!(rest, b"abc");
        let s = Segment::from_ring_record(&raw).expect("segment");
        assert_eq!(&s.payload[..], b"abc");
        assert!(Segment::from_ring_record(&raw[..10]).is_err());
        assert!(Segment::from_ring_record(&raw[..RECORD_HEADER_LEN + 1]).is_err());
    }

    #[test]
    fn malformed_records_are_errors() {
        let h = header(b"abc");
        assert!(matches!(
            Segment::from_record(&h, b"ab"),
            Err(SegmentError::Record(RecordError::LengthMismatch { .. }))
        ));
        let mut t = h;
        t.payload_len = 10;
        assert!(matches!(
            Segment::from_record(&t, b"abc"),
            Err(SegmentError::Record(RecordError::TruncatedMismatch { .. }))
        ));
        t.truncated = 1;
        assert!(Segment::from_record(&t, b"abc")
            .expect("truncated ok")
            .truncated());
        let mut l = h;
        l.payload_len = 2;
        assert!(matches!(
            Segment::from_record(&l, b"abc"),
            Err(SegmentError::Record(RecordError::CapturedTooLong { .. }))
        ));
        let mut v = h;
        v.ip_version = 5;
        assert!(Segment::from_record(&v, b"abc").is_err());
        v.ip_version = 4;
        v.saddr = [1; 16];
        assert!(Segment::from_record(&v, b"abc").is_err());
    }
}
