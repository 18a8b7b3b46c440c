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
    /// SCHED_BATCH at nice 0: the same share as any process, but a waking agent thread
    /// never preempts a running one; it waits for the running thread to block or for the
    /// scheduler's tick.
    Batch,
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
        CpuPriority::Batch => set_policy(libc::SCHED_BATCH),
        CpuPriority::Low => set_nice(19),
        CpuPriority::Idle => set_policy(libc::SCHED_IDLE),
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
fn set_policy(policy: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param for the duration of the call; pid 0 is the
    // calling thread.
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
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

    #[allow(unsafe_code)]
    fn own_policy() -> libc::c_int {
        // SAFETY: sched_getscheduler takes a plain pid; `0` means the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn batch_sets_sched_batch_at_nice_0_on_the_calling_thread_only() {
        let before = own_policy();
        let (set, policy, nice) =
            std::thread::spawn(|| (apply(CpuPriority::Batch).is_ok(), own_policy(), own_nice()))
                .join()
                .expect("thread");
        assert!(set);
        assert_eq!(policy, libc::SCHED_BATCH);
        assert_eq!(nice, 0, "batch keeps the default share");
        assert_eq!(own_policy(), before, "other threads keep their policy");
    }

    #[test]
    fn threads_started_after_apply_inherit_the_policy() {
        let policy = std::thread::spawn(|| {
            apply(CpuPriority::Batch).expect("batch");
            std::thread::spawn(own_policy).join().expect("child")
        })
        .join()
        .expect("thread");
        assert_eq!(policy, libc::SCHED_BATCH);
    }
}
