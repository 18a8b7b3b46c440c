//! Hand-built Ethernet frames for `BPF_PROG_TEST_RUN`. Checksums are left zero: the programs
//! never check them.

use std::net::{Ipv4Addr, Ipv6Addr};

/// TCP flag bits.
pub mod flags {
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

/// A TCP segment's header fields.
#[derive(Clone, Debug)]
pub struct Tcp {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flag byte.
    pub flags: u8,
    /// Data offset in bytes (20 without options).
    pub doff: u8,
}

impl Tcp {
    /// A PSH/ACK segment between the ports.
    pub fn new(sport: u16, dport: u16, seq: u32) -> Self {
        Self {
            sport,
            dport,
            seq,
            ack: 1,
            flags: flags::PSH | flags::ACK,
            doff: 20,
        }
    }

    fn bytes(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&self.sport.to_be_bytes());
        v.extend_from_slice(&self.dport.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.ack.to_be_bytes());
        v.push((self.doff / 4) << 4);
        v.push(self.flags);
        v.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
        // Options (NOPs) up to the data offset.
        while v.len() < usize::from(self.doff.max(20)) {
            v.push(1);
        }
        v.extend_from_slice(payload);
        v
    }
}

fn ethernet(ethertype: u16, vlan: Option<u16>) -> Vec<u8> {
    let mut v = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    if let Some(id) = vlan {
        v.extend_from_slice(&0x8100u16.to_be_bytes());
        v.extend_from_slice(&id.to_be_bytes());
    }
    v.extend_from_slice(&ethertype.to_be_bytes());
    v
}

/// Ethernet + IPv4 + TCP + payload.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, tcp: &Tcp, payload: &[u8]) -> Vec<u8> {
    ipv4_with(src, dst, tcp, payload, None, 6)
}

/// Ethernet (optionally VLAN-tagged) + IPv4 carrying protocol `proto`.
pub fn ipv4_with(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tcp: &Tcp,
    payload: &[u8],
    vlan: Option<u16>,
    proto: u8,
) -> Vec<u8> {
    let l4 = tcp.bytes(payload);
    let mut v = ethernet(0x0800, vlan);
    let tot = (20 + l4.len()) as u16;
    v.extend_from_slice(&[0x45, 0]);
    v.extend_from_slice(&tot.to_be_bytes());
    v.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&dst.octets());
    v.extend_from_slice(&l4);
    v
}

/// Ethernet + IPv6 (+ the given extension headers, each `(next_header_code, bytes)`) + TCP.
pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    tcp: &Tcp,
    payload: &[u8],
    ext: &[(u8, Vec<u8>)],
) -> Vec<u8> {
    let l4 = tcp.bytes(payload);
    let mut v = ethernet(0x86DD, None);
    let ext_len: usize = ext.iter().map(|(_, b)| b.len()).sum();
    let plen = (ext_len + l4.len()) as u16;
    let first = ext.first().map(|(code, _)| *code).unwrap_or(6);
    v.extend_from_slice(&[0x60, 0, 0, 0]);
    v.extend_from_slice(&plen.to_be_bytes());
    v.push(first);
    v.push(64);
    v.extend_from_slice(&src.octets());
    v.extend_from_slice(&dst.octets());
    for (i, (_, bytes)) in ext.iter().enumerate() {
        let next = ext.get(i + 1).map(|(code, _)| *code).unwrap_or(6);
        let mut b = bytes.clone();
        b[0] = next;
        v.extend_from_slice(&b);
    }
    v.extend_from_slice(&l4);
    v
}

/// An IPv6 options extension header (hop-by-hop or destination options) of `len8` 8-byte
/// units; its next-header byte is filled in by [`ipv6`].
pub fn ipv6_options(len8: u8) -> Vec<u8> {
    let mut b = vec![0u8; usize::from(len8) * 8];
    b[1] = len8 - 1;
    // PadN option filling the rest.
    b[2] = 1;
    b[3] = (b.len() - 4) as u8;
    b
}
