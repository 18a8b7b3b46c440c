//! The VM's root file system: an initramfs holding busybox, the tools the kernel tests call
//! (with their shared libraries), the kernel modules they need, and the test binary.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

use super::debian::Kernel;

/// Host programs the tests run, besides busybox's applets (`sh`, `kill`, `sysctl`, …).
const TOOLS: &[&str] = &["ip", "tc", "curl"];

/// Kernel features the tests need that Debian builds as modules: veth pairs, the clsact
/// qdisc (`sch_ingress`), BPF classifiers (`cls_bpf`), and htb (someone else's root qdisc).
const MODULES: &[&str] = &["veth", "sch_ingress", "cls_bpf", "sch_htb"];

/// Where the test binary sits in the VM.
pub const TEST_BINARY: &str = "/shadowtap/kernel-tests";

/// The line the VM prints once init runs, and the prefix of its result line.
pub const BOOTED: &str = "shadowtap-vm: booted";
/// `shadowtap-vm: exit <code>` ends a run.
pub const EXIT: &str = "shadowtap-vm: exit ";

fn find_program(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} is not installed"))
}

/// Copy `src` to the same absolute path under `root` (following symlinks in `src`).
fn copy_into(root: &Path, src: &Path) -> Result<()> {
    let dest = root.join(src.strip_prefix("/").unwrap_or(src));
    if dest.exists() {
        return Ok(());
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(src, &dest)
        .with_context(|| format!("copying {} to {}", src.display(), dest.display()))?;
    Ok(())
}

/// The shared libraries `program` loads, as `ldd` resolves them (the loader included).
fn shared_libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(program)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || !out.status.success() {
        return Ok(Vec::new());
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, right)) => right.trim().split(' ').next()?,
                None => l.split(' ').next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Copy a program and its libraries.
fn install_program(root: &Path, program: &Path) -> Result<()> {
    copy_into(root, program)?;
    for lib in shared_libraries(program)? {
        copy_into(root, &lib)?;
    }
    Ok(())
}

/// Debian's merged /usr: /bin, /sbin, /lib, /lib64 point into /usr.
fn skeleton(root: &Path) -> Result<()> {
    for dir in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "etc",
        "var",
        "root",
        "shadowtap",
    ] {
        fs::create_dir_all(root.join(dir))?;
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("var/run", "../run"),
    ] {
        symlink(target, root.join(link))?;
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(root.join("etc/group"), "root:x:0:\n")?;
    Ok(())
}

fn install_busybox(root: &Path) -> Result<()> {
    let busybox = find_program("busybox")?;
    install_program(root, &busybox)?;
    let target = root.join("usr/bin/busybox");
    if !target.exists() {
        fs::copy(&busybox, &target)?;
    }
    let out = Command::new(&busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let link = root.join("usr/bin").join(applet);
        // Real tools copied before win over applets of the same name.
        if !link.exists() && !root.join("usr/sbin").join(applet).exists() {
            symlink("busybox", &link)?;
        }
    }
    Ok(())
}

/// Module name → (path relative to the modules directory, dependencies), from the
/// package's `modules.dep` (generated with depmod once per package).
fn module_index(kernel: &Kernel) -> Result<BTreeMap<String, (String, Vec<String>)>> {
    let dep = kernel.modules.join("modules.dep");
    if !dep.exists() {
        // <base>/lib/modules/<release>, or <base>/usr/lib/modules/<release>.
        let mut base = kernel
            .modules
            .ancestors()
            .nth(3)
            .context("modules directory too shallow")?;
        if base.ends_with("usr") {
            base = base.parent().context("modules directory too shallow")?;
        }
        let st = Command::new("depmod")
            .arg("-b")
            .arg(base)
            .arg(&kernel.release)
            .status()
            .context("running depmod")?;
        if !st.success() {
            bail!("depmod for {} failed ({st})", kernel.release);
        }
    }
    let name = |path: &str| -> String {
        let file = path.rsplit('/').next().unwrap_or(path);
        file.split(".ko").next().unwrap_or(file).replace('-', "_")
    };
    let text = fs::read_to_string(&dep).with_context(|| format!("reading {}", dep.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (module, deps) = l.split_once(':')?;
            let deps = deps.split_whitespace().map(name).collect();
            Some((name(module), (module.to_owned(), deps)))
        })
        .collect())
}

fn is_builtin(kernel: &Kernel, module: &str) -> bool {
    fs::read_to_string(kernel.modules.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.rsplit('/').next().and_then(|f| f.strip_suffix(".ko")) == Some(module))
}

