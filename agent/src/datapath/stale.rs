//! Removing the clsact filters a killed agent left behind.
//!
//! On kernels without TCX shadowtap attaches clsact filters, which stay on the interface
//! when the agent dies without detaching (SIGKILL, OOM kill, a node crash): they keep
//! running the old program and copying packets into a ring nobody reads. At start the agent
//! removes them. A filter is shadowtap's when it is a `bpf` filter named exactly like
//! one of shadowtap's capture TC programs (requests, responses) (aya names a clsact filter after its program; `tc` names its own
//! `<file>:[<section>]`), and stale when the program it runs is not one this process loaded.
//! Every other filter — other names, other classifiers, classic BPF — is left alone.

use aya::programs::{
    tc::{SchedClassifierLink, TcAttachType, TcHandle},
    Link as _,
};

use super::{
    clsact::{clsact_filters, ClsactFilter, ClsactHook},
    in_netns,
    loader::ProgramKind,
    Datapath, NetlinkError, NetnsPath,
};

/// What a sweep found and did.
#[derive(Debug, Default)]
pub struct StaleSweep {
    /// Stale filters of shadowtap's that were removed.
    pub removed: Vec<ClsactFilter>,
    /// Stale filters whose removal failed, with the reason.
    pub failed: Vec<(ClsactFilter, String)>,
}

/// Whether `filter` runs shadowtap's TC program but not one of `live` (the programs this
/// process holds).
pub(super) fn is_stale(filter: &ClsactFilter, live: &[u32]) -> bool {
    let ours = [ProgramKind::Tc.name(), ProgramKind::TcResponse.name()];
    filter.kind == "bpf"
        && filter
            .bpf_name
            .as_deref()
            .is_some_and(|n| ours.contains(&n))
        && filter.bpf_id.is_some_and(|id| !live.contains(&id))
}

fn detach(filter: &ClsactFilter) -> Result<(), String> {
    let attach_type = match filter.hook {
        ClsactHook::Ingress => TcAttachType::Ingress,
        ClsactHook::Egress => TcAttachType::Egress,
    };
    let link = SchedClassifierLink::attached(
        &filter.iface,
        attach_type,
        filter.priority,
        TcHandle::from(filter.handle),
        None,
    )
    .map_err(|e| e.to_string())?;
    link.detach().map_err(|e| e.to_string())
}

impl Datapath {
    /// Remove the stale clsact filters of shadowtap's TC program from every interface of
    /// `netns` (the agent's own namespace when `None`). Filters running a program this
    /// `Datapath` loaded are live and kept, so this is safe after attaching too.
    pub fn remove_stale_filters(
        &self,
        netns: Option<&NetnsPath>,
    ) -> Result<StaleSweep, NetlinkError> {
        let live: Vec<u32> = [
            ProgramKind::Tc,
            ProgramKind::TcNoop,
            ProgramKind::TcResponse,
        ]
        .into_iter()
        .filter_map(|kind| self.classifier(kind).ok()?.info().ok())
        .map(|info| info.id())
        .collect();
        let stale: Vec<ClsactFilter> = clsact_filters(netns, None)?
            .into_iter()
            .filter(|f| is_stale(f, &live))
            .collect();
        if stale.is_empty() {
            return Ok(StaleSweep::default());
        }
        in_netns(netns, || {
            let mut sweep = StaleSweep::default();
            for filter in stale {
                match detach(&filter) {
                    Ok(()) => sweep.removed.push(filter),
                    Err(reason) => sweep.failed.push((filter, reason)),
                }
            }
            sweep
        })
        .map_err(|e| NetlinkError::Datapath(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(kind: &str, name: Option<&str>, id: Option<u32>) -> ClsactFilter {
        ClsactFilter {
            iface: "veth0".into(),
            hook: ClsactHook::Egress,
            priority: 49152,
            handle: 1,
            kind: kind.into(),
            bpf_name: name.map(Into::into),
            bpf_id: id,
        }
    }

    #[test]
    fn only_shadowtaps_program_not_loaded_here_is_stale() {
        let ours = ProgramKind::Tc.name();
        assert!(is_stale(&filter("bpf", Some(ours), Some(7)), &[3]));
        // Live: the program this process runs.
        assert!(!is_stale(&filter("bpf", Some(ours), Some(3)), &[3]));
        // Someone else's eBPF filter, a name that merely starts like ours, the benchmark's
        // no-op program, classic BPF (no id), another classifier.
        assert!(!is_stale(&filter("bpf", Some("cilium_tc"), Some(7)), &[3]));
        assert!(!is_stale(
            &filter("bpf", Some(&format!("{ours}_x")), Some(7)),
            &[3]
        ));
        assert!(!is_stale(
            &filter("bpf", Some(ProgramKind::TcNoop.name()), Some(7)),
            &[3]
        ));
        assert!(!is_stale(&filter("bpf", Some(ours), None), &[3]));
        // The response program is shadowtap's too.
        assert!(is_stale(
            &filter("bpf", Some(ProgramKind::TcResponse.name()), Some(7)),
            &[3]
        ));
        assert!(!is_stale(&filter("u32", None, None), &[3]));
    }
}
