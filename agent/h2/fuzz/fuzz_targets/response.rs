//! The server bytes of one h2c connection (see `shadowtap_h2::fuzzing_response::response`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_h2::fuzzing_response::response(data);
});
