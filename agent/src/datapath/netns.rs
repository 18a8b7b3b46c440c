//! Running code inside another network namespace.
//!
//! Interface names (and TCX/XDP attachment by ifindex) are resolved in the calling thread's
//! network namespace, so attaching inside a pod's namespace means: a dedicated OS thread
//! enters it with `setns`, does the work, and ends. Tokio's worker threads never switch
//! namespace.
#![allow(unsafe_code)]

use std::{
    fs::File,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use super::DatapathError;

/// A network namespace file: `/var/run/netns/NAME` or `/proc/PID/ns/net`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NetnsPath(pub PathBuf);

impl NetnsPath {
    /// A namespace created by `ip netns add NAME`.
    pub fn named(name: &str) -> Self {
        Self(Path::new("/var/run/netns").join(name))
    }
    /// The network namespace of a process.
    pub fn of_pid(pid: u32) -> Self {
        Self(PathBuf::from(format!("/proc/{pid}/ns/net")))
    }
}

/// Run `f` on a fresh OS thread that has entered the network namespace `ns` (or the current
/// one when `ns` is `None`), and return its result.
pub fn in_netns<T: Send>(
    ns: Option<&NetnsPath>,
    f: impl FnOnce() -> T + Send,
) -> Result<T, DatapathError> {
    let Some(ns) = ns else {
        return Ok(f());
    };
    let file = File::open(&ns.0).map_err(|source| DatapathError::Netns {
        path: ns.0.clone(),
        source,
    })?;
    std::thread::scope(|s| {
        s.spawn(move || {
            // SAFETY: setns on a namespace file descriptor we own, affecting only this
            // thread, which ends when the closure returns (it is never reused).
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(DatapathError::Netns {
                    path: ns.0.clone(),
                    source: std::io::Error::last_os_error(),
                });
            }
            Ok(f())
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
