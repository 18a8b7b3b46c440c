//! Startup checks with clear errors: capabilities (not the uid) and kernel BTF.

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
}
