//! The direction-consistent flow hash and the pre-sample threshold encoding.
//!
//! # Hash
//! Jenkins `jhash2` (the kernel's `include/linux/jhash.h`, initval `0xdeadbeef + 4·len + seed`)
//! over nine 32-bit words built from the TCP 4-tuple:
//!
//! 1. The two endpoints `(address, port)` are put in a fixed order: the one whose 16 address
//!    bytes, then 2 port bytes (network order), compare lower bytewise comes first. So a
//!    flow hashes the same in both directions, at TC ingress, TC egress, XDP and in user space.
//! 2. Words 0–3 are the first endpoint's address, words 4–7 the second's, each read as
//!    big-endian `u32`s from the network-order bytes; word 8 is `first_port << 16 | second_port`
//!    (host-order port values).
//! 3. The seed is [`FLOW_HASH_SEED`].
//!
//! IPv4 addresses are hashed in their IPv4-mapped IPv6 form.
//!
//! # Threshold
//! A flow is captured iff `(flow_hash as u64) < threshold`, with a 64-bit threshold so both
//! edges are expressible: [`SAMPLE_NONE`] (0) captures no flow, [`SAMPLE_ALL`] (2³²) captures
//! every flow. A fraction `n/d` maps to `floor(n · 2³² / d)`
//! ([`threshold_for_fraction`]): the capture probability over uniformly distributed hashes
//! is `threshold / 2³²`.

use crate::maps::Addr;

/// Seed of the flow hash. Fixed: kernel and user space must agree.
pub const FLOW_HASH_SEED: u32 = 0x5348_5450; // "SHTP"

/// Threshold that captures no flow.
pub const SAMPLE_NONE: u64 = 0;
/// Threshold that captures every flow (every `u32` hash is below it).
pub const SAMPLE_ALL: u64 = 1 << 32;

const JHASH_INITVAL: u32 = 0xdead_beef;

/// Threshold for capturing the fraction `numerator / denominator` of flows.
///
/// `denominator == 0` or `numerator == 0` gives [`SAMPLE_NONE`]; `numerator >= denominator`
/// gives [`SAMPLE_ALL`].
pub const fn threshold_for_fraction(numerator: u32, denominator: u32) -> u64 {
    if denominator == 0 || numerator == 0 {
        return SAMPLE_NONE;
    }
    if numerator >= denominator {
        return SAMPLE_ALL;
    }
    ((numerator as u64) << 32) / denominator as u64
}

/// Whether a flow with hash `hash` is captured under `threshold`.
#[inline(always)]
pub const fn is_sampled(hash: u32, threshold: u64) -> bool {
    (hash as u64) < threshold
}

#[inline(always)]
fn word(a: &Addr, i: usize) -> u32 {
    u32::from_be_bytes([a[4 * i], a[4 * i + 1], a[4 * i + 2], a[4 * i + 3]])
}

