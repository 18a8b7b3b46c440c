//! The agent's CPU priority: mirroring is best effort, so the agent can yield the CPU to the
//! workloads whose traffic it observes. Set before the runtime starts, so every thread the
//! agent creates afterwards inherits it.

use std::io;

use clap::ValueEnum;

/// How the agent's threads compete for CPU with the node's workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CpuPriority {
    /// Like any process (nice 0).
    Normal,
    /// Nice 19: the smallest share under contention, yet never starved.
    Low,
    /// SCHED_IDLE: runs only on CPU time no other thread wants. Under full load the ring
    /// fills and losses are counted; health endpoints may answer late.
    Idle,
}

/// Applies `priority` to the calling thread (and so to threads it creates later).
pub fn apply(priority: CpuPriority) -> io::Result<()> {
    match priority {
        CpuPriority::Normal => Ok(()),
        CpuPriority::Low => set_nice(19),
        CpuPriority::Idle => set_idle(),
    }
}

#[allow(unsafe_code)]
fn set_nice(nice: i32) -> io::Result<()> {
    // SAFETY: setpriority takes plain integers; `0` means the calling thread on Linux.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[allow(unsafe_code)]
fn set_idle() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param for the duration of the call; pid 0 is the
    // calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn own_nice() -> i32 {
        // SAFETY: getpriority takes plain integers; `0` means the calling thread on Linux.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn low_sets_nice_19_on_the_calling_thread_only() {
        let before = own_nice();
        let (set, nice) = std::thread::spawn(|| (apply(CpuPriority::Low).is_ok(), own_nice()))
            .join()
            .expect("thread");
        assert!(set);
        assert_eq!(nice, 19);
        assert_eq!(own_nice(), before, "other threads keep their priority");
        assert!(apply(CpuPriority::Normal).is_ok());
    }
}
