//! The pod→client direction: responses framed and paired on one connection (see
//! `shadowtap_compare::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shadowtap_compare::fuzzing::pairing(data);
});
