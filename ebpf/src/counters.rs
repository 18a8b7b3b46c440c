//! Increments of the per-CPU counters.

use shadowtap_common::Counter;

use crate::maps::COUNTERS;

/// Add `n` to counter `c` on this CPU.
#[inline(always)]
pub fn add(c: Counter, n: u64) {
    if let Some(p) = COUNTERS.get_ptr_mut(c as u32) {
        // SAFETY: `p` points at this CPU's slot of a per-CPU array value, which only this
        // program invocation touches (no preemption within a BPF program on one CPU).
        #[allow(unsafe_code)]
        unsafe {
            *p += n
        };
    }
}

/// Add one to counter `c` on this CPU.
#[inline(always)]
pub fn inc(c: Counter) {
    add(c, 1)
}
