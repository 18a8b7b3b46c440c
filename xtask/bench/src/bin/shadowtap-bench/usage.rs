//! The agent's resource usage, read from /proc: CPU time, resident memory, and the part of
//! it that is BPF map mappings (the ring buffer and the other maps shadowtap mmaps).

/// Clock ticks per second of /proc/<pid>/stat times.
#[allow(unsafe_code)]
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// A `Name:   123 kB` field of /proc/<pid>/status, in KiB (0 when absent).
fn status_kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The agent's CPU seconds (user + system) and peak RSS in KiB, from /proc.
pub fn agent_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // Fields after the command: state is index 0, utime 11, stime 12 (clock ticks).
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    (
        (ticks(11) + ticks(12)) / ticks_per_second(),
        status_kib(&status, "VmHWM"),
    )
}

/// Resident memory of the agent, in KiB.
#[derive(Clone, Debug, Default)]
pub struct Memory {
    /// VmRSS.
    pub rss: u64,
    /// VmHWM (peak RSS).
    pub hwm: u64,
    /// RssAnon (anonymous pages: heap, stacks).
    pub anon: u64,
    /// RSS of the BPF map mappings (smaps entries named like `anon_inode:bpf-map`; a
    /// page mapped twice, as the ring buffer's data pages are, counts twice, as in VmRSS).
    pub bpf_maps: u64,
    /// Distinct names of those mappings as the kernel shows them.
    pub bpf_names: Vec<String>,
}

impl Memory {
    /// VmRSS minus the BPF map mappings: the agent's own memory (heap, stacks, binary).
    pub fn heap_estimate(&self) -> u64 {
        self.rss.saturating_sub(self.bpf_maps)
    }
}

/// Read the agent's resident memory from /proc/<pid>/status and /proc/<pid>/smaps.
pub fn agent_memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut m = Memory {
        rss: status_kib(&status, "VmRSS"),
        hwm: status_kib(&status, "VmHWM"),
        anon: status_kib(&status, "RssAnon"),
        ..Memory::default()
    };
    // smaps: a header line per mapping (`start-end perms offset dev inode [pathname]`),
    // followed by `Field: value kB` lines.
    let mut in_bpf = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let name = line.split_whitespace().nth(5).unwrap_or("");
            in_bpf = name.contains("bpf");
            if in_bpf && !m.bpf_names.iter().any(|n| n == name) {
                m.bpf_names.push(name.to_owned());
            }
        } else if in_bpf {
            if let Some(v) = line.strip_prefix("Rss:") {
                m.bpf_maps += v
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    m
}
