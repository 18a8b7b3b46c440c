//! `oha`, the open-loop HTTP load generator of the primary-path benchmark (fixed request
//! rates, latency from each request's scheduled time). No Debian suite reachable here
//! packages it and no prebuilt binary can be downloaded, so it is built from crates.io at a
//! pinned version, with its default features (1.16.0 does not compile without its TLS
//! feature, although the benchmark speaks cleartext HTTP/1.1), into a directory of its own
//! under `$CARGO_HOME/lib`. Idempotent: when that version's binary runs, nothing is done.

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Result};

use crate::setup::{cargo_home, status};

/// The oha release built.
pub const VERSION: &str = "1.16.0";

/// The directory whose `bin/oha` is this version (versioned, so a change of `VERSION`
/// builds the new one beside the old).
fn root() -> Result<PathBuf> {
    Ok(cargo_home()?
        .join("lib")
        .join(format!("shadowtap-oha-{VERSION}")))
}

/// Make sure `oha` `VERSION` is built; returns the directory holding the binary (to put
/// first on `PATH`).
pub fn ensure(path: &std::ffi::OsStr) -> Result<PathBuf> {
    let root = root()?;
    let bin = root.join("bin");
    let oha = bin.join("oha");
    if version_of(&oha).is_some_and(|v| v.contains(VERSION)) {
        return Ok(bin);
    }
    eprintln!(
        "setup: building oha {VERSION} from crates.io into {} (a few minutes, once)",
        root.display()
    );
    status(
        Command::new("cargo")
            .args(["install", "--locked", "--force"])
            .arg(format!("oha@{VERSION}"))
            .arg("--root")
            .arg(&root)
            .env("PATH", path),
    )?;
    match version_of(&oha) {
        Some(v) if v.contains(VERSION) => Ok(bin),
        Some(v) => bail!("{} reports {v:?}, expected {VERSION}", oha.display()),
        None => bail!("{} was built but does not run", oha.display()),
    }
}

/// `oha --version`, when it runs.
fn version_of(oha: &std::path::Path) -> Option<String> {
    let out = Command::new(oha).arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_root_is_versioned() {
        let root = super::root().expect("CARGO_HOME or HOME");
        assert!(root.ends_with(format!("shadowtap-oha-{}", super::VERSION)));
    }
}
