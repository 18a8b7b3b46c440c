//! Reassembly and HTTP/1.x decoding of arbitrary streams, segmentations and perturbations.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_reconstruct::fuzzing::run(data);
});
