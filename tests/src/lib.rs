//! Helpers for shadowtap integration tests.
