//! Client direction: request heads and chunked bodies (see `shadowtap_wire::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_wire::fuzzing::request(data);
});
