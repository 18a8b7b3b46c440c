//! `cargo xtask bench <which>`: benchmarks that print their figures and write them to
//! `target/bench-results/`.

use anyhow::Result;
use clap::ValueEnum;

use crate::{setup, test::run_tests_bin};

/// The benchmarks.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Which {
    /// Per-packet cost of the kernel programs: no-op vs map miss vs captured (needs root).
    Kernel,
    /// Mirror capacity at 100 %: rate, losses, agent CPU per mirrored request, peak RSS.
    Capacity,
    /// Agent RSS, heap estimate and CPU with 10 000 idle keep-alive flows captured, beside
    /// 0 and 1 000 (needs root).
    Scale,
}

/// Build and run one benchmark.
pub fn run(which: Which) -> Result<()> {
    let env = setup::ensure()?;
    let name = match which {
        Which::Kernel => "kernel",
        Which::Capacity => "capacity",
        Which::Scale => "scale",
    };
    run_tests_bin(&env, "shadowtap-bench", &[name])
}
