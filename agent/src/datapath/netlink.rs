//! Finding where a pod's traffic is delivered, through rtnetlink (never by running `ip`).
//!
//! * host-side mode: the interface the node's routing table uses for the pod IP
//!   (`RTM_GETROUTE` for the address, its output interface);
//! * pod-side mode: the network namespace and interface that own the pod IP (addresses
//!   dumped in each candidate namespace).

use std::{ffi::CStr, net::IpAddr, path::PathBuf};

use futures_util::TryStreamExt;
use netlink_packet_route::{address::AddressAttribute, route::RouteAttribute};
use rtnetlink::RouteMessageBuilder;

use super::{in_netns, DatapathError, NetnsPath};

/// Errors of netlink queries.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening the netlink socket or a runtime for it failed.
    #[error("opening a netlink socket")]
    Socket {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel answered with an error.
    #[error("netlink request for {what} failed")]
    Request {
        /// What was asked.
        what: String,
        /// rtnetlink's error.
        #[source]
        source: rtnetlink::Error,
    },
    /// Entering a namespace failed.
    #[error(transparent)]
    Datapath(#[from] Box<DatapathError>),
}

pub(super) fn if_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: if_indextoname writes at most IF_NAMESIZE bytes (NUL included) into `buf`.
    #[allow(unsafe_code)]
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success `buf` holds a NUL-terminated name.
    #[allow(unsafe_code)]
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn block_on<T>(
    f: impl std::future::Future<Output = Result<T, NetlinkError>>,
) -> Result<T, NetlinkError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| NetlinkError::Socket { source })?;
    rt.block_on(f)
}

async fn route_oif(ip: IpAddr) -> Result<Option<u32>, NetlinkError> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|source| NetlinkError::Socket { source })?;
    tokio::spawn(conn);
    let prefix = if ip.is_ipv4() { 32 } else { 128 };
    let msg = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(ip, prefix)
        .map_err(|e| NetlinkError::Socket {
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
        })?
        .build();
    let mut routes = handle.route().get(msg).execute();
    let what = || format!("the route to {ip}");
    while let Some(route) = routes
        .try_next()
        .await
        .map_err(|source| NetlinkError::Request {
            what: what(),
            source,
        })?
    {
        if let Some(oif) = route.attributes.iter().find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        }) {
            return Ok(Some(oif));
        }
    }
    Ok(None)
}

/// The interface the routing table of `netns` (the agent's own when `None`) sends packets
/// for `ip` out of.
pub fn route_interface(
    ip: IpAddr,
    netns: Option<&NetnsPath>,
) -> Result<Option<String>, NetlinkError> {
    in_netns(netns, || {
        block_on(async { Ok(route_oif(ip).await?.and_then(if_name)) })
    })
    .map_err(Box::new)?
}

async fn addr_iface(ip: IpAddr) -> Result<Option<u32>, NetlinkError> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|source| NetlinkError::Socket { source })?;
    tokio::spawn(conn);
    let mut addrs = handle.address().get().execute();
    while let Some(msg) = addrs
        .try_next()
        .await
        .map_err(|source| NetlinkError::Request {
            what: "addresses".into(),
            source,
        })?
    {
        let owns = msg.attributes.iter().any(|a| match a {
            AddressAttribute::Address(a) | AddressAttribute::Local(a) => *a == ip,
            _ => false,
        });
        if owns {
            return Ok(Some(msg.header.index));
        }
    }
    Ok(None)
}

/// The candidate pod network namespaces: `ip netns` bind mounts, then the namespaces of
/// running processes (deduplicated by inode).
pub fn candidate_namespaces() -> Vec<NetnsPath> {
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino()).ok();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut consider = |path: PathBuf| {
        if let Ok(meta) = std::fs::metadata(&path) {
            if Some(meta.ino()) != own && seen.insert((meta.dev(), meta.ino())) {
                out.push(NetnsPath(path));
            }
        }
    };
    if let Ok(dir) = std::fs::read_dir("/var/run/netns") {
        for e in dir.flatten() {
            consider(e.path());
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
            {
                consider(e.path().join("ns/net"));
            }
        }
    }
    out
}

/// Find the namespace among `candidates` that owns `ip`, and the interface holding it.
pub fn find_pod_interface(
    ip: IpAddr,
    candidates: &[NetnsPath],
) -> Result<Option<(NetnsPath, String)>, NetlinkError> {
    for ns in candidates {
        let found = in_netns(Some(ns), || {
            block_on(async { Ok(addr_iface(ip).await?.and_then(if_name)) })
        });
        match found {
            Ok(Ok(Some(iface))) => return Ok(Some((ns.clone(), iface))),
            Ok(Ok(None)) => {}
            // A process that exited, or a namespace we may not enter: skip it.
            Ok(Err(e)) => tracing::debug!(netns = %ns.0.display(), error = %e, "skipped"),
            Err(e) => tracing::debug!(netns = %ns.0.display(), error = %e, "skipped"),
        }
    }
    Ok(None)
}
