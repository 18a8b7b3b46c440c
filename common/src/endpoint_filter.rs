//! The kernel's endpoint pre-filter: a bitmap of 65 536 bits, one set for every captured
//! endpoint at the position a cheap hash of its address and port picks. The kernel program
//! tests the bit of a packet's destination before it parses the whole packet and looks the
//! endpoint up; a clear bit means no endpoint can match, so the packet is counted
//! `not_matched` at once. A set bit only says "look further" (another endpoint may share
//! the bit): the endpoint map decides. User space sets an endpoint's bit before inserting it
//! and clears it after the last endpoint on that bit is removed, so the filter never hides a
//! captured packet. One definition of the hash serves both sides.

/// 64-bit words in the bitmap.
pub const ENDPOINT_FILTER_WORDS: u32 = 1024;

/// The XOR of an address's four big-endian 32-bit words (IPv4-mapped addresses included:
/// for `::ffff:a.b.c.d` it is `0x0000_ffff ^ a.b.c.d`), the address part of the hash.
#[inline(always)]
pub fn fold_addr(addr: &[u8; 16]) -> u32 {
    let w = |i: usize| u32::from_be_bytes([addr[i], addr[i + 1], addr[i + 2], addr[i + 3]]);
    w(0) ^ w(4) ^ w(8) ^ w(12)
}

/// The fold of the IPv4-mapped form of an IPv4 address given as its 4 bytes.
#[inline(always)]
pub const fn fold_ipv4(ip: [u8; 4]) -> u32 {
    0x0000_ffff ^ u32::from_be_bytes(ip)
}

/// The word index and bit mask of the endpoint whose address folds to `folded` and whose
/// port is `port`: a multiplicative hash whose top 16 bits depend on every input bit.
#[inline(always)]
pub const fn filter_slot(folded: u32, port: u16) -> (u32, u64) {
    let x = folded ^ (port as u32).rotate_left(16) ^ port as u32;
    let h = x.wrapping_mul(0x9e37_79b1) >> 16;
    (h >> 6, 1u64 << (h & 63))
}

/// [`filter_slot`] of an endpoint as the maps store it (address 16 bytes, port bytes in
/// network order).
#[inline(always)]
pub fn endpoint_slot(addr: &[u8; 16], port: [u8; 2]) -> (u32, u64) {
    filter_slot(fold_addr(addr), u16::from_be_bytes(port))
}

const _: () = assert!(ENDPOINT_FILTER_WORDS as usize * 64 == 1 << 16);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::ipv4_mapped;

    #[test]
    fn ipv4_folds_like_its_mapped_form() {
        for ip in [[10, 0, 0, 1], [192, 0, 2, 255], [0, 0, 0, 0], [255; 4]] {
            assert_eq!(fold_ipv4(ip), fold_addr(&ipv4_mapped(ip)));
        }
    }

    #[test]
    fn slots_are_in_range_and_spread() {
        let mut used = [0u64; ENDPOINT_FILTER_WORDS as usize];
        let mut collisions = 0;
        // 4 096 pod addresses on one port: few share a bit (expected ≈ n²/2/65 536 ≈ 128).
        for i in 0..4096u32 {
            let ip = (0x0a00_0000 | i).to_be_bytes();
            let (w, m) = filter_slot(fold_ipv4(ip), 8080);
            assert!(w < ENDPOINT_FILTER_WORDS);
            assert_eq!(m.count_ones(), 1);
            if used[w as usize] & m != 0 {
                collisions += 1;
            }
            used[w as usize] |= m;
        }
        assert!(collisions < 300, "{collisions} collisions");
        // The port matters.
        assert_ne!(
            filter_slot(fold_ipv4([10, 0, 0, 1]), 8080),
            filter_slot(fold_ipv4([10, 0, 0, 1]), 8081)
        );
    }
}
