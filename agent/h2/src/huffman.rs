//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B), decoded four bits at a time.
//!
//! The code is canonical: within one length, codes rise with the symbol, and the first code
//! of each length follows the last code of the length before (shifted by one bit). So the
//! whole code is given by each symbol's length ([`CODE_LENGTHS`]); [`code`] rebuilds the
//! RFC's codes from them (the tests compare them with Appendix B's hex column).
//!
//! Decoding walks a state machine built once from the code: a state is an internal node of
//! the code tree (there are exactly 256 for 257 symbols, so a state fits a byte), and each
//! of its 16 transitions consumes one nibble of input and yields the next state and at most
//! one symbol (no code is shorter than 5 bits). A string is valid when it ends at the root,
//! or inside the padding: a path of at most 7 bits, all ones (a prefix of EOS). EOS itself
//! inside a string is an error (§5.2).

use std::sync::OnceLock;

/// Why a Huffman string does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    /// The string contains the EOS symbol.
    #[error("EOS symbol inside a Huffman string")]
    Eos,
    /// The string ends with more than 7 bits of padding, or padding that is not all ones.
    #[error("invalid Huffman padding")]
    Padding,
}

/// Code length in bits of each symbol 0..=255 and EOS (256), RFC 7541 Appendix B.
pub const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0..
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16..
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32: ' ' .. '/'
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48: '0' .. '?'
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64: '@' .. 'O'
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80: 'P' .. '_'
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96: '`' .. 'o'
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112: 'p' .. 127
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128..
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144..
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160..
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176..
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192..
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208..
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224..
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240..
    30, // EOS
];

/// The EOS symbol.
const EOS: u16 = 256;

/// The canonical code of every symbol, aligned to the least significant bit.
pub fn code() -> [u32; 257] {
    let mut order: Vec<u16> = (0..=EOS).collect();
    order.sort_by_key(|&s| (CODE_LENGTHS[usize::from(s)], s));
    let mut codes = [0u32; 257];
    let mut next = 0u32;
    let mut len = CODE_LENGTHS[usize::from(order[0])];
    for s in order {
        let l = CODE_LENGTHS[usize::from(s)];
        next <<= l - len;
        len = l;
        codes[usize::from(s)] = next;
        next += 1;
    }
    codes
}

/// One transition: the state after a nibble, the symbol it completed, and flags.
#[derive(Clone, Copy, Default)]
struct Step {
    next: u8,
    symbol: u8,
    flags: u8,
}

/// [`Step::flags`]: the nibble completed a symbol.
const EMIT: u8 = 1;
/// [`Step::flags`]: the nibble reached EOS.
const FAIL: u8 = 2;

/// The decoding state machine.
struct Machine {
    steps: Box<[[Step; 16]; 256]>,
    /// A string may end in this state (root, or ≤ 7 bits of all-ones padding).
    accepting: [bool; 256],
}

/// A node of the code tree while building: children, or the symbol of a leaf.
#[derive(Clone, Copy)]
enum Node {
    Inner([u16; 2]),
    Leaf(u16),
}

impl Machine {
    fn build() -> Machine {
        // The tree: node 0 is the root; children are filled in as codes are inserted.
        let codes = code();
        let mut nodes = vec![Node::Inner([0, 0])];
        for (symbol, &c) in codes.iter().enumerate() {
            let len = CODE_LENGTHS[symbol];
            let mut at = 0usize;
            for bit in (0..len).rev() {
                let b = usize::from((c >> bit) & 1 == 1);
                let Node::Inner(children) = nodes[at] else {
                    unreachable!("a prefix code has no leaf on another code's path")
                };
                let child = if bit == 0 {
                    nodes.push(Node::Leaf(symbol as u16));
                    nodes.len() - 1
                } else if children[b] == 0 {
                    nodes.push(Node::Inner([0, 0]));
                    nodes.len() - 1
                } else {
                    usize::from(children[b])
                };
                if let Node::Inner(ch) = &mut nodes[at] {
                    ch[b] = child as u16;
                }
                at = child;
            }
        }
        // Number the inner nodes 0..256 (the root first) as states.
        let mut state_of = vec![u8::MAX; nodes.len()];
        let mut inner = Vec::with_capacity(256);
        for (i, n) in nodes.iter().enumerate() {
            if matches!(n, Node::Inner(_)) {
                state_of[i] = inner.len() as u8;
                inner.push(i);
            }
        }
        assert_eq!(inner.len(), 256, "257 symbols make 256 inner nodes");
        let mut steps = Box::new([[Step::default(); 16]; 256]);
        for (state, &node) in inner.iter().enumerate() {
            for nibble in 0..16u8 {
                let mut at = node;
                let mut step = Step::default();
                for bit in (0..4).rev() {
                    let Node::Inner(children) = nodes[at] else {
                        unreachable!("walks restart at the root after a leaf")
                    };
                    at = usize::from(children[usize::from((nibble >> bit) & 1)]);
                    if let Node::Leaf(symbol) = nodes[at] {
                        if symbol == EOS {
                            step.flags |= FAIL;
                        } else {
                            step.flags |= EMIT;
                            step.symbol = symbol as u8;
                        }
                        at = 0;
                    }
                }
                step.next = state_of[at];
                steps[state][nibble as usize] = step;
            }
        }
        // Accepting states: the root, and the all-ones paths of 1..=7 bits from it.
        let mut accepting = [false; 256];
        accepting[0] = true;
        let mut at = 0usize;
        for _ in 0..7 {
            let Node::Inner(children) = nodes[at] else {
                unreachable!("the all-ones path is EOS's, 30 bits long")
            };
            at = usize::from(children[1]);
            accepting[usize::from(state_of[at])] = true;
        }
        Machine { steps, accepting }
    }
}

