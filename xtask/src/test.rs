//! `cargo xtask test`: the whole test-suite, as CI runs it.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::setup::{self, Env};

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

/// Set up, then check formatting, lints, and run every test.
pub fn run() -> Result<()> {
    let env = setup::ensure()?;
    cargo(&env, &["fmt", "--all", "--check"])?;
    cargo(&env, &["clippy", "--all-targets", "--", "-D", "warnings"])?;
    // The end-to-end tests run the `shadowtap` binary: build it first so it is current.
    cargo(&env, &["build", "--package", "shadowtap-agent", "--bins"])?;
    cargo(&env, &["test", "--no-fail-fast"])?;
    Ok(())
}
