//! Loading the embedded object with shadowtap's sizes and settings.

use aya::{
    programs::{SchedClassifier, Xdp},
    util::KernelVersion,
    EbpfLoader,
};
use shadowtap_common::names;

use super::{object::EBPF_OBJECT, DatapathError};

/// Settings fixed at load time.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Ring buffer size in bytes; rounded up to a power of two of at least one page.
    pub ring_bytes: u32,
    /// Unread ring bytes above which the kernel forces a reader wake-up.
    pub wakeup_threshold: u64,
    /// Most verbose kernel log level forwarded (aya-log levels: 1 error … 5 trace).
    pub kernel_log_level: u8,
    /// How TC programs are attached.
    pub tc_links: TcLinks,
}

/// How TC programs are attached to an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcLinks {
    /// TCX links, first in order, where the kernel has them (6.6 and later); clsact filters
    /// otherwise.
    #[default]
    Auto,
    /// Always clsact filters (netlink `cls_bpf`, direct action), even where TCX exists: the
    /// path kernels older than 6.6 take, runnable on any kernel.
    Clsact,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            ring_bytes: 16 * 1024 * 1024,
            wakeup_threshold: 256 * 1024,
            kernel_log_level: 2,
            tc_links: TcLinks::Auto,
        }
    }
}

/// Which of the programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    /// The TC classifier.
    Tc,
    /// The XDP program.
    Xdp,
    /// The no-op TC program (benchmark baseline; loaded on demand).
    TcNoop,
    /// The TC classifier of the response direction (comparing endpoints).
    TcResponse,
}

impl ProgramKind {
    /// The program's name in the object.
    pub fn name(self) -> &'static str {
        match self {
            ProgramKind::Tc => names::TC_PROGRAM,
            ProgramKind::Xdp => names::XDP_PROGRAM,
            ProgramKind::TcNoop => names::TC_NOOP_PROGRAM,
            ProgramKind::TcResponse => names::TC_RESPONSE_PROGRAM,
        }
    }
}

/// The loaded kernel side: programs verified and loaded, maps created, nothing attached yet.
pub struct Datapath {
    pub(super) ebpf: aya::Ebpf,
    logger: Option<super::log::KernelLogger>,
    pub(super) tcx: bool,
}

/// Round up to a power of two of at least one page (the ring buffer's requirement).
pub(super) fn ring_size(bytes: u32) -> u32 {
    bytes
        .max(4096)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
}

