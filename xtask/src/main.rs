//! Developer tasks for shadowtap, run as `cargo xtask <command>`.
//!
//! Every command that needs the eBPF toolchain runs [`setup::ensure`] first, which is
//! idempotent and cheap when everything is already present.

mod bench;
mod kernels;
mod oha;
mod setup;
mod test;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Developer tasks for shadowtap.
#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set up, build, and run shadowtap's main job on the embedded example (needs root):
    /// namespaces, the announcement's 42 % HTTPRoute, `shadowtap agent --routes`, real traffic.
    Demo,
    /// Install what building and testing need: rust-src for nightly, bpf-linker, Debian tools,
    /// kubectl.
    Setup {
        /// Only what building the agent needs (rust-src, bpf-linker), as in the container
        /// image's builder.
        #[arg(long)]
        build_only: bool,
    },
    /// Set up, then build the agent (with its embedded eBPF object).
    Build {
        /// Build in release mode.
        #[arg(long)]
        release: bool,
    },
    /// Set up, then run formatting and lint checks, every test, and the kernel tests under
    /// the kernel matrix (`kernels`) (needs root).
    Test,
    /// Run the kernel tests under Debian's 6.1 (clsact) and 6.12 (TCX) kernels, each booted
    /// in a qemu VM (KVM when available) from an initramfs built here (needs root).
    Kernels(kernels::Options),
    /// Set up, then run a benchmark and print its table (needs root for kernel benchmarks).
    Bench {
        /// Which benchmark.
        #[arg(value_enum)]
        which: bench::Which,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Setup { build_only: false } => setup::ensure().map(|_| ()),
        Command::Setup { build_only: true } => setup::ensure_build().map(|_| ()),
        Command::Demo => {
            let env = setup::ensure()?;
            // Release: the demo compares client latency with and without the agent.
            bench::run_program(&env, "shadowtap-demo", &[])
        }
        Command::Build { release } => {
            let env = setup::ensure()?;
            test::cargo(&env, &build_args(release))
        }
        Command::Test => test::run(),
        Command::Bench { which } => bench::run(which),
        Command::Kernels(opts) => kernels::run(&opts),
    }
}

fn build_args(release: bool) -> Vec<&'static str> {
    let mut args = vec!["build", "--package", "shadowtap-agent"];
    if release {
        args.push("--release");
    }
    args
}
