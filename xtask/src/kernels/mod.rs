//! `cargo xtask kernels`: the kernel tests under other kernels, each booted in a qemu VM.
//!
//! For each kernel of the matrix the command resolves the newest Debian package of that
//! series in the machine's apt sources, downloads and unpacks it once (cached under the
//! target directory), builds an initramfs holding busybox, the tools the tests call with
//! their shared libraries, the kernel modules they need and the `kernel` test binary, boots
//! it under qemu (KVM when `/dev/kvm` can be opened, emulation otherwise) and streams the
//! VM's console. It fails when a kernel cannot boot, a test fails, or a run exceeds its
//! time limit.

mod debian;
mod initramfs;
pub mod vm;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::setup::{self, Env};

/// The host tools the command needs, by the command each package provides.
const VM_TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    ("depmod", "kmod"),
    ("cpio", "cpio"),
    ("xz", "xz-utils"),
    ("zstd", "zstd"),
];

/// One kernel series of the matrix: Debian packages `<prefix><N><suffix>`, newest `N` wins.
#[derive(Clone, Copy, Debug)]
pub struct Series {
    /// Short name printed in results (`6.1`).
    pub label: &'static str,
    /// Package name before the varying number.
    pub prefix: &'static str,
    /// Package name after it.
    pub suffix: &'static str,
}

/// Debian bookworm's kernels: its own 6.1 (no TCX: the clsact path) and the 6.12 it ships
/// for newer hardware (TCX, 6.6 and later). Packages are resolved at run time, so a Debian point release
/// that replaces an ABI (6.1.0-47 → 6.1.0-50) moves the matrix with it.
pub const MATRIX: &[Series] = &[
    Series {
        label: "6.1",
        prefix: "linux-image-6.1.0-",
        suffix: "-amd64",
    },
    Series {
        label: "6.12",
        prefix: "linux-image-6.12.",
        suffix: "+deb12-amd64",
    },
];

/// Options of the command.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Options {
    /// Run only this Debian kernel package (repeatable), e.g. `linux-image-6.1.0-50-amd64`,
    /// instead of the matrix's newest of each series.
    #[arg(long = "package", value_name = "PACKAGE")]
    pub packages: Vec<String>,
    /// Time limit for one kernel's boot and tests, in seconds (default: 600 with KVM, 1200
    /// with emulation).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Run only the kernel tests whose names contain this (as `cargo test <FILTER>`).
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Force hardware virtualisation or emulation instead of detecting which works.
    #[arg(long, value_enum)]
    pub accel: Option<vm::Accel>,
}

/// What one kernel's run gave.
struct Outcome {
    package: String,
    release: String,
    passed: bool,
    detail: String,
    took: Duration,
}

/// Run the kernel tests under each kernel of the matrix.
pub fn run(opts: &Options) -> Result<()> {
    let env = setup::ensure()?;
    setup::ensure_debian_packages(VM_TOOLS)?;
    let cache = cache_dir()?;
    let binary = build_test_binary(&env)?;
    let accel = match opts.accel {
        Some(a) => a,
        None => {
            let (accel, why) = vm::Accel::detect();
            eprintln!("kernels: {why}");
            accel
        }
    };
    eprintln!("kernels: qemu with {accel}; cache {}", cache.display());
    let packages: Vec<String> = if opts.packages.is_empty() {
        MATRIX.iter().map(debian::newest).collect::<Result<_>>()?
    } else {
        opts.packages.clone()
    };
    let timeout = Duration::from_secs(opts.timeout.unwrap_or(accel.default_timeout_secs()));
    let mut outcomes = Vec::new();
    for package in &packages {
        let start = Instant::now();
        let kernel = debian::fetch(package, &cache)?;
        let image = initramfs::build(&kernel, &binary, &cache, opts.filter.as_deref())?;
        eprintln!(
            "kernels: booting {package} ({}; TCX {})",
            kernel.release,
            if has_tcx(&kernel.release) {
                "present"
            } else {
                "absent: shadowtap attaches through clsact"
            }
        );
        let result = vm::boot_and_test(&kernel, &image, accel, timeout, &kernel.release);
        let (passed, detail) = match result {
            Ok(vm::Verdict::Passed) => (true, "all kernel tests passed".to_owned()),
            Ok(vm::Verdict::Failed(code)) => (false, format!("kernel tests failed (exit {code})")),
            Err(e) => (false, format!("{e:#}")),
        };
        outcomes.push(Outcome {
            package: package.clone(),
            release: kernel.release.clone(),
            passed,
            detail,
            took: start.elapsed(),
        });
    }
    eprintln!("\nkernels: results");
    for o in &outcomes {
        eprintln!(
            "  {:<4} {} ({}, {:.0} s): {}",
            if o.passed { "ok" } else { "FAIL" },
            o.package,
            o.release,
            o.took.as_secs_f64(),
            o.detail
        );
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    if failed > 0 {
        bail!("{failed} of {} kernels failed", outcomes.len());
    }
    Ok(())
}

/// Whether a kernel release (`6.1.0-57-amd64`) has TCX links: 6.6 and later.
fn has_tcx(release: &str) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (6, 6)
}

/// Where downloads, unpacked kernels and images are kept: `<target dir>/kernels`.
fn cache_dir() -> Result<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
    };
    let dir = target.join("kernels");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Build the `kernel` test binary and return its path.
fn build_test_binary(env: &Env) -> Result<PathBuf> {
    let out = Command::new("cargo")
        .args([
            "test",
            "--package",
            "shadowtap-tests",
            "--test",
            "kernel",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .env("PATH", &env.path)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !out.status.success() {
        bail!("building the kernel tests failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "kernel")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo reported no executable for the kernel tests")
}

#[cfg(test)]
mod tests {
    use super::has_tcx;

    #[test]
    fn tcx_from_release() {
        assert!(!has_tcx("6.1.0-57-amd64"));
        assert!(!has_tcx("5.18.0-1-amd64"));
        assert!(has_tcx("6.6.0"));
        assert!(has_tcx("6.12.117+deb12-amd64"));
        assert!(has_tcx("7.0.0"));
    }
}
