//! The kernel side of shadowtap, seen from user space: load the embedded eBPF object, attach
//! it to interfaces, program its maps, read its counters and drain its ring buffer.
//!
//! This is the only module that imports `aya`.

mod attach;
mod checks;
mod error;
mod loader;
mod log;
mod maps;
mod netlink;
mod netns;
mod object;
mod ring;

pub use attach::{AttachMode, AttachPoint, Attachment, Hook};
pub use checks::{check_startup, Capability};
pub use error::DatapathError;
pub use loader::{Datapath, LoadConfig, ProgramKind};
pub use maps::{CounterSnapshot, MapHandles};
pub use netlink::{candidate_namespaces, find_pod_interface, route_interface, NetlinkError};
pub use netns::{in_netns, NetnsPath};
pub use ring::{CaptureEvent, RingReader, RingStats};
