//! Startup checks with clear errors: capabilities (not the uid) and kernel BTF; and whether
//! the kernel is one shadowtap was tested on.

use std::path::Path;

use caps::CapSet;

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
    fn cap(self) -> caps::Capability {
        match self {
            Capability::Bpf => caps::Capability::CAP_BPF,
            Capability::Perfmon => caps::Capability::CAP_PERFMON,
            Capability::NetAdmin => caps::Capability::CAP_NET_ADMIN,
            Capability::SysAdmin => caps::Capability::CAP_SYS_ADMIN,
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

/// Check that the process has `needed` capabilities in its effective set and that the
/// kernel has BTF.
pub fn check_startup(needed: &[Capability]) -> Result<(), DatapathError> {
    let effective = caps::read(None, CapSet::Effective)
        .map_err(|source| DatapathError::Capabilities { source })?;
    let missing: Vec<&'static str> = needed
        .iter()
        .filter(|c| !effective.contains(&c.cap()))
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

/// The oldest kernel (major, minor) the kernel tests ran on (`cargo xtask kernels`, see the
/// README's "Tested kernels"). Older kernels may work but were never tried.
pub const OLDEST_TESTED_KERNEL: (u32, u32) = (6, 1);

/// The running kernel's release when it is older than [`OLDEST_TESTED_KERNEL`] (the agent
/// warns and carries on); `None` when it is as new or newer, or unreadable.
pub fn untested_kernel() -> Option<String> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let release = release.trim().to_owned();
    older_than_tested(&release).then_some(release)
}

fn older_than_tested(release: &str) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
    match (next(), next()) {
        (Some(major), Some(minor)) => (major, minor) < OLDEST_TESTED_KERNEL,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_capabilities() {
        // Whatever the set is, reading it works and an empty requirement passes when the
        // kernel has BTF.
        let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
        assert_eq!(check_startup(&[]).is_ok(), btf);
    }

    #[test]
    fn kernels_older_than_the_oldest_tested() {
        assert!(older_than_tested("5.15.0-91-generic"));
        assert!(older_than_tested("6.0.12"));
        assert!(!older_than_tested("6.1.0-57-amd64"));
        assert!(!older_than_tested("6.12.117+deb12-amd64"));
        assert!(!older_than_tested("7.0"));
        assert!(!older_than_tested("garbage"));
    }
}