/// Copy the modules the tests need and their dependencies, decompressed (busybox's modprobe
/// reads plain `.ko`), and index them with depmod. Returns the modules to load at boot.
fn install_modules(root: &Path, kernel: &Kernel) -> Result<Vec<String>> {
    let index = module_index(kernel)?;
    let mut load = Vec::new();
    let mut todo: Vec<String> = Vec::new();
    for m in MODULES {
        if index.contains_key(*m) {
            load.push((*m).to_owned());
            todo.push((*m).to_owned());
        } else if !is_builtin(kernel, m) {
            bail!(
                "Linux {} has no module {m} and does not build it in",
                kernel.release
            );
        }
    }
    let dest_base = root.join("usr/lib/modules").join(&kernel.release);
    let mut done = BTreeSet::new();
    while let Some(m) = todo.pop() {
        if !done.insert(m.clone()) {
            continue;
        }
        let (rel, deps) = index
            .get(&m)
            .with_context(|| format!("module {m} is in modules.dep without a file"))?;
        todo.extend(deps.iter().cloned());
        let src = kernel.modules.join(rel);
        let plain = rel
            .trim_end_matches(".xz")
            .trim_end_matches(".zst")
            .trim_end_matches(".gz");
        let dest = dest_base.join(plain);
        fs::create_dir_all(dest.parent().context("module path")?)?;
        let decompress = match rel.rsplit('.').next() {
            Some("xz") => Some("xz"),
            Some("zst") => Some("zstd"),
            Some("gz") => Some("gzip"),
            _ => None,
        };
        match decompress {
            Some(tool) => {
                let out = fs::File::create(&dest)?;
                let st = Command::new(tool)
                    .args(["-dc"])
                    .arg(&src)
                    .stdout(out)
                    .status()
                    .with_context(|| format!("running {tool}"))?;
                if !st.success() {
                    bail!("decompressing {} failed ({st})", src.display());
                }
            }
            None => {
                fs::copy(&src, &dest)?;
            }
        }
    }
    for meta in [
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.order",
    ] {
        let src = kernel.modules.join(meta);
        if src.exists() {
            fs::copy(&src, dest_base.join(meta))?;
        }
    }
    let st = Command::new("depmod")
        .arg("-b")
        .arg(root)
        .arg(&kernel.release)
        .status()
        .context("running depmod")?;
    if !st.success() {
        bail!("depmod in the initramfs failed ({st})");
    }
    Ok(load)
}

fn init_script(modules: &[String], filter: Option<&str>) -> String {
    // Test names are Rust paths: no quoting needed beyond refusing anything else.
    let filter: String = filter
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    format!(
        r#"#!/bin/sh
# shadowtap's VM init: mount what the tests need, load modules, run the kernel tests,
# print the result, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mkdir -p /run/netns
echo "{BOOTED} $(uname -r)"
for m in {modules}; do
    modprobe "$m" || {{ echo "modprobe $m failed"; echo "{EXIT}97"; poweroff -f; }}
done
ip link set lo up
[ -e /sys/kernel/btf/vmlinux ] || echo "no BTF at /sys/kernel/btf/vmlinux"
cd /tmp
CI=1 RUST_BACKTRACE=1 {TEST_BINARY} --test-threads=2 {filter}
echo "{EXIT}$?"
poweroff -f
"#,
        modules = modules.join(" "),
    )
}

/// Copy the test binary without its debug sections (a third of the size: the initramfs
/// is unpacked at every boot); panics still name their file and line.
fn install_test_binary(src: &Path, dest: &Path) -> Result<()> {
    let stripped = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(src)
        .arg(dest)
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    if !stripped {
        fs::copy(src, dest)?;
    }
    Ok(())
}

/// Build the initramfs for `kernel` with `test_binary`; returns the archive's path.
pub fn build(
    kernel: &Kernel,
    test_binary: &Path,
    cache: &Path,
    filter: Option<&str>,
) -> Result<PathBuf> {
    let dir = cache.join("initramfs").join(&kernel.release);
    let root = dir.join("root");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    skeleton(&root)?;
    for tool in TOOLS {
        install_program(&root, &find_program(tool)?)?;
    }
    install_busybox(&root)?;
    for lib in shared_libraries(test_binary)? {
        copy_into(&root, &lib)?;
    }
    install_test_binary(test_binary, &root.join(TEST_BINARY.trim_start_matches('/')))?;
    let modules = install_modules(&root, kernel)?;
    let init = root.join("init");
    fs::write(&init, init_script(&modules, filter))?;
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755))?;

    let archive = dir.join("initramfs.cpio");
    let out = fs::File::create(&archive)?;
    let mut cpio = Command::new("cpio")
        .args(["--null", "--create", "--format=newc", "--quiet"])
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(out)
        .spawn()
        .context("running cpio")?;
    {
        let mut list = Vec::new();
        for entry in walk(&root)? {
            let rel = entry.strip_prefix(&root).unwrap_or(&entry);
            list.extend_from_slice(rel.as_os_str().as_encoded_bytes());
            list.push(0);
        }
        use std::io::Write;
        cpio.stdin.take().context("cpio stdin")?.write_all(&list)?;
    }
    let st = cpio.wait()?;
    if !st.success() {
        bail!("cpio failed ({st})");
    }
    Ok(archive)
}

/// Every path under `root` (directories before their contents; symlinks not followed).
fn walk(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            out.push(path.clone());
            if entry.file_type()?.is_dir() {
                todo.push(path);
            }
        }
    }
    Ok(out)
}
