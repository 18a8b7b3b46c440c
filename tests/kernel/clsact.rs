//! The clsact attach path — what kernels without TCX (< 6.6) use — run on any kernel by
//! forcing it (`TcLinks::Clsact`): real traffic captured through clsact filters, detach
//! leaving everyone else's qdiscs and filters, and the start-up sweep that removes the
//! filters of a killed agent and nothing else.

use std::time::Duration;

use shadowtap_agent::datapath::{
    clsact_filters, AttachPoint, ClsactFilter, ClsactHook, Hook, LoadConfig, NetnsPath,
    ProgramKind, TcLinks,
};
use shadowtap_harness::{
    loaded::Loaded,
    require_privileges,
    topology::{Netns, Topology},
    wait,
};

use crate::live_capture::run_capture;

/// A classic-BPF filter (`tc ... bpf bytecode`) that never matches, so packets go on to
/// the next filter: someone else's filter, on the same hook as ours.
const THEIR_PRIORITY: &str = "7";
const NEVER_MATCHES: &str = "1,6 0 0 0,";

fn clsact() -> LoadConfig {
    LoadConfig {
        tc_links: TcLinks::Clsact,
        ..LoadConfig::default()
    }
}

/// Add clsact and their classic-BPF filter on `iface`'s egress in `ns`.
fn add_their_filter(ns: &Netns, iface: &str) {
    ns.exec(&["tc", "qdisc", "add", "dev", iface, "clsact"]);
    ns.exec(&[
        "tc",
        "filter",
        "add",
        "dev",
        iface,
        "egress",
        "pref",
        THEIR_PRIORITY,
        "bpf",
        "bytecode",
        NEVER_MATCHES,
    ]);
}

fn filters(ns: &Netns, iface: &str) -> Vec<ClsactFilter> {
    clsact_filters(Some(&NetnsPath(ns.path())), Some(iface)).expect("list clsact filters")
}

fn is_theirs(f: &ClsactFilter) -> bool {
    f.kind == "bpf" && f.priority.to_string() == THEIR_PRIORITY && f.bpf_id.is_none()
}

fn ours(list: &[ClsactFilter]) -> Vec<&ClsactFilter> {
    list.iter()
        .filter(|f| f.bpf_name.as_deref() == Some(ProgramKind::Tc.name()))
        .collect()
}

/// Whether the running kernel has TCX links (6.6 and later).
fn kernel_has_tcx() -> (String, bool) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let release = release.trim().to_owned();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (release, version >= (6, 6))
}

/// The default mode takes clsact exactly on kernels without TCX: under `cargo xtask
/// kernels` this shows the 6.1 run's other tests went through clsact, the 6.12 one's
/// through TCX.
#[test]
fn auto_mode_attaches_through_clsact_exactly_without_tcx() {
    if !require_privileges("auto_mode_attaches_through_clsact_exactly_without_tcx") {
        return;
    }
    let (release, tcx) = kernel_has_tcx();
    let topo = Topology::new(0);
    let iface = topo.pod.host_iface.clone();
    let mut agent = Loaded::new();
    assert_eq!(agent.dp.uses_tcx(), tcx, "Linux {release}");
    let _attachment = agent
        .dp
        .attach(&AttachPoint {
            iface: iface.clone(),
            netns: Some(NetnsPath(topo.node.path())),
            hook: Hook::TcEgress,
        })
        .expect("attach");
    let list = filters(&topo.node, &iface);
    let want = usize::from(!tcx);
    assert_eq!(
        ours(&list).len(),
        want,
        "Linux {release}: clsact filters of ours: {list:?}"
    );
}

#[test]
fn clsact_capture_host_side_ipv4() {
    if require_privileges("clsact_capture_host_side_ipv4") {
        run_capture(false, Hook::TcEgress, TcLinks::Clsact);
    }
}

#[test]
fn clsact_capture_pod_side_ipv6() {
    if require_privileges("clsact_capture_pod_side_ipv6") {
        run_capture(true, Hook::TcIngress, TcLinks::Clsact);
    }
}

