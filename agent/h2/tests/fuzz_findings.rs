//! Inputs the fuzz targets found, kept as regression tests.

use shadowtap_h2::fuzzing;

/// Split pushes dropped a stream over `max_body_bytes` at different bytes than one push,
/// and counted only the DATA of the push that passed the limit as skipped (not what the
/// stream had already received), so the counters depended on the cuts.
#[test]
fn body_limit_drop_counts_the_same_whatever_the_cuts() {
    let input = include_bytes!("../fuzz/corpus/connection/finding_body_limit_skipped_bytes");
    fuzzing::connection(input);
}
