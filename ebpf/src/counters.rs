//! The per-CPU outcome counters: one block of `Counter::COUNT` values per CPU, found with a
//! single lookup per packet.

use shadowtap_common::{Counter, CounterBlock};

use crate::maps::COUNTERS;

/// This CPU's counter block.
pub struct Counters(*mut CounterBlock);

impl Counters {
    /// This CPU's block (`None` only if the map is missing its one entry, which the loader
    /// prevents).
    #[inline(always)]
    pub fn this_cpu() -> Option<Self> {
        COUNTERS.get_ptr_mut(0).map(Counters)
    }

    /// Add `n` to counter `c`.
    #[inline(always)]
    pub fn add(&self, c: Counter, n: u64) {
        // SAFETY: the pointer is this CPU's slot of a per-CPU array value, which only this
        // program invocation touches (BPF programs are not preempted on their CPU), and the
        // index is a `Counter` discriminant, always below `Counter::COUNT`.
        #[allow(unsafe_code)]
        unsafe {
            (*self.0)[c as usize] += n
        };
    }

    /// Add one to counter `c`.
    #[inline(always)]
    pub fn inc(&self, c: Counter) {
        self.add(c, 1)
    }
}
