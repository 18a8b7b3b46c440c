//! One Huffman string, two decoders (see `shadowtap_h2::fuzzing::huffman`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_h2::fuzzing::huffman(data);
});
