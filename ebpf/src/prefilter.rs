//! The map-miss pre-filter, run before anything else looks at the packet: the endpoint's
//! address and port (the destination of a request, the source of a response) of plain IPv4 (no options) and IPv6 (no extension headers) TCP, read
//! from the packet's linear area, hashed into the endpoint bitmap user space keeps
//! (`SHADOWTAP_ENDPOINT_FILTER`, `shadowtap_common::endpoint_filter`). A clear bit means no
//! captured endpoint is this packet's destination. Anything else (VLAN tags, IP options,
//! extension headers, fragments, non-TCP, headers outside the linear area, short packets)
//! is left to the full parser, so the filter changes no outcome but `not_matched`, which it
//! reaches sooner. It only reads.

use shadowtap_common::endpoint_filter::{filter_slot, fold_ipv4};

use crate::{maps::ENDPOINT_FILTER, packet::Packet};

const ETH_HLEN: u32 = 14;
const IPPROTO_TCP: u8 = 6;

/// Whether the packet may be for (`RESPONSE`: from) a captured endpoint (`true` unless that
/// address is known and its bit is clear).
#[inline(always)]
pub fn may_be_captured<P: Packet, const RESPONSE: bool>(p: &P) -> bool {
    match plain_tcp_endpoint::<P, RESPONSE>(p) {
        Some((folded, port)) => bit_set(folded, port),
        None => true,
    }
}

/// The endpoint's side (folded address, port) — the destination, or the source when
/// `RESPONSE` — when the packet is plain TCP over IPv4 or IPv6 with its headers in the
/// linear area; `None` for everything the full parser must see.
#[inline(always)]
fn plain_tcp_endpoint<P: Packet, const RESPONSE: bool>(p: &P) -> Option<(u32, u16)> {
    // Offsets of the address in the IP header and of the port in the TCP header.
    let (v4_addr, v6_addr, port_at) = if RESPONSE { (12, 8, 0) } else { (16, 24, 2) };
    let ethertype: [u8; 2] = p.linear_load(12)?;
    match ethertype {
        // IPv4 with a 20-byte header, TCP, not a fragment.
        [0x08, 0x00] => {
            let ip: [u8; 20] = p.linear_load(ETH_HLEN)?;
            if ip[0] != 0x45 || ip[9] != IPPROTO_TCP || (ip[6] & 0x3f) | ip[7] != 0 {
                return None;
            }
            let ports: [u8; 4] = p.linear_load(ETH_HLEN + 20)?;
            Some((
                fold_ipv4([
                    ip[v4_addr],
                    ip[v4_addr + 1],
                    ip[v4_addr + 2],
                    ip[v4_addr + 3],
                ]),
                u16::from_be_bytes([ports[port_at], ports[port_at + 1]]),
            ))
        }
        // IPv6 whose next header is TCP.
        [0x86, 0xdd] => {
            let ip: [u8; 40] = p.linear_load(ETH_HLEN)?;
            if ip[0] >> 4 != 6 || ip[6] != IPPROTO_TCP {
                return None;
            }
            let w = |i: usize| u32::from_be_bytes([ip[i], ip[i + 1], ip[i + 2], ip[i + 3]]);
            let ports: [u8; 4] = p.linear_load(ETH_HLEN + 40)?;
            Some((
                w(v6_addr) ^ w(v6_addr + 4) ^ w(v6_addr + 8) ^ w(v6_addr + 12),
                u16::from_be_bytes([ports[port_at], ports[port_at + 1]]),
            ))
        }
        _ => None,
    }
}

/// The destination's bit in the bitmap (a missing map word counts as set: look further).
#[inline(always)]
fn bit_set(folded: u32, port: u16) -> bool {
    let (word, mask) = filter_slot(folded, port);
    match ENDPOINT_FILTER.get(word) {
        Some(bits) => *bits & mask != 0,
        None => true,
    }
}
