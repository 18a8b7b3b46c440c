//! shadowtap's Huffman decoder against `loona-hpack`'s, an independent implementation of the
//! same RFC 7541 code: on strings shadowtap encodes, on arbitrary bytes (valid or not), and
//! on whole header blocks, where the rewritten block must decode to exactly the fields the
//! original one does.

use proptest::prelude::*;
use shadowtap_h2::hpack::HpackDecoder;
use shadowtap_h2::huffman;

/// loona-hpack's Huffman decoding of `src`.
fn reference(src: &[u8]) -> Option<Vec<u8>> {
    loona_hpack::huffman::HuffmanDecoder::new().decode(src).ok()
}

/// shadowtap's.
fn ours(src: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    huffman::decode(src, &mut out).ok().map(|()| out)
}

/// A string literal (RFC 7541 §5.2), Huffman-coded or plain.
fn literal(s: &[u8], coded: bool, out: &mut Vec<u8>) {
    let mut octets = Vec::new();
    if coded {
        huffman::encode(s, &mut octets);
    } else {
        octets.extend_from_slice(s);
    }
    let flag = if coded { 0x80 } else { 0 };
    let len = octets.len();
    if len < 127 {
        out.push(flag | len as u8);
    } else {
        out.push(flag | 127);
        let mut rest = len - 127;
        while rest >= 0x80 {
            out.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        out.push(rest as u8);
    }
    out.extend_from_slice(&octets);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encoded_strings_decode_alike(s in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut enc = Vec::new();
        huffman::encode(&s, &mut enc);
        prop_assert_eq!(ours(&enc), Some(s.clone()));
        prop_assert_eq!(reference(&enc), Some(s));
    }

    #[test]
    fn arbitrary_bytes_decode_alike(src in proptest::collection::vec(any::<u8>(), 0..40)) {
        prop_assert_eq!(ours(&src), reference(&src));
    }

    #[test]
    fn mostly_ones_decode_alike(src in proptest::collection::vec(
        prop_oneof![4 => Just(0xffu8), 1 => any::<u8>()], 0..12)
    ) {
        // Long codes, EOS and long padding live behind runs of ones.
        prop_assert_eq!(ours(&src), reference(&src));
    }

    #[test]
    fn rewritten_blocks_mean_the_same_fields(
        fields in proptest::collection::vec(
            (0u8..4, proptest::collection::vec(any::<u8>(), 0..40),
             proptest::collection::vec(any::<u8>(), 0..200), any::<bool>(), any::<bool>()),
            1..12),
    ) {
        let mut block = Vec::new();
        for (kind, name, value, name_coded, value_coded) in &fields {
            match kind {
                // Literal with incremental indexing, new name.
                0 => {
                    block.push(0x40);
                    literal(name, *name_coded, &mut block);
                    literal(value, *value_coded, &mut block);
                }
                // Without indexing, indexed name (:path).
                1 => {
                    block.push(0x04);
                    literal(value, *value_coded, &mut block);
                }
                // Never indexed, new name.
                2 => {
                    block.push(0x10);
                    literal(name, *name_coded, &mut block);
                    literal(value, *value_coded, &mut block);
                }
                // Indexed: :method GET.
                _ => block.push(0x82),
            }
        }
        let mut reference = loona_hpack::Decoder::new();
        let mut expected = Vec::new();
        reference
            .decode_with_cb(&block, |n, v| expected.push((n.to_vec(), v.to_vec())))
            .expect("the reference decodes the block");
        let mut d = HpackDecoder::new(4096);
        // Twice: the second block indexes what the first one added to the table.
        for _ in 0..2 {
            let got = d.decode(&block, usize::MAX).expect("decodes");
            let got: Vec<(Vec<u8>, Vec<u8>)> = got
                .fields
                .iter()
                .map(|f| (f.name.to_vec(), f.value.to_vec()))
                .collect();
            prop_assert_eq!(&got, &expected);
        }
    }
}
