//! Mirror-backend direction: responses read to their end (see `shadowtap_wire::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_wire::fuzzing::response(data);
});
