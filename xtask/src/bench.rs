//! `cargo xtask bench <which>`: benchmarks that print their figures and write them to
//! `target/bench-results/`.

use anyhow::Result;
use clap::ValueEnum;

use crate::{
    setup::{self, Env},
    test::cargo,
};

/// The package of the benchmark and demo programs (`xtask/bench/`). xtask runs them through
/// cargo rather than depending on them, so that it builds before the eBPF toolchain is set up.
const PROGRAMS_PACKAGE: &str = "shadowtap-bench";

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
    /// The client's latency and throughput with nginx as foo-v1 and foo-v2: no agent,
    /// shadowtap mirroring 42 %, and an nginx `mirror` proxy; `wrk` (saturation) and `oha`
    /// (fixed rates), CPU per request. `SHADOWTAP_BENCH_BACKEND=own` uses shadowtap's own test
    /// server instead of nginx.
    Primary,
    /// The primary path's cost of shadow comparison: mirroring 42 % without comparison,
    /// with `compare: status` and with `compare: body`, next to no agent (needs root).
    Compare,
    /// Reassembly + HTTP/1 decoding throughput next to raw httparse (criterion).
    Decode,
    /// HTTP/2 decoding throughput of shadowtap-h2 next to the h2 crate's server, the same
    /// connection bytes in memory.
    H2Decode,
    /// Mirror capacity for 200 B gRPC unary calls at 100 % (h2load), agent CPU per mirrored
    /// call (needs root).
    H2Capacity,
    /// Every benchmark above, one after the other (needs root).
    All,
}

/// The benchmarks `all` runs, in order.
const ALL: [Which; 8] = [
    Which::Kernel,
    Which::Decode,
    Which::H2Decode,
    Which::Primary,
    Which::Compare,
    Which::Capacity,
    Which::H2Capacity,
    Which::Scale,
];

/// Debian packages a benchmark needs beyond the common set-up, by the command each provides.
fn extra_packages(which: Which) -> &'static [(&'static str, &'static str)] {
    match which {
        Which::Primary => &[("nginx", "nginx-light"), ("wrk", "wrk")],
        Which::H2Capacity => &[("h2load", "nghttp2-client")],
        _ => &[],
    }
}

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
    setup::ensure_debian_packages(extra_packages(which))?;
    let with_oha;
    let env = if matches!(which, Which::Primary) {
        // The open-loop load generator, found on PATH by the benchmark.
        let bin = crate::oha::ensure(&env.path)?;
        with_oha = Env {
            path: setup::prepend_to(&env.path, &bin)?,
        };
        &with_oha
    } else {
        env
    };
    let name = match which {
        Which::Primary => "primary",
        Which::Compare => "compare",
        Which::Kernel => "kernel",
        Which::Capacity => "capacity",
        Which::Scale => "scale",
        Which::H2Decode => "h2-decode",
        Which::H2Capacity => "h2-capacity",
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
    run_program(env, "shadowtap-bench", &[name])
}

/// Build the release agent, then run the release binary `bin` of `shadowtap-bench` (the
/// benchmarks and the demo, which start the agent and need root) with `args`.
pub fn run_program(env: &Env, bin: &str, args: &[&str]) -> Result<()> {
    cargo(
        env,
        &[
            "build",
            "--release",
            "--package",
            "shadowtap-agent",
            "--bins",
        ],
    )?;
    let mut all = vec![
        "run",
        "--release",
        "--quiet",
        "--package",
        PROGRAMS_PACKAGE,
        "--bin",
        bin,
        "--",
    ];
    all.extend_from_slice(args);
    cargo(env, &all)
}
