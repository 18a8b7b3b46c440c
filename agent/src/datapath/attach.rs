//! Attaching the programs to interfaces, in this or another network namespace.
//!
//! TC programs are attached as TCX links first in order (kernel ≥ 6.6), so they see packets
//! before any other program and, returning `TC_ACT_UNSPEC`, hand them on unchanged. On older
//! kernels the classic clsact path is used; shadowtap then adds the clsact qdisc only if it is
//! missing and never removes a qdisc or filter it did not create. Dropping an [`Attachment`]
//! detaches exactly what it attached.

use std::ffi::CString;

use aya::programs::{
    tc::{self, NlOptions, SchedClassifierLink, TcAttachOptions, TcAttachType},
    xdp::XdpLink,
    Link as _, LinkOrder, XdpMode,
};

use super::{
    loader::{program_error, Datapath, ProgramKind},
    netns::{in_netns, NetnsPath},
    DatapathError,
};

/// Which interface of a local pod endpoint capture attaches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// TC egress on each pod's host-side interface (the one the node routes the pod IP to).
    Host,
    /// TC ingress on the pod's own interface inside its network namespace, for CNIs that
    /// bypass the host-side veth (bpf_redirect_peer / netkit).
    Pod,
}

/// Where on an interface a program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    /// TC ingress (packets received by the interface).
    TcIngress,
    /// TC egress (packets sent by the interface: on a pod's host-side veth, the packets
    /// delivered to the pod).
    TcEgress,
    /// TC egress with the no-op program (the kernel benchmark's baseline).
    TcEgressNoop,
    /// TC ingress with the response program: on a pod's host-side veth, the packets the
    /// pod sends (host attach mode, comparing endpoints).
    TcIngressResponse,
    /// TC egress with the response program: on the pod's own interface, the packets it
    /// sends (pod attach mode, comparing endpoints).
    TcEgressResponse,
    /// XDP, generic (skb) mode: works on any interface, sees received packets only.
    XdpGeneric,
    /// XDP, native (driver) mode.
    XdpNative,
}

/// An interface, optionally inside another network namespace, and a hook on it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttachPoint {
    /// Interface name, as seen in `netns`.
    pub iface: String,
    /// The interface's network namespace; `None` for the agent's own.
    pub netns: Option<NetnsPath>,
    /// The hook.
    pub hook: Hook,
}

impl std::fmt::Display for AttachPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{:?}", self.iface, self.hook)?;
        if let Some(ns) = &self.netns {
            write!(f, " in {}", ns.0.display())?;
        }
        Ok(())
    }
}

enum Link {
    Tc(SchedClassifierLink),
    Xdp(XdpLink),
}

impl Link {
    fn detach(self) -> Result<(), aya::programs::ProgramError> {
        match self {
            Link::Tc(link) => link.detach(),
            Link::Xdp(link) => link.detach(),
        }
    }

    /// Let go of a link whose network namespace is gone. A descriptor-based link (TCX,
    /// XDP) is closed; a clsact filter went with its interface, and detaching it from here
    /// would send its interface index and priority to this namespace, where they may name
    /// someone else's filter: it is forgotten instead.
    fn abandon(self) {
        match self {
            Link::Tc(link) if link.attach_type().is_ok() => std::mem::forget(link),
            other => drop(other),
        }
    }
}

/// A program attached at a point. Dropping it detaches the program.
pub struct Attachment {
    point: AttachPoint,
    link: Option<Link>,
}

impl Attachment {
    /// Where this attachment is.
    pub fn point(&self) -> &AttachPoint {
        &self.point
    }

    /// Detach now (the same as dropping).
    pub fn detach(self) {
        drop(self);
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let Some(link) = self.link.take() else {
            return;
        };
        // A clsact filter (and a netlink XDP attachment) is removed by interface index over
        // a netlink socket, which must be opened in the interface's own namespace: from
        // another one the request would name some other interface, or none.
        let mut slot = Some(link);
        let result = in_netns(self.point.netns.as_ref(), || slot.take().map(Link::detach));
        match result {
            Ok(Some(Ok(()))) | Ok(None) => tracing::debug!(point = %self.point, "detached"),
            Ok(Some(Err(e))) => {
                tracing::warn!(point = %self.point, error = %e, "detach failed")
            }
            Err(e) => tracing::debug!(point = %self.point, error = %e, "namespace gone"),
        }
        if let Some(link) = slot.take() {
            link.abandon();
        }
    }
}

fn if_index(iface: &str) -> u32 {
    match CString::new(iface) {
        // SAFETY: if_nametoindex reads a NUL-terminated string we own.
        #[allow(unsafe_code)]
        Ok(c) => unsafe { libc::if_nametoindex(c.as_ptr()) },
        Err(_) => 0,
    }
}

impl Datapath {
    /// Attach the program for `point.hook` at `point`.
    pub fn attach(&mut self, point: &AttachPoint) -> Result<Attachment, DatapathError> {
        let missing = || DatapathError::InterfaceMissing {
            iface: point.iface.clone(),
            netns: point.netns.as_ref().map(|n| n.0.clone()),
        };
        let link = match point.hook {
            Hook::TcIngress
            | Hook::TcEgress
            | Hook::TcEgressNoop
            | Hook::TcIngressResponse
            | Hook::TcEgressResponse => {
                let kind = match point.hook {
                    Hook::TcEgressNoop => ProgramKind::TcNoop,
                    Hook::TcIngressResponse | Hook::TcEgressResponse => ProgramKind::TcResponse,
                    _ => ProgramKind::Tc,
                };
                let tcx = self.tcx;
                let prog = self.classifier_mut(kind)?;
                let attach_type = match point.hook {
                    Hook::TcIngress | Hook::TcIngressResponse => TcAttachType::Ingress,
                    _ => TcAttachType::Egress,
                };
                let iface = point.iface.as_str();
                let link = in_netns(point.netns.as_ref(), || {
                    if if_index(iface) == 0 {
                        return Ok(None);
                    }
                    let options = if tcx {
                        TcAttachOptions::TcxOrder(LinkOrder::first())
                    } else {
                        // clsact may exist already (someone else's): that is fine.
                        let _ = tc::qdisc_add_clsact(iface);
                        TcAttachOptions::Netlink(NlOptions::default())
                    };
                    let id = prog.attach_with_options(iface, attach_type, options)?;
                    prog.take_link(id).map(Some)
                })?
                .map_err(|source| program_error(kind, format!("attach {point}"), source))?
                .ok_or_else(missing)?;
                Link::Tc(link)
            }
            Hook::XdpGeneric | Hook::XdpNative => {
                let mode = if point.hook == Hook::XdpGeneric {
                    XdpMode::Skb
                } else {
                    XdpMode::Driver
                };
                let prog = self.xdp_mut()?;
                let iface = point.iface.as_str();
                let link = in_netns(point.netns.as_ref(), || {
                    if if_index(iface) == 0 {
                        return Ok(None);
                    }
                    let id = prog.attach(iface, mode)?;
                    prog.take_link(id).map(Some)
                })?
                .map_err(|source| {
                    program_error(ProgramKind::Xdp, format!("attach {point}"), source)
                })?
                .ok_or_else(missing)?;
                Link::Xdp(link)
            }
        };
        tracing::info!(point = %point, "attached");
        Ok(Attachment {
            point: point.clone(),
            link: Some(link),
        })
    }
}
