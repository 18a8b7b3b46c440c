//! Whether this process may load BPF programs and create namespaces, and the one way tests
//! that need it skip (or, in CI, fail) when it may not.

/// Whether this process can load BPF programs and create namespaces. Tests that need the
/// kernel call [`require_privileges`] and return early with a message when it is false.
pub fn privileged() -> bool {
    // Capabilities, not the uid: CAP_BPF (39), CAP_NET_ADMIN (12), CAP_SYS_ADMIN (21).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    [39u32, 12, 21].iter().all(|c| eff & (1 << c) != 0)
}

/// True when the test may proceed; prints why it is skipped otherwise. In CI (`CI` set) a
/// missing privilege is a failure, not a skip, so the kernel tests cannot silently vanish.
pub fn require_privileges(test: &str) -> bool {
    if privileged() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: CI must run the kernel tests with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN"
    );
    eprintln!("{test}: skipped: needs CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (run as root)");
    false
}