#[test]
fn detach_leaves_nothing_of_ours_and_keeps_others() {
    if !require_privileges("clsact::detach_leaves_nothing_of_ours_and_keeps_others") {
        return;
    }
    let topo = Topology::new(0);
    let iface = topo.pod.host_iface.clone();
    // Someone else's state: a root qdisc, the clsact qdisc and a filter on our hook.
    topo.node.exec(&[
        "tc", "qdisc", "add", "dev", &iface, "root", "handle", "1:", "htb",
    ]);
    add_their_filter(&topo.node, &iface);
    let mut agent = Loaded::with(&clsact());
    assert!(!agent.dp.uses_tcx());
    let our_id = agent.dp.tc().expect("tc").info().expect("info").id();
    let attachment = agent
        .dp
        .attach(&AttachPoint {
            iface: iface.clone(),
            netns: Some(NetnsPath(topo.node.path())),
            hook: Hook::TcEgress,
        })
        .expect("attach through clsact");
    let before = filters(&topo.node, &iface);
    let mine = ours(&before);
    assert_eq!(mine.len(), 1, "one filter of ours: {before:?}");
    assert_eq!(mine[0].bpf_id, Some(our_id), "{before:?}");
    assert_eq!(mine[0].hook, ClsactHook::Egress);
    assert!(before.iter().any(is_theirs), "{before:?}");

    attachment.detach();
    let after = filters(&topo.node, &iface);
    assert!(ours(&after).is_empty(), "ours left behind: {after:?}");
    assert_eq!(after.len(), 1, "exactly their filter is left: {after:?}");
    assert!(is_theirs(&after[0]), "{after:?}");
    let qdiscs = topo.node.exec(&["tc", "qdisc", "show", "dev", &iface]);
    let qdiscs = String::from_utf8_lossy(&qdiscs.stdout).into_owned();
    assert!(
        qdiscs.contains("htb") && qdiscs.contains("clsact"),
        "{qdiscs}"
    );
}

#[test]
fn stale_filters_of_a_killed_agent_are_removed_at_start() {
    if !require_privileges("stale_filters_of_a_killed_agent_are_removed_at_start") {
        return;
    }
    let topo = Topology::new(0);
    let node = NetnsPath(topo.node.path());
    let egress = topo.pod.host_iface.clone();
    let ingress = topo.client.host_iface.clone();
    add_their_filter(&topo.node, &egress);

    // The killed agent: attached on two hooks, then gone without detaching. Forgetting the
    // attachments skips their detach; dropping the loaded object closes every descriptor,
    // as the kernel does for a process killed with SIGKILL.
    let killed = Loaded::with(&clsact());
    let killed_id = killed.dp.tc().expect("tc").info().expect("info").id();
    let mut killed = killed;
    for (iface, hook) in [(&egress, Hook::TcEgress), (&ingress, Hook::TcIngress)] {
        let a = killed
            .dp
            .attach(&AttachPoint {
                iface: iface.clone(),
                netns: Some(node.clone()),
                hook,
            })
            .expect("attach");
        std::mem::forget(a);
    }
    drop(killed);
    let left = [filters(&topo.node, &egress), filters(&topo.node, &ingress)].concat();
    assert_eq!(ours(&left).len(), 2, "the kill left both filters: {left:?}");
    assert!(ours(&left).iter().all(|f| f.bpf_id == Some(killed_id)));

    // Someone else's eBPF filter with a name close to ours (the no-op program), attached
    // by another loaded object that is still alive.
    let mut other = Loaded::with(&clsact());
    other.dp.load_noop().expect("load no-op");
    let _other_link = other
        .dp
        .attach(&AttachPoint {
            iface: ingress.clone(),
            netns: Some(node.clone()),
            hook: Hook::TcEgressNoop,
        })
        .expect("attach no-op");

    // The next start, which also attached already (its own live filter must survive).
    let mut next = Loaded::with(&clsact());
    let next_id = next.dp.tc().expect("tc").info().expect("info").id();
    let _live = next
        .dp
        .attach(&AttachPoint {
            iface: egress.clone(),
            netns: Some(node.clone()),
            hook: Hook::TcEgress,
        })
        .expect("attach");
    let sweep = next.dp.remove_stale_filters(Some(&node)).expect("sweep");
    assert!(sweep.failed.is_empty(), "{:?}", sweep.failed);
    let mut removed: Vec<(String, ClsactHook)> = sweep
        .removed
        .iter()
        .map(|f| (f.iface.clone(), f.hook))
        .collect();
    removed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = vec![
        (egress.clone(), ClsactHook::Egress),
        (ingress.clone(), ClsactHook::Ingress),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(removed, want);

    let on_egress = filters(&topo.node, &egress);
    let mine = ours(&on_egress);
    assert_eq!(mine.len(), 1, "only the live filter of ours: {on_egress:?}");
    assert_eq!(mine[0].bpf_id, Some(next_id));
    assert!(
        on_egress.iter().any(is_theirs),
        "theirs survives: {on_egress:?}"
    );
    let on_ingress = filters(&topo.node, &ingress);
    assert!(ours(&on_ingress).is_empty(), "{on_ingress:?}");
    // The no-op filter sits on egress of the client's interface.
    assert!(
        on_ingress
            .iter()
            .any(|f| f.bpf_name.as_deref() == Some(ProgramKind::TcNoop.name())),
        "the other loader's filter survives: {on_ingress:?}"
    );

    // A second sweep finds nothing; the killed program is gone with its last filter.
    let again = next.dp.remove_stale_filters(Some(&node)).expect("sweep");
    assert!(again.removed.is_empty() && again.failed.is_empty());
    wait::until(
        "the killed agent's program to be freed",
        Duration::from_secs(10),
        || {
            aya::programs::loaded_programs()
                .filter_map(Result::ok)
                .all(|p| p.id() != killed_id)
                .then_some(())
        },
    );
}
