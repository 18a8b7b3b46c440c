//! Forwarding the kernel programs' aya-log records into the agent's log.

use tokio::io::unix::AsyncFd;

/// The forwarder aya-log gives for the loaded object.
pub(super) type KernelLogger = aya_log::EbpfLogger<&'static dyn log::Log>;

/// Flushes kernel log records whenever the logger's ring is readable, until it fails.
pub(super) async fn forward(logger: KernelLogger) {
    // SAFETY: the logger owns its fd and is moved into the AsyncFd, which drops it (and so
    // closes the fd) only after deregistering; nothing else closes or replaces the fd.
    #[allow(unsafe_code)]
    let registered =
        unsafe { AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE) };
    let mut fd = match registered {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "kernel log forwarding disabled");
            return;
        }
    };
    loop {
        match fd.readable_mut().await {
            Ok(mut guard) => {
                guard.get_inner_mut().flush();
                guard.clear_ready();
            }
            Err(_) => return,
        }
    }
}