/// The machine, built on first use (≈ 12 KiB).
fn machine() -> &'static Machine {
    static MACHINE: OnceLock<Machine> = OnceLock::new();
    MACHINE.get_or_init(Machine::build)
}

/// Decode the Huffman string `src`, appending the symbols to `out`. On an error `out` may
/// hold part of the string.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let m = machine();
    // Every byte yields at most 8 / 5 symbols; reserve the usual expansion once.
    out.reserve(src.len() + src.len() / 2);
    let mut state = 0u8;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = m.steps[usize::from(state)][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(HuffmanError::Eos);
            }
            if step.flags & EMIT != 0 {
                out.push(step.symbol);
            }
            state = step.next;
        }
    }
    if m.accepting[usize::from(state)] {
        Ok(())
    } else {
        Err(HuffmanError::Padding)
    }
}

/// Encode `src` with the Huffman code, padding the last byte with ones (RFC 7541 §5.2).
/// Used by tests and fuzzing to produce Huffman strings.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    let codes = code();
    let mut acc = 0u64;
    let mut bits = 0u32;
    for &b in src {
        let len = u32::from(CODE_LENGTHS[usize::from(b)]);
        acc = (acc << len) | u64::from(codes[usize::from(b)]);
        bits += len;
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        let pad = 8 - bits;
        out.push(((acc << pad) | ((1u64 << pad) - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_complete_and_matches_appendix_b() {
        // Kraft: a complete prefix code has Σ 2^-len = 1.
        let kraft: u64 = CODE_LENGTHS.iter().map(|&l| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
        let c = code();
        // Appendix B's "code as hex aligned to LSB" column, a sample over every length.
        for (symbol, hex) in [
            (0usize, 0x1ff8u32),
            (1, 0x7fffd8),
            (9, 0xffffea),
            (10, 0x3ffffffc),
            (32, 0x14),
            (47, 0x18),
            (48, 0x0),
            (60, 0x7ffc),
            (88, 0xfc),
            (92, 0x7fff0),
            (116, 0x9),
            (124, 0x7fc),
            (127, 0xffffffc),
            (128, 0xfffe6),
            (153, 0x1fffdc),
            (199, 0x1ffffec),
            (203, 0x7ffffde),
            (220, 0xffffffd),
            (249, 0xffffffe),
            (255, 0x3ffffee),
            (256, 0x3fffffff),
        ] {
            assert_eq!(c[symbol], hex, "symbol {symbol}");
        }
    }

    #[test]
    fn appendix_c_strings() {
        let mut out = Vec::new();
        decode(
            &[
                0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
            ],
            &mut out,
        )
        .expect("C.4.1");
        assert_eq!(out, b"www.example.com");
        out.clear();
        decode(&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf], &mut out).expect("C.4.2");
        assert_eq!(out, b"no-cache");
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut enc = Vec::new();
        encode(&all, &mut enc);
        let mut out = Vec::new();
        decode(&enc, &mut out).expect("decodes");
        assert_eq!(out, all);
    }

    #[test]
    fn padding_and_eos_are_checked() {
        let mut out = Vec::new();
        // 'a' is 00011 (5 bits): padded with 111 is valid, with 000 or 101 it is not.
        assert_eq!(decode(&[0b0001_1111], &mut out), Ok(()));
        assert_eq!(decode(&[0b0001_1000], &mut out), Err(HuffmanError::Padding));
        assert_eq!(decode(&[0b0001_1101], &mut out), Err(HuffmanError::Padding));
        // A whole byte of ones is 8 bits of padding: too long.
        assert_eq!(
            decode(&[0b0001_1111, 0xff], &mut out),
            Err(HuffmanError::Padding)
        );
        // EOS (30 ones) encoded explicitly.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HuffmanError::Eos)
        );
        assert_eq!(decode(&[], &mut out), Ok(()));
    }
}
