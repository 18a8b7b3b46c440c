//! End to end: an agent killed with SIGKILL on the clsact path (`--tc-links clsact`, what
//! kernels without TCX use) leaves its filters attached; the next start removes exactly
//! those, attaches its own, and leaves another party's filter on the same hook alone.

use shadowtap_agent::datapath::{clsact_filters, ClsactFilter, NetnsPath, ProgramKind};
use shadowtap_harness::{
    require_privileges,
    scenario::{route_yaml, shadowtap_binary, Mirror, Rate, Scenario},
    topology::Netns,
    wait,
};
use std::time::Duration;

const THEIR_PRIORITY: u16 = 7;

fn filters(node: &Netns, iface: &str) -> Vec<ClsactFilter> {
    clsact_filters(Some(&NetnsPath(node.path())), Some(iface)).expect("list clsact filters")
}

fn our_ids(list: &[ClsactFilter]) -> Vec<u32> {
    list.iter()
        .filter(|f| f.bpf_name.as_deref() == Some(ProgramKind::Tc.name()))
        .filter_map(|f| f.bpf_id)
        .collect()
}

fn has_theirs(list: &[ClsactFilter]) -> bool {
    list.iter()
        .any(|f| f.kind == "bpf" && f.priority == THEIR_PRIORITY && f.bpf_id.is_none())
}

#[test]
fn killed_agents_clsact_filters_are_removed_at_restart() {
    if !require_privileges("killed_agents_clsact_filters_are_removed_at_restart") {
        return;
    }
    let route = route_yaml(
        "foo-route",
        true,
        None,
        &[Mirror {
            service: "foo-v2",
            rate: Rate::Unset,
        }],
    );
    let mut s = Scenario::new(&route);
    let node = &s.topo.node;
    let ifaces = [
        s.topo.pod.host_iface.clone(),
        s.topo.extra[0].host_iface.clone(),
    ];
    // Another party's classic-BPF filter (never matches, so packets go on) on the hook
    // shadowtap uses.
    node.exec(&["tc", "qdisc", "add", "dev", &ifaces[0], "clsact"]);
    node.exec(&[
        "tc",
        "filter",
        "add",
        "dev",
        &ifaces[0],
        "egress",
        "pref",
        &THEIR_PRIORITY.to_string(),
        "bpf",
        "bytecode",
        "1,6 0 0 0,",
    ]);

    let bin = shadowtap_binary();
    let args = ["--tc-links", "clsact"];
    s.start_agent(&bin, &args);
    let node = &s.topo.node;
    let killed: Vec<u32> = ifaces
        .iter()
        .flat_map(|i| {
            let ids = our_ids(&filters(node, i));
            assert_eq!(ids.len(), 1, "one filter of the agent on {i}: {ids:?}");
            ids
        })
        .collect();

    let pid = s.agent_pid().expect("agent pid").to_string();
    let killed_ok = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    assert!(killed_ok.success());
    // Reaps the killed process (its SIGTERM finds it already gone).
    s.stop_agent();
    let node = &s.topo.node;
    for i in &ifaces {
        let ids = our_ids(&filters(node, i));
        assert!(
            ids.iter().all(|id| killed.contains(id)) && !ids.is_empty(),
            "the killed agent's filter stays on {i}: {ids:?}"
        );
    }

    s.start_agent(&bin, &args);
    let node = &s.topo.node;
    for i in &ifaces {
        // Readiness means attachments are in place; the sweep ran before them.
        let list = wait::until(
            "exactly one live filter of ours",
            Duration::from_secs(20),
            || {
                let list = filters(node, i);
                (our_ids(&list).len() == 1).then_some(list)
            },
        );
        let ids = our_ids(&list);
        assert!(
            !killed.contains(&ids[0]),
            "the killed agent's filter is still on {i}: {list:?}"
        );
    }
    let first = filters(node, &ifaces[0]);
    assert!(has_theirs(&first), "their filter survives: {first:?}");
}
