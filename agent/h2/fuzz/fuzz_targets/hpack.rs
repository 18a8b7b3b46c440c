//! A sequence of HPACK header blocks on one decoder (see `shadowtap_h2::fuzzing::hpack`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_h2::fuzzing::hpack(data);
});
