//! Startup checks with clear errors: capabilities (not the uid) and kernel BTF.
#![allow(unsafe_code)]

use std::path::Path;

use super::DatapathError;

/// A Linux capability shadowtap may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Load programs and create maps.
    Bpf,
    /// Run programs that read packet data freely, and bpf stats.
    Perfmon,
    /// Attach to network interfaces.
    NetAdmin,
    /// Enter other network namespaces (pod-side attach mode).
    SysAdmin,
}

impl Capability {
    fn number(self) -> u32 {
        match self {
            Capability::Bpf => 39,
            Capability::Perfmon => 38,
            Capability::NetAdmin => 12,
            Capability::SysAdmin => 21,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Capability::Bpf => "CAP_BPF",
            Capability::Perfmon => "CAP_PERFMON",
            Capability::NetAdmin => "CAP_NET_ADMIN",
            Capability::SysAdmin => "CAP_SYS_ADMIN",
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// The effective capability set of this process, as a 64-bit mask.
fn effective_caps() -> Result<u64, DatapathError> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header and room for two data structs, as the ABI requires.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(DatapathError::System {
            what: "process capabilities (capget)",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

/// Check that the process has `needed` capabilities and that the kernel has BTF.
pub fn check_startup(needed: &[Capability]) -> Result<(), DatapathError> {
    let caps = effective_caps()?;
    let missing: Vec<&'static str> = needed
        .iter()
        .filter(|c| caps & (1u64 << c.number()) == 0)
        .map(|c| c.name())
        .collect();
    if !missing.is_empty() {
        return Err(DatapathError::MissingCapabilities { missing });
    }
    let btf = Path::new("/sys/kernel/btf/vmlinux");
    if !btf.exists() {
        return Err(DatapathError::NoBtf {
            path: btf.to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_capabilities() {
        // Whatever the set is, reading it works and an empty requirement passes.
        effective_caps().expect("capget");
        check_startup(&[]).ok();
    }
}
