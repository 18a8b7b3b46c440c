//! The kernel's monotonic clock, the time base of capture timestamps (`bpf_ktime_get_ns`).
#![allow(unsafe_code)]

/// Nanoseconds of CLOCK_MONOTONIC, as the kernel programs stamp records.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the value we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}
