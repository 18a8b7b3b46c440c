//! Body fingerprints, computed as the body streams by so a body is never held whole: its
//! length, XXH3-64 hashes of fixed blocks that locate the first difference between two
//! bodies without either body, and an XXH3-128 hash over the block hashes and the length
//! that stands for the whole (each body byte is hashed once).
//!
//! Blocks: the first [`FIXED_BLOCKS`] blocks are [`BLOCK_BYTES`] long (the first 64 KiB at
//! 4 KiB resolution); after them each block is as long as everything before it (64 KiB,
//! 128 KiB, …). The boundaries depend on the offset alone, never on the body's total length
//! (unknown for chunked and close-delimited bodies), so both sides cut alike. A body of
//! `n` bytes keeps `16 + log2(n / 64 KiB)` block hashes at most: 30 for 1 GiB.
//!
//! What hashes can tell: the first block whose hashes differ holds the first differing
//! byte, so the offset is known to lie in a range ([`BodyOffset`]) — 4 KiB wide in the
//! first 64 KiB, then as wide as the offset itself. When one body is a prefix of the other
//! and ends on a block boundary, the offset is exact (where the shorter one ends).

use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

/// Length of each of the first [`FIXED_BLOCKS`] blocks.
pub const BLOCK_BYTES: u64 = 4096;
/// Number of blocks of [`BLOCK_BYTES`]; later blocks double.
pub const FIXED_BLOCKS: u64 = 16;

/// Where block `index` starts and ends (exclusive), in body bytes.
pub fn block_range(index: u64) -> (u64, u64) {
    if index < FIXED_BLOCKS {
        return (index * BLOCK_BYTES, (index + 1) * BLOCK_BYTES);
    }
    let base = FIXED_BLOCKS * BLOCK_BYTES;
    let shift = (index - FIXED_BLOCKS).min(63) as u32;
    let start = base.checked_shl(shift).unwrap_or(u64::MAX);
    let end = base.checked_shl(shift + 1).unwrap_or(u64::MAX);
    (start, end)
}

/// The fingerprint of a body's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDigest {
    /// XXH3-128 over the block hashes and the length: equal bodies, equal hashes.
    pub hash: u128,
    /// XXH3-64 of each block, in order (the last one may be partial).
    pub blocks: Box<[u64]>,
}

/// What is known of a body: always its length, its content's fingerprint when it was hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyDigest {
    /// Body length in bytes, after the transfer coding is removed.
    pub len: u64,
    /// The fingerprint; `None` when the body was not hashed (not the body mode, or bytes
    /// the kernel did not copy).
    pub content: Option<ContentDigest>,
}

impl BodyDigest {
    /// A body of `len` bytes whose content was not hashed.
    pub fn unhashed(len: u64) -> BodyDigest {
        BodyDigest { len, content: None }
    }

    /// The fingerprint of `body`, hashed in one piece.
    pub fn of(body: &[u8]) -> BodyDigest {
        let mut h = BodyHasher::new();
        h.update(body);
        h.finish()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.content.as_ref().map_or(0, |c| c.blocks.len() * 8)
    }
}

/// The first differing byte lies at an offset in `from..to` (`to - from == 1`: exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BodyOffset {
    /// First offset it may be.
    pub from: u64,
    /// One past the last offset it may be.
    pub to: u64,
}

impl BodyOffset {
    /// Whether the offset is known exactly.
    pub fn is_exact(&self) -> bool {
        self.to == self.from + 1
    }
}

/// Where two bodies first differ, `None` when they are the same (equal lengths, equal
/// hashes; or equal lengths when either was not hashed: then nothing more can be told).
pub fn first_difference(a: &BodyDigest, b: &BodyDigest) -> Option<BodyOffset> {
    let min_len = a.len.min(b.len);
    // Past the shorter body's end, the bodies differ at its end at the latest; bodies of
    // equal length differ before their end.
    let upper = if a.len == b.len {
        min_len
    } else {
        min_len.saturating_add(1)
    };
    let (ca, cb) = match (&a.content, &b.content) {
        (Some(ca), Some(cb)) => (ca, cb),
        _ if a.len == b.len => return None,
        _ => return Some(BodyOffset { from: 0, to: upper }),
    };
    if a.len == b.len && ca.hash == cb.hash {
        return None;
    }
    let common = ca.blocks.len().min(cb.blocks.len());
    for i in 0..common {
        if ca.blocks[i] != cb.blocks[i] {
            let (start, end) = block_range(i as u64);
            return Some(BodyOffset {
                from: start,
                to: end.min(upper).max(start + 1),
            });
        }
    }
    if a.len != b.len {
        // Every common block is equal: the shorter body is a prefix, ending on a boundary.
        return Some(BodyOffset {
            from: min_len,
            to: upper,
        });
    }
    // Not from `BodyHasher` (equal lengths and blocks give equal hashes there): the bodies
    // differ, somewhere.
    Some(BodyOffset {
        from: 0,
        to: a.len.max(1),
    })
}

