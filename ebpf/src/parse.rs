//! Ethernet → (VLAN) → IPv4 / IPv6 (with extension headers) → TCP header parsing.
//!
//! Headers are read as byte arrays through [`Packet::load`]; nothing here touches packet
//! memory directly.

use shadowtap_common::{maps::ipv4_mapped, RecordHeader};

use crate::packet::Packet;

const ETH_HLEN: u32 = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;
const IPPROTO_TCP: u8 = 6;
const MAX_VLAN_TAGS: u32 = 2;
const MAX_IPV6_EXT_HEADERS: u32 = 6;

/// Why a packet was not parsed as TCP.
#[derive(Clone, Copy)]
pub enum Skip {
    /// Not TCP over IPv4/IPv6 (or a non-first fragment).
    NotTcp,
    /// A header was malformed or cut short.
    Malformed,
    /// An IPv6 extension-header chain longer than we walk.
    Ipv6ExtTooLong,
}

/// Where the TCP payload is, once the headers are parsed.
pub struct Payload {
    /// Offset of the first payload byte.
    pub off: u32,
    /// Payload length.
    pub len: u32,
}

#[inline(always)]
fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// Parse the packet down to its TCP header, writing addresses, ports, sequence numbers,
/// flags and IP version into `h` (a record header in the per-CPU scratch slot).
#[inline(always)]
pub fn parse<P: Packet>(p: &P, h: &mut RecordHeader) -> Result<Payload, Skip> {
    let pkt_len = p.len();
    let eth: [u8; ETH_HLEN as usize] = p.load(0).ok_or(Skip::Malformed)?;
    let mut proto = be16([eth[12], eth[13]]);
    let mut off = ETH_HLEN;
    let mut tags = 0;
    while (proto == ETH_P_8021Q || proto == ETH_P_8021AD) && tags < MAX_VLAN_TAGS {
        let tag: [u8; 4] = p.load(off).ok_or(Skip::Malformed)?;
        proto = be16([tag[2], tag[3]]);
        off += 4;
        tags += 1;
    }
    match proto {
        ETH_P_IP => parse_ipv4(p, off, pkt_len, h),
        ETH_P_IPV6 => parse_ipv6(p, off, pkt_len, h),
        _ => Err(Skip::NotTcp),
    }
}

#[inline(always)]
fn parse_ipv4<P: Packet>(
    p: &P,
    off: u32,
    pkt_len: u32,
    h: &mut RecordHeader,
) -> Result<Payload, Skip> {
    let ip: [u8; 20] = p.load(off).ok_or(Skip::Malformed)?;
    if ip[0] >> 4 != 4 {
        return Err(Skip::Malformed);
    }
    let ihl = ((ip[0] & 0x0f) as u32) * 4;
    if ihl < 20 {
        return Err(Skip::Malformed);
    }
    if ip[9] != IPPROTO_TCP {
        return Err(Skip::NotTcp);
    }
    // Fragments: only an unfragmented datagram carries a whole TCP segment.
    let frag = be16([ip[6], ip[7]]);
    if frag & 0x3fff != 0 {
        return Err(Skip::NotTcp);
    }
    let tot_len = be16([ip[2], ip[3]]) as u32;
    // With BIG TCP (and in some GSO paths) tot_len is 0: the packet length counts.
    let ip_end = if tot_len == 0 {
        pkt_len
    } else {
        if tot_len < ihl {
            return Err(Skip::Malformed);
        }
        let end = off + tot_len;
        if end < pkt_len {
            end
        } else {
            pkt_len
        }
    };
    h.saddr = ipv4_mapped([ip[12], ip[13], ip[14], ip[15]]);
    h.daddr = ipv4_mapped([ip[16], ip[17], ip[18], ip[19]]);
    h.ip_version = 4;
    parse_tcp(p, off + ihl, ip_end, h)
}

#[inline(always)]
fn parse_ipv6<P: Packet>(
    p: &P,
    off: u32,
    pkt_len: u32,
    h: &mut RecordHeader,
) -> Result<Payload, Skip> {
    let ip: [u8; 8] = p.load(off).ok_or(Skip::Malformed)?;
    if ip[0] >> 4 != 6 {
        return Err(Skip::Malformed);
    }
    let payload_len = be16([ip[4], ip[5]]) as u32;
    let mut next = ip[6];
    h.saddr = p.load(off + 8).ok_or(Skip::Malformed)?;
    h.daddr = p.load(off + 24).ok_or(Skip::Malformed)?;
    h.ip_version = 6;
    // A zero payload length is a jumbogram (BIG TCP): the packet length counts.
    let ip_end = if payload_len == 0 {
        pkt_len
    } else {
        let end = off + 40 + payload_len;
        if end < pkt_len {
            end
        } else {
            pkt_len
        }
    };
    let mut l4 = off + 40;
    let mut walked = 0;
    while next != IPPROTO_TCP {
        if walked >= MAX_IPV6_EXT_HEADERS {
            return Err(Skip::Ipv6ExtTooLong);
        }
        let ext: [u8; 8] = p.load(l4).ok_or(Skip::Malformed)?;
        match next {
            // Hop-by-hop, routing, destination options: length in 8-octet units after the
            // first 8.
            0 | 43 | 60 => {
                next = ext[0];
                l4 += (ext[1] as u32 + 1) * 8;
            }
            // Fragment: only an atomic fragment (offset 0, no more fragments) is whole.
            44 => {
                let frag = be16([ext[2], ext[3]]);
                if frag & 0xfff9 != 0 {
                    return Err(Skip::NotTcp);
                }
                next = ext[0];
                l4 += 8;
            }
            // Authentication header: length in 4-octet units, minus 2.
            51 => {
                next = ext[0];
                l4 += (ext[1] as u32 + 2) * 4;
            }
            _ => return Err(Skip::NotTcp),
        }
        walked += 1;
    }
    parse_tcp(p, l4, ip_end, h)
}

#[inline(always)]
fn parse_tcp<P: Packet>(
    p: &P,
    off: u32,
    ip_end: u32,
    h: &mut RecordHeader,
) -> Result<Payload, Skip> {
    let tcp: [u8; 20] = p.load(off).ok_or(Skip::Malformed)?;
    let doff = ((tcp[12] >> 4) as u32) * 4;
    if doff < 20 {
        return Err(Skip::Malformed);
    }
    let payload_off = off + doff;
    if payload_off > ip_end {
        return Err(Skip::Malformed);
    }
    h.sport = [tcp[0], tcp[1]];
    h.dport = [tcp[2], tcp[3]];
    h.seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    h.ack = u32::from_be_bytes([tcp[8], tcp[9], tcp[10], tcp[11]]);
    h.tcp_flags = tcp[13];
    Ok(Payload {
        off: payload_off,
        len: ip_end - payload_off,
    })
}
