//! Pending pairs under random operations (see `shadowtap_compare::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_compare::fuzzing::comparator(data);
});