/// Hashes a body fed in pieces; the result does not depend on how it is cut.
#[derive(Clone)]
pub struct BodyHasher {
    block: Xxh3,
    index: u64,
    block_left: u64,
    len: u64,
    blocks: Vec<u64>,
}

impl std::fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyHasher")
            .field("len", &self.len)
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl Default for BodyHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl BodyHasher {
    /// A hasher at the start of a body.
    pub fn new() -> BodyHasher {
        BodyHasher {
            block: Xxh3::new(),
            index: 0,
            block_left: BLOCK_BYTES,
            len: 0,
            blocks: Vec::new(),
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held (the block hashes so far).
    pub fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * 8
    }

    /// Hashes the next bytes of the body.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let take = usize::try_from(self.block_left)
                .unwrap_or(usize::MAX)
                .min(data.len());
            self.block.update(&data[..take]);
            data = &data[take..];
            self.block_left -= take as u64;
            if self.block_left == 0 {
                self.blocks.push(self.block.digest());
                self.block.reset();
                self.index += 1;
                let (start, end) = block_range(self.index);
                self.block_left = end - start;
            }
        }
    }

    /// The body's fingerprint.
    pub fn finish(mut self) -> BodyDigest {
        let (start, end) = block_range(self.index);
        if self.block_left < end - start {
            self.blocks.push(self.block.digest());
        }
        let mut whole = Vec::with_capacity(self.blocks.len() * 8 + 8);
        for b in &self.blocks {
            whole.extend_from_slice(&b.to_le_bytes());
        }
        whole.extend_from_slice(&self.len.to_le_bytes());
        BodyDigest {
            len: self.len,
            content: Some(ContentDigest {
                hash: xxhash_rust::xxh3::xxh3_128(&whole),
                blocks: self.blocks.into_boxed_slice(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_tile_the_offsets() {
        let mut at = 0;
        for i in 0..60 {
            let (s, e) = block_range(i);
            assert_eq!(s, at, "block {i}");
            assert!(e > s, "block {i}");
            at = e;
        }
        assert_eq!(block_range(16), (65536, 131072));
        assert_eq!(block_range(1000).1, u64::MAX);
    }

    #[test]
    fn pieces_hash_like_whole() {
        let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = BodyDigest::of(&body);
        for piece in [1, 7, 4096, 4097, 65536, 100_000] {
            let mut h = BodyHasher::new();
            for c in body.chunks(piece) {
                h.update(c);
            }
            assert_eq!(h.finish(), whole, "pieces of {piece}");
        }
        // 16 blocks of 4 KiB, one of 64 KiB, then 200000 - 131072 bytes of the 128 KiB one.
        assert_eq!(whole.content.as_ref().map(|c| c.blocks.len()), Some(18));
        assert_eq!(BodyDigest::of(b"").content.map(|c| c.blocks.len()), Some(0));
    }

    #[test]
    fn locates_the_first_difference() {
        let a: Vec<u8> = vec![b'a'; 300_000];
        let da = BodyDigest::of(&a);
        assert_eq!(first_difference(&da, &da), None);
        let mut b = a.clone();
        b[5000] = b'b';
        assert_eq!(
            first_difference(&da, &BodyDigest::of(&b)),
            Some(BodyOffset {
                from: 4096,
                to: 8192
            })
        );
        let mut b = a.clone();
        b[70_000] = b'b';
        b[200_000] = b'b';
        assert_eq!(
            first_difference(&da, &BodyDigest::of(&b)),
            Some(BodyOffset {
                from: 65536,
                to: 131072
            })
        );
        // A prefix ending on a block boundary: exact.
        let off = first_difference(&da, &BodyDigest::of(&a[..8192]));
        assert_eq!(
            off,
            Some(BodyOffset {
                from: 8192,
                to: 8193
            })
        );
        assert!(off.is_some_and(|o| o.is_exact()));
        // A prefix ending inside a block: bounded by its end.
        assert_eq!(
            first_difference(&BodyDigest::of(&a[..100]), &da),
            Some(BodyOffset { from: 0, to: 101 })
        );
        assert_eq!(
            first_difference(&BodyDigest::of(b"x"), &BodyDigest::of(b"y")),
            Some(BodyOffset { from: 0, to: 1 })
        );
        // Not hashed: lengths alone.
        assert_eq!(
            first_difference(&BodyDigest::unhashed(10), &BodyDigest::unhashed(10)),
            None
        );
        assert_eq!(
            first_difference(&BodyDigest::unhashed(10), &BodyDigest::of(b"abc")),
            Some(BodyOffset { from: 0, to: 4 })
        );
        // Empty against non-empty.
        assert_eq!(
            first_difference(&BodyDigest::of(b""), &BodyDigest::of(b"abc")),
            Some(BodyOffset { from: 0, to: 1 })
        );
    }
}
