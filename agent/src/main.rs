//! The `shadowtap` binary.
fn main() {}
