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
    /// Mirror capacity at 100 %: rate, losses, agent CPU per mirrored request, peak RSS.
    Capacity,
}

/// Build and run one benchmark.
pub fn run(which: Which) -> Result<()> {
    let env = setup::ensure()?;
    let name = match which {
        Which::Kernel => "kernel",
        Which::Capacity => {
            // The end-to-end benchmarks run the release agent binary.
            cargo(
                &env,
                &[
                    "build",
                    "--release",
                    "--package",
                    "shadowtap-agent",
                    "--bins",
                ],
            )?;
            "capacity"
        }
    };
    cargo(
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
            name,
        ],
    )
}
