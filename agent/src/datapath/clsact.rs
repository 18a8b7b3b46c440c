//! The clsact filters on a network namespace's interfaces, read through rtnetlink.
//!
//! TCX links (kernel ≥ 6.6) belong to the process that holds them and go when it dies;
//! clsact filters belong to the interface and outlive their creator. Listing them is how a
//! start finds what a killed agent left behind (see [`super::Datapath::remove_stale_filters`])
//! and how tests check what an attachment left.

use futures_util::TryStreamExt;
use netlink_packet_route::{
    link::LinkAttribute,
    tc::{TcAttribute, TcFilterBpfOption, TcOption},
};

use super::{in_netns, netlink::if_name, NetlinkError, NetnsPath};

/// The two clsact hooks of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClsactHook {
    /// Received packets (`tc filter ... ingress`).
    Ingress,
    /// Sent packets (`tc filter ... egress`).
    Egress,
}

/// One filter on a clsact hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClsactFilter {
    /// Interface name, in the namespace it was listed in.
    pub iface: String,
    /// Which hook.
    pub hook: ClsactHook,
    /// The filter's priority (`pref` in `tc filter show`).
    pub priority: u16,
    /// The filter's handle within its priority.
    pub handle: u32,
    /// The classifier (`bpf`, `u32`, `matchall`, …).
    pub kind: String,
    /// For `bpf` filters: the name the loader gave the filter (aya uses the program's name).
    pub bpf_name: Option<String>,
    /// For eBPF filters: the id of the program the filter runs.
    pub bpf_id: Option<u32>,
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

async fn interfaces(handle: &rtnetlink::Handle) -> Result<Vec<(u32, String)>, NetlinkError> {
    let mut links = handle.link().get().execute();
    let mut out = Vec::new();
    while let Some(msg) = links
        .try_next()
        .await
        .map_err(|source| NetlinkError::Request {
            what: "interfaces".into(),
            source,
        })?
    {
        if let Some(name) = msg.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        }) {
            out.push((msg.header.index, name));
        }
    }
    Ok(out)
}

async fn filters_on(
    handle: &rtnetlink::Handle,
    index: u32,
    iface: &str,
    hook: ClsactHook,
) -> Result<Vec<ClsactFilter>, NetlinkError> {
    let request = handle.traffic_filter(index as i32).get();
    let request = match hook {
        ClsactHook::Ingress => request.ingress(),
        ClsactHook::Egress => request.egress(),
    };
    let mut dump = request.execute();
    let mut out = Vec::new();
    while let Some(msg) = dump
        .try_next()
        .await
        .map_err(|source| NetlinkError::Request {
            what: format!("the {hook:?} filters of {iface}"),
            source,
        })?
    {
        let mut kind = String::new();
        let (mut bpf_name, mut bpf_id) = (None, None);
        for attr in &msg.attributes {
            match attr {
                TcAttribute::Kind(k) => kind = k.clone(),
                TcAttribute::Options(options) => {
                    for option in options {
                        match option {
                            TcOption::Bpf(TcFilterBpfOption::ProgName(n)) => {
                                bpf_name = Some(n.clone())
                            }
                            TcOption::Bpf(TcFilterBpfOption::ProgId(id)) => bpf_id = Some(*id),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        // A dump lists each priority's chain head once without options (handle 0): only
        // the filters themselves are of interest.
        let handle = u32::from(msg.header.handle);
        if handle == 0 {
            continue;
        }
        out.push(ClsactFilter {
            iface: iface.to_owned(),
            hook,
            priority: (msg.header.info >> 16) as u16,
            handle,
            kind,
            bpf_name,
            bpf_id,
        });
    }
    Ok(out)
}

/// Every clsact filter on the interfaces of `netns` (the agent's own namespace when `None`),
/// or only on `iface` when given. Interfaces without a clsact qdisc have none.
pub fn clsact_filters(
    netns: Option<&NetnsPath>,
    iface: Option<&str>,
) -> Result<Vec<ClsactFilter>, NetlinkError> {
    in_netns(netns, || {
        block_on(async {
            let (conn, handle, _) =
                rtnetlink::new_connection().map_err(|source| NetlinkError::Socket { source })?;
            tokio::spawn(conn);
            let mut out = Vec::new();
            for (index, name) in interfaces(&handle).await? {
                if iface.is_some_and(|wanted| wanted != name) {
                    continue;
                }
                for hook in [ClsactHook::Ingress, ClsactHook::Egress] {
                    match filters_on(&handle, index, &name, hook).await {
                        Ok(filters) => out.extend(filters),
                        // The interface went away between the two dumps: it has no filters.
                        Err(_) if if_name(index).as_deref() != Some(name.as_str()) => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(out)
        })
    })
    .map_err(Box::new)?
}