impl Datapath {
    /// Load and verify the programs.
    pub fn load(cfg: &LoadConfig) -> Result<Self, DatapathError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, source)| DatapathError::System {
            what: "the number of possible CPUs",
            source,
        })?;
        let wakeup = cfg.wakeup_threshold;
        let level = cfg.kernel_log_level;
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(names::EVENTS, ring_size(cfg.ring_bytes))
            .map_max_entries(names::SCRATCH, cpus as u32)
            .override_global(names::WAKEUP_THRESHOLD, &wakeup, true)
            .override_global("AYA_LOG_LEVEL", &level, true)
            .load(EBPF_OBJECT)
            .map_err(|source| DatapathError::Load { source })?;
        let logger = match aya_log::EbpfLogger::init(&mut ebpf) {
            Ok(logger) => Some(logger),
            Err(e) => {
                tracing::warn!(error = %e, "kernel log forwarding unavailable");
                None
            }
        };
        let tcx = match cfg.tc_links {
            TcLinks::Auto => kernel_has_tcx(),
            TcLinks::Clsact => false,
        };
        let mut dp = Self { ebpf, logger, tcx };
        dp.tc_mut()?
            .load()
            .map_err(|source| program_error(ProgramKind::Tc, "load", source))?;
        dp.xdp_mut()?
            .load()
            .map_err(|source| program_error(ProgramKind::Xdp, "load", source))?;
        dp.classifier_mut(ProgramKind::TcResponse)?
            .load()
            .map_err(|source| program_error(ProgramKind::TcResponse, "load", source))?;
        Ok(dp)
    }

    /// Whether TC programs attach as TCX links (else as clsact filters).
    pub fn uses_tcx(&self) -> bool {
        self.tcx
    }

    /// Forward the kernel programs' log records into the agent's log from a task on the
    /// current tokio runtime (once; later calls do nothing).
    pub fn spawn_log_forwarding(&mut self) {
        if let Some(logger) = self.logger.take() {
            tokio::spawn(super::log::forward(logger));
        }
    }

    /// The TC program (for attaching, and for `BPF_PROG_TEST_RUN` in tests).
    pub fn tc(&self) -> Result<&SchedClassifier, DatapathError> {
        let name = ProgramKind::Tc.name();
        self.ebpf
            .program(name)
            .ok_or_else(|| missing_program(ProgramKind::Tc))?
            .try_into()
            .map_err(|source| program_error(ProgramKind::Tc, "type", source))
    }

    /// One of the TC programs (the capture program or the no-op baseline).
    pub fn classifier(&self, kind: ProgramKind) -> Result<&SchedClassifier, DatapathError> {
        self.ebpf
            .program(kind.name())
            .ok_or_else(|| missing_program(kind))?
            .try_into()
            .map_err(|source| program_error(kind, "type", source))
    }

    /// The XDP program.
    pub fn xdp(&self) -> Result<&Xdp, DatapathError> {
        let name = ProgramKind::Xdp.name();
        self.ebpf
            .program(name)
            .ok_or_else(|| missing_program(ProgramKind::Xdp))?
            .try_into()
            .map_err(|source| program_error(ProgramKind::Xdp, "type", source))
    }

    pub(super) fn tc_mut(&mut self) -> Result<&mut SchedClassifier, DatapathError> {
        self.classifier_mut(ProgramKind::Tc)
    }

    pub(super) fn classifier_mut(
        &mut self,
        kind: ProgramKind,
    ) -> Result<&mut SchedClassifier, DatapathError> {
        self.ebpf
            .program_mut(kind.name())
            .ok_or_else(|| missing_program(kind))?
            .try_into()
            .map_err(|source| program_error(kind, "type", source))
    }

    /// Load the no-op TC program too (for the kernel benchmark's baseline).
    pub fn load_noop(&mut self) -> Result<(), DatapathError> {
        self.classifier_mut(ProgramKind::TcNoop)?
            .load()
            .map_err(|source| program_error(ProgramKind::TcNoop, "load", source))
    }

    /// Run-time statistics of a loaded program: (total run time in ns, run count). They
    /// count only while `kernel.bpf_stats_enabled` is 1.
    pub fn run_stats(&self, kind: ProgramKind) -> Result<(u64, u64), DatapathError> {
        let prog = self
            .ebpf
            .program(kind.name())
            .ok_or_else(|| missing_program(kind))?;
        let info = prog
            .info()
            .map_err(|source| program_error(kind, "info", source))?;
        Ok((info.run_time().as_nanos() as u64, info.run_count()))
    }

    pub(super) fn xdp_mut(&mut self) -> Result<&mut Xdp, DatapathError> {
        self.ebpf
            .program_mut(ProgramKind::Xdp.name())
            .ok_or_else(|| missing_program(ProgramKind::Xdp))?
            .try_into()
            .map_err(|source| program_error(ProgramKind::Xdp, "type", source))
    }
}

/// TCX links exist from kernel 6.6 on.
fn kernel_has_tcx() -> bool {
    KernelVersion::current().is_ok_and(|v| v >= KernelVersion::new(6, 6, 0))
}

fn missing_program(kind: ProgramKind) -> DatapathError {
    program_error(
        kind,
        "find",
        aya::programs::ProgramError::UnexpectedProgramType,
    )
}

pub(super) fn program_error(
    kind: ProgramKind,
    action: impl Into<String>,
    source: aya::programs::ProgramError,
) -> DatapathError {
    DatapathError::Program {
        name: kind.name(),
        action: action.into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::ring_size;

    #[test]
    fn ring_sizes_are_powers_of_two_of_at_least_a_page() {
        assert_eq!(ring_size(0), 4096);
        assert_eq!(ring_size(4097), 8192);
        assert_eq!(ring_size(16 << 20), 16 << 20);
        assert_eq!(ring_size(u32::MAX), 1 << 31);
    }
}
