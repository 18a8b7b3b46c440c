//! Booting a kernel with an initramfs under qemu and following its console.

use std::{
    fmt,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{
    debian::Kernel,
    initramfs::{BOOTED, EXIT},
};

/// How long a kernel may take to reach init, with KVM and without.
const BOOT_KVM: Duration = Duration::from_secs(60);
const BOOT_EMULATED: Duration = Duration::from_secs(300);
/// Console lines kept to explain a failure.
const TAIL: usize = 30;

/// How qemu runs the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// Hardware virtualisation (`/dev/kvm` opens read-write).
    Kvm,
    /// qemu's emulator (TCG): slow, works anywhere.
    Emulated,
}

impl Accel {
    /// KVM when `/dev/kvm` can be opened for reading and writing and is backed by hardware
    /// virtualisation (`kvm_intel` or `kvm_amd`); emulation otherwise. A KVM that is PVM
    /// (`kvm_pvm`, nested virtualisation without VMX/SVM) runs only kernels built as PVM
    /// guests: a stock Debian kernel hangs in its decompressor there.
    pub fn detect() -> (Self, &'static str) {
        let opens = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        let module = |m: &str| Path::new("/sys/module").join(m).exists();
        if !opens {
            (Accel::Emulated, "/dev/kvm cannot be opened")
        } else if module("kvm_pvm") && !module("kvm_intel") && !module("kvm_amd") {
            (
                Accel::Emulated,
                "/dev/kvm is PVM, which boots only PVM guest kernels",
            )
        } else {
            (Accel::Kvm, "/dev/kvm works")
        }
    }

    /// The default limit for one kernel's boot and tests.
    pub fn default_timeout_secs(self) -> u64 {
        match self {
            Accel::Kvm => 600,
            // A run takes about 2 minutes emulated on 2 cores; the margin is for busy hosts.
            Accel::Emulated => 1200,
        }
    }

    fn boot_limit(self) -> Duration {
        match self {
            Accel::Kvm => BOOT_KVM,
            Accel::Emulated => BOOT_EMULATED,
        }
    }

    /// Accelerator and CPUs. Emulation runs one vCPU: with several, qemu's multi-threaded
    /// translator can keep executing a stale copy of kernel text that the kernel is
    /// live-patching (static keys flip when TC programs attach), and Linux 6.12 then dies on
    /// an `int3` its patching code no longer expects (seen in `__netif_receive_skb_core`).
    fn args(self) -> &'static [&'static str] {
        match self {
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host", "-smp", "2"],
            Accel::Emulated => &["-accel", "tcg", "-cpu", "max", "-smp", "1"],
        }
    }
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "KVM",
            Accel::Emulated => "emulation (TCG)",
        })
    }
}

/// How the tests in a VM ended.
pub enum Verdict {
    /// The test binary exited 0.
    Passed,
    /// The test binary (or init) exited with this code.
    Failed(i32),
}

/// Kills the VM when dropped (a timeout, an error, Ctrl-C unwinding).
struct Vm(Child);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        return "(none: the kernel stopped before its console came up)".to_owned();
    }
    tail.join("\n")
}

/// Boot `kernel` with `initramfs`, stream its console to stderr prefixed with `label`, and
/// return how the tests ended. Errors when qemu cannot start, the kernel does not reach
/// init within the boot limit, the run exceeds `timeout`, or the VM stops without a result.
pub fn boot_and_test(
    kernel: &Kernel,
    initramfs: &Path,
    accel: Accel,
    timeout: Duration,
    label: &str,
) -> Result<Verdict> {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-machine", "q35", "-m", "2048"])
        .args(accel.args())
        .args(["-nodefaults", "-display", "none", "-serial", "stdio"])
        .args(["-no-reboot", "-kernel"])
        .arg(&kernel.vmlinuz)
        .arg("-initrd")
        .arg(initramfs)
        .args([
            "-append",
            "console=ttyS0 rdinit=/init panic=-1 oops=panic quiet loglevel=4",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .context("starting qemu-system-x86_64 (is qemu-system-x86 installed?)")?;
    let (tx, rx) = mpsc::channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line)
                    .trim_end_matches('\r')
                    .to_owned();
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut vm = Vm(child);

    let start = Instant::now();
    let mut booted = false;
    let mut tail: Vec<String> = Vec::new();
    loop {
        let limit = if booted {
            timeout
        } else {
            accel.boot_limit().min(timeout)
        };
        let left = limit.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                eprintln!("[{label}] {line}");
                if line.starts_with(BOOTED) {
                    booted = true;
                }
                if let Some(code) = line.strip_prefix(EXIT) {
                    let code: i32 = code.trim().parse().unwrap_or(-1);
                    // The VM powers itself off; wait for qemu, bounded by the drop's kill.
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while Instant::now() < deadline {
                        if vm.0.try_wait()?.is_some() {
                            break;
                        }
                        let _ = rx.recv_timeout(Duration::from_millis(200));
                    }
                    return Ok(if code == 0 {
                        Verdict::Passed
                    } else {
                        Verdict::Failed(code)
                    });
                }
                tail.push(line);
                if tail.len() > TAIL {
                    tail.remove(0);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) if !booted => bail!(
                "Linux {} did not reach init within {:.0} s (qemu with {accel}); last console lines:\n{}",
                kernel.release,
                limit.as_secs_f64(),
                tail_text(&tail)
            ),
            Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                "the kernel tests under Linux {} did not finish within {:.0} s; last console lines:\n{}",
                kernel.release,
                limit.as_secs_f64(),
                tail_text(&tail)
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = vm.0.wait()?;
                let what = if booted {
                    "stopped before the tests reported a result (a kernel panic?)"
                } else {
                    "stopped before reaching init (qemu or the kernel could not boot)"
                };
                bail!(
                    "the VM with Linux {} {what}; qemu {status}; last console lines:\n{}",
                    kernel.release,
                    tail_text(&tail)
                );
            }
        }
    }
}
