//! `cargo xtask test`: the whole test-suite, as CI runs it.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{
    kernels,
    setup::{self, Env},
};

/// Run `cargo <args>` with the set-up environment.
pub fn cargo(env: &Env, args: &[&str]) -> Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.args(args).env("PATH", &env.path);
    let st = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !st.success() {
        bail!("cargo {} failed ({st})", args.join(" "));
    }
    Ok(())
}

/// Set up, then check formatting, lints, run every test, and the kernel tests under the
/// kernel matrix.
pub fn run() -> Result<()> {
    let env = setup::ensure()?;
    cargo(&env, &["fmt", "--all", "--check"])?;
    cargo(&env, &["clippy", "--all-targets", "--", "-D", "warnings"])?;
    // The end-to-end tests run the `shadowtap` binary: build it first so it is current.
    cargo(&env, &["build", "--package", "shadowtap-agent", "--bins"])?;
    cargo(&env, &["test", "--no-fail-fast"])?;
    // The kernel tests again under Debian's 6.1 (clsact) and 6.12 (TCX) kernels in qemu:
    // about 5 minutes with the kernels cached, under emulation.
    kernels::run(&kernels::Options::default())?;
    Ok(())
}
