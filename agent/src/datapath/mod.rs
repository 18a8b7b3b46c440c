//! The kernel side of shadowtap, seen from user space: load the embedded eBPF object, attach
//! it to interfaces, program its maps, read its counters and drain its ring buffer.
//!
//! This is the only module that imports `aya`.

mod attach;
mod checks;
mod clsact;
mod endpoint_filter;
mod error;
mod loader;
mod log;
mod maps;
mod netlink;
mod netns;
mod object;
mod ring;
mod stale;

pub use attach::{AttachMode, AttachPoint, Attachment, Hook};
pub use checks::{check_startup, untested_kernel, Capability, OLDEST_TESTED_KERNEL};
pub use clsact::{clsact_filters, ClsactFilter, ClsactHook};
pub use error::DatapathError;
pub use loader::{Datapath, LoadConfig, ProgramKind, TcLinks};
pub use maps::{CounterSnapshot, MapHandles};
pub use netlink::{candidate_namespaces, find_pod_interface, route_interface, NetlinkError};
pub use netns::{in_netns, NetnsPath};
pub use ring::{CaptureEvent, RingReader, RingStats};
pub use stale::StaleSweep;