#[inline(always)]
fn first_is_lower(a: &Addr, a_port: u16, b: &Addr, b_port: u16) -> bool {
    let mut i = 0;
    while i < 16 {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a_port <= b_port
}

#[inline(always)]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

#[inline(always)]
fn finalize(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// `jhash2` over exactly nine words, as the kernel computes it.
#[inline(always)]
fn jhash2_9(k: &[u32; 9], seed: u32) -> u32 {
    let init = JHASH_INITVAL.wrapping_add(9 << 2).wrapping_add(seed);
    let (mut a, mut b, mut c) = (init, init, init);
    a = a.wrapping_add(k[0]);
    b = b.wrapping_add(k[1]);
    c = c.wrapping_add(k[2]);
    mix(&mut a, &mut b, &mut c);
    a = a.wrapping_add(k[3]);
    b = b.wrapping_add(k[4]);
    c = c.wrapping_add(k[5]);
    mix(&mut a, &mut b, &mut c);
    a = a.wrapping_add(k[6]);
    b = b.wrapping_add(k[7]);
    c = c.wrapping_add(k[8]);
    finalize(&mut a, &mut b, &mut c);
    c
}

/// The direction-consistent hash of a TCP flow (ports in host order).
#[inline(always)]
pub fn flow_hash(saddr: &Addr, sport: u16, daddr: &Addr, dport: u16) -> u32 {
    let (lo, lo_port, hi, hi_port) = if first_is_lower(saddr, sport, daddr, dport) {
        (saddr, sport, daddr, dport)
    } else {
        (daddr, dport, saddr, sport)
    };
    let k = [
        word(lo, 0),
        word(lo, 1),
        word(lo, 2),
        word(lo, 3),
        word(hi, 0),
        word(hi, 1),
        word(hi, 2),
        word(hi, 3),
        ((lo_port as u32) << 16) | hi_port as u32,
    ];
    jhash2_9(&k, FLOW_HASH_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::ipv4_mapped;

    #[test]
    fn same_in_both_directions() {
        let a = ipv4_mapped([10, 0, 0, 1]);
        let b = ipv4_mapped([10, 0, 0, 2]);
        assert_eq!(flow_hash(&a, 40000, &b, 80), flow_hash(&b, 80, &a, 40000));
        // Same address, different ports: ordering falls back to the port.
        assert_eq!(flow_hash(&a, 1, &a, 2), flow_hash(&a, 2, &a, 1));
    }

    #[test]
    fn differs_by_port_and_address() {
        let a = ipv4_mapped([10, 0, 0, 1]);
        let b = ipv4_mapped([10, 0, 0, 2]);
        let h = flow_hash(&a, 40000, &b, 80);
        assert_ne!(h, flow_hash(&a, 40001, &b, 80));
        assert_ne!(h, flow_hash(&a, 40000, &b, 81));
        assert_ne!(h, flow_hash(&ipv4_mapped([10, 0, 0, 3]), 40000, &b, 80));
    }

    #[test]
    fn known_vector_is_stable() {
        // Pinned so a change of seed, word order or endpoint ordering is noticed: the kernel
        // object and every agent of a cluster must compute the same value.
        let a = ipv4_mapped([10, 0, 0, 1]);
        let b = ipv4_mapped([10, 0, 0, 2]);
        assert_eq!(flow_hash(&a, 40000, &b, 80), KNOWN);
    }
    const KNOWN: u32 = 3_203_505_898;

    #[test]
    fn threshold_edges() {
        assert_eq!(threshold_for_fraction(0, 100), SAMPLE_NONE);
        assert_eq!(threshold_for_fraction(100, 100), SAMPLE_ALL);
        assert_eq!(threshold_for_fraction(7, 0), SAMPLE_NONE);
        assert_eq!(threshold_for_fraction(1, 2), 1 << 31);
        // The comparison is strict `<`: with SAMPLE_NONE not even hash 0 is sampled; with
        // SAMPLE_ALL even u32::MAX is.
        assert!(!is_sampled(0, SAMPLE_NONE));
        assert!(is_sampled(u32::MAX, SAMPLE_ALL));
        assert!(is_sampled(0, 1));
        assert!(!is_sampled(1, 1));
        // Half: exactly the hashes below 2^31.
        assert!(is_sampled((1 << 31) - 1, threshold_for_fraction(1, 2)));
        assert!(!is_sampled(1 << 31, threshold_for_fraction(1, 2)));
    }

    #[test]
    fn fraction_is_close_over_many_flows() {
        let t = threshold_for_fraction(42, 100);
        let b = ipv4_mapped([10, 0, 0, 2]);
        let n = 100_000u32;
        let hits = (0..n)
            .filter(|i| {
                let a = ipv4_mapped([10, 1, (i >> 8) as u8, *i as u8]);
                is_sampled(flow_hash(&a, 30000 + (i % 1000) as u16, &b, 80), t)
            })
            .count() as f64;
        let p = 0.42;
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        assert!((hits - n as f64 * p).abs() < 5.0 * sigma, "hits {hits}");
    }
}
