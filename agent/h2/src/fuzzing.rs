//! Fuzzing entry points, shared by the cargo-fuzz targets in `fuzz/` and by the test suite
//! (which runs them over a committed corpus and pseudo-random inputs, so every `cargo test`
//! exercises them without cargo-fuzz).
//!
//! The functions never panic on their own account: a panic is a finding — either the
//! decoder panicked, or one of the invariants checked here failed.
//!
//! [`connection`] (the client bytes of one connection; the first byte selects the start,
//! the limits, and whether a gap is reported):
//! - pushed whole or in random pieces, the requests and every counter are the same;
//! - conservation holds after every push, and the bytes held stay within the limits;
//! - with a gap, every request emitted is one the lossless run emitted, byte for byte
//!   (never spliced; limits made generous so that a drop cannot free room for another).
//!
//! [`hpack`] (a sequence of header blocks on one decoder): no panic; a list over the limit
//! keeps no fields and its size is still counted; the fields of every block, re-encoded by
//! an independent encoder state, decode to the same fields.
//!
//! [`huffman`] (one Huffman string): shadowtap's decoder and `loona-hpack`'s, an independent
//! implementation of the same code, accept the same strings and decode them alike.

use crate::hpack::HpackDecoder;
use crate::{Counters, H2Decoder, H2Request, Limits, Start};

/// A small deterministic generator driven by a fuzz input.
struct Rng(u64);

impl Rng {
    fn seeded(data: &[u8]) -> Self {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in data.iter().take(32) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self(h | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

fn tight() -> Limits {
    Limits {
        max_header_list_bytes: 200,
        max_header_block_bytes: 128,
        max_table_size: 4096,
        max_open_streams: 3,
        max_body_bytes: 64,
        max_connection_bytes: 256,
    }
}

fn generous() -> Limits {
    Limits {
        max_open_streams: usize::MAX,
        max_connection_bytes: usize::MAX / 4,
        ..Limits::default()
    }
}

/// Decode `bytes` pushed in the pieces `cuts` makes, with an optional gap of
/// `(offset, length)` instead of those bytes; checks conservation and memory after each
/// push.
fn run(
    bytes: &[u8],
    start: Start,
    limits: &Limits,
    cuts: &[usize],
    gap: Option<(usize, usize)>,
) -> (Vec<H2Request>, Counters) {
    let bound = limits
        .max_connection_bytes
        .saturating_add(2 * limits.max_header_block_bytes + 8192);
    let mut d = H2Decoder::new(start, limits.clone());
    let mut out = Vec::new();
    let mut at = 0;
    let mut points: Vec<usize> = cuts.to_vec();
    if let Some((g, len)) = gap {
        points.push(g);
        points.push(g + len);
    }
    points.push(bytes.len());
    points.sort_unstable();
    for p in points {
        let p = p.min(bytes.len());
        if p < at {
            continue;
        }
        match gap {
            Some((g, len)) if at == g && len > 0 => d.gap((p - at) as u64, &mut out),
            _ => d.push(&bytes[at..p], &mut out),
        }
        at = p;
        let open = d.open_streams() as u64;
        assert!(d.counters().check_conservation(open), "{:?}", d.counters());
        assert!(d.held_bytes() <= bound, "held {} > {bound}", d.held_bytes());
    }
    d.finish();
    assert!(d.counters().check_conservation(0));
    let stops: u64 = crate::CONNECTION_STOPS
        .iter()
        .map(|c| d.counters().get(*c))
        .sum();
    assert!(stops <= 1, "{:?}", d.counters());
    (out, d.counters().clone())
}

/// Client bytes of one connection (see the module docs).
pub fn connection(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let start = if sel & 1 == 0 {
        Start::PriorKnowledge
    } else {
        Start::AfterH2cUpgrade
    };
    let limits = if sel & 2 == 0 {
        Limits::default()
    } else {
        tight()
    };
    let mut rng = Rng::seeded(data);
    let (whole, k_whole) = run(bytes, start, &limits, &[], None);
    let mut cuts: Vec<usize> = (0..rng.below(12))
        .map(|_| rng.below(bytes.len() + 1))
        .collect();
    if sel & 4 != 0 {
        cuts = (1..bytes.len()).collect();
    }
    let (pieces, k_pieces) = run(bytes, start, &limits, &cuts, None);
    assert_eq!(pieces, whole, "pieces differ from one push");
    assert_eq!(k_pieces, k_whole, "counters differ from one push");
    if sel & 8 != 0 && !bytes.is_empty() {
        let g = rng.below(bytes.len());
        let len = 1 + rng.below(64).min(bytes.len() - g - 1);
        let (lossless, _) = run(bytes, start, &generous(), &[], None);
        let (lossy, _) = run(bytes, start, &generous(), &cuts, Some((g, len)));
        for r in &lossy {
            assert!(
                lossless.contains(r),
                "a request no lossless run emitted: {r:?}"
            );
        }
    }
}

/// A sequence of header blocks on one decoder (see the module docs).
pub fn hpack(data: &[u8]) {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let limit = if sel & 1 == 0 { usize::MAX } else { 100 };
    let mut d = HpackDecoder::new(if sel & 2 == 0 { 4096 } else { 65_536 });
    let mut enc = loona_hpack::Encoder::new();
    let mut check = HpackDecoder::new(4096);
    let mut rng = Rng::seeded(data);
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len());
        let (block, tail) = rest.split_at(n);
        rest = tail;
        let Ok(b) = d.decode(block, limit) else {
            return;
        };
        let sizes: usize = b.fields.iter().map(|f| f.list_size()).sum();
        if b.over_limit {
            assert!(b.fields.is_empty());
            assert!(b.list_size > limit);
        } else {
            assert_eq!(sizes, b.list_size);
        }
        if b.fields.is_empty() {
            continue;
        }
        let again = enc.encode(b.fields.iter().map(|f| (&f.name[..], &f.value[..])));
        let round = check
            .decode(&again, usize::MAX)
            .expect("an encoder's own block decodes");
        assert_eq!(round.fields, b.fields, "re-encoded fields differ");
    }
}

/// One Huffman string, decoded by shadowtap and by `loona-hpack` (see the module docs).
pub fn huffman(data: &[u8]) {
    let mut ours = Vec::new();
    let ours = crate::huffman::decode(data, &mut ours).ok().map(|()| ours);
    let reference = loona_hpack::huffman::HuffmanDecoder::new()
        .decode(data)
        .ok();
    assert_eq!(ours, reference, "Huffman decoders disagree");
}
