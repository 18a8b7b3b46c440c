//! `cargo xtask bench <which>`: benchmarks that print their figures and write them to
//! `target/bench-results/`.

use anyhow::Result;
use clap::ValueEnum;

use crate::{setup, test::cargo};

/// The benchmarks.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Which {
    /// Per-packet cost of the kernel programs: no-op vs map miss vs captured (needs root).
    Kernel,
}

/// Build and run one benchmark.
pub fn run(which: Which) -> Result<()> {
    let env = setup::ensure()?;
    match which {
        Which::Kernel => cargo(
            &env,
            &[
                "run",
                "--release",
                "--quiet",
                "--package",
                "shadowtap-tests",
                "--bin",
                "shadowtap-bench",
                "--",
                "kernel",
            ],
        ),
    }
}
