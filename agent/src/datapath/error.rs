//! Errors of the datapath layer.

use std::{io, path::PathBuf};

/// What can go wrong loading, attaching or programming the kernel side.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// The process lacks capabilities the kernel side needs.
    #[error(
        "missing capabilities {missing:?}: shadowtap needs CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN \
         (and CAP_SYS_ADMIN to attach in other network namespaces)"
    )]
    MissingCapabilities {
        /// Names of the capabilities not in the effective set.
        missing: Vec<&'static str>,
    },
    /// The process's capability sets could not be read.
    #[error("reading the process capabilities")]
    Capabilities {
        /// What the capability library reported.
        #[source]
        source: caps::errors::CapsError,
    },
    /// The kernel exposes no BTF, which the programs' loader relies on.
    #[error("no kernel BTF at {path}: shadowtap needs a kernel built with CONFIG_DEBUG_INFO_BTF")]
    NoBtf {
        /// Where BTF was looked for.
        path: PathBuf,
    },
    /// Reading process or system state failed.
    #[error("reading {what}")]
    System {
        /// What was being read.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The eBPF object could not be loaded.
    #[error("loading the eBPF object")]
    Load {
        /// aya's error.
        #[source]
        source: aya::EbpfError,
    },
    /// A program is missing from the object, or failed to load or attach.
    #[error("program {name}: {action}")]
    Program {
        /// Program name.
        name: &'static str,
        /// What was being done.
        action: String,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map is missing or has the wrong type.
    #[error("map {name}")]
    Map {
        /// Map name.
        name: &'static str,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
    /// A named interface does not exist (in the given network namespace).
    #[error("interface {iface} not found{}", netns_suffix(.netns))]
    InterfaceMissing {
        /// Interface name.
        iface: String,
        /// Network namespace, if not the agent's own.
        netns: Option<PathBuf>,
    },
    /// Entering a network namespace failed.
    #[error("entering network namespace {path}")]
    Netns {
        /// Namespace file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn netns_suffix(netns: &Option<PathBuf>) -> String {
    netns
        .as_ref()
        .map(|p| format!(" in network namespace {}", p.display()))
        .unwrap_or_default()
}
