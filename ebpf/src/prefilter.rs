//! The map-miss pre-filter, run before anything else looks at the packet: the destination
//! address and port of plain IPv4 (no options) and IPv6 (no extension headers) TCP, read
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

/// Whether the packet may be for a captured endpoint (`true` unless its destination is
/// known and its bit is clear).
#[inline(always)]
pub fn may_be_captured<P: Packet>(p: &P) -> bool {
    match plain_tcp_destination(p) {
        Some((folded, port)) => bit_set(folded, port),
        None => true,
    }
}

/// The destination (folded address, port) when the packet is plain TCP over IPv4 or IPv6
/// with its headers in the linear area; `None` for everything the full parser must see.
#[inline(always)]
fn plain_tcp_destination<P: Packet>(p: &P) -> Option<(u32, u16)> {
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
                fold_ipv4([ip[16], ip[17], ip[18], ip[19]]),
                u16::from_be_bytes([ports[2], ports[3]]),
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
                w(24) ^ w(28) ^ w(32) ^ w(36),
                u16::from_be_bytes([ports[2], ports[3]]),
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
