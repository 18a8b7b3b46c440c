//! `cargo xtask bench <which>`: benchmarks that print their figures and write them to
//! `target/bench-results/`.

use anyhow::Result;
use clap::ValueEnum;

use crate::{
    setup::{self, Env},
    test::{cargo, run_tests_bin},
};

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
    /// Reassembly + HTTP/1 decoding throughput next to raw httparse (criterion).
    Decode,
    /// Every benchmark above, one after the other (needs root).
    All,
}

/// The benchmarks `all` runs, in order.
const ALL: [Which; 4] = [Which::Kernel, Which::Decode, Which::Capacity, Which::Scale];

/// Build and run one benchmark (or all of them).
pub fn run(which: Which) -> Result<()> {
    let env = setup::ensure()?;
    let list: &[Which] = if matches!(which, Which::All) {
        &ALL
    } else {
        std::slice::from_ref(&which)
    };
    for w in list {
        run_one(&env, *w)?;
    }
    Ok(())
}

fn run_one(env: &Env, which: Which) -> Result<()> {
    let name = match which {
        Which::Kernel => "kernel",
        Which::Capacity => "capacity",
        Which::Scale => "scale",
        Which::Decode => {
            return cargo(
                env,
                &[
                    "bench",
                    "--package",
                    "shadowtap-reconstruct",
                    "--bench",
                    "decode",
                    "--",
                    "--warm-up-time",
                    "1",
                    "--measurement-time",
                    "3",
                ],
            )
        }
        // Expanded by `run`.
        Which::All => return Ok(()),
    };
    run_tests_bin(env, "shadowtap-bench", &[name])
}
