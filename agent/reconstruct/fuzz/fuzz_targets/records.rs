//! Arbitrary bytes as ring records.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_reconstruct::fuzzing::run_records(data);
});
