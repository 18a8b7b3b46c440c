//! End to end: what the agent needs from its process, as deploy/ grants it. It runs and
//! mirrors as a non-root uid holding exactly its capabilities as ambient ones, in both
//! attach modes: uid 0 is not what it needs. Holding them only in its bounding and
//! inheritable sets — what Kubernetes gives a non-root container's process, which is why the
//! DaemonSet keeps uid 0 — it refuses to start and names them.

use std::{net::SocketAddr, time::Duration};

use shadowtap_harness::{
    http_server::send_requests,
    require_privileges,
    scenario::{foo_route_to_v2, shadowtap_binary, Rate, Scenario, PORT},
    wait,
};

/// A uid and gid no file or process of the test belongs to (distroless's `nonroot`).
const NON_ROOT: &str = "65532";

/// `setpriv` options: run as [`NON_ROOT`] with `caps` (e.g. `+bpf,+perfmon`) in the
/// bounding and inheritable sets (what a container runtime gives a non-root process for
/// `capabilities.add`), and in the ambient set too when `ambient`.
fn setpriv(caps: &str, ambient: bool) -> Vec<String> {
    let mut args = vec![
        "setpriv".to_owned(),
        format!("--reuid={NON_ROOT}"),
        format!("--regid={NON_ROOT}"),
        "--clear-groups".to_owned(),
        format!("--bounding-set=-all,{caps}"),
        format!("--inh-caps=-all,{caps}"),
    ];
    if ambient {
        args.push(format!("--ambient-caps=-all,{caps}"));
    }
    args
}

fn mirrors_as_non_root(caps: &str, extra_args: &[&str]) {
    let mut s = Scenario::new(&foo_route_to_v2(Rate::Percent(100)));
    // The agent reads its routes as the non-root uid.
    s.topo.node.exec(&[
        "chmod",
        "-R",
        "a+rX",
        s.routes.to_str().expect("utf-8 path"),
    ]);
    let wrapper = setpriv(caps, true);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    s.start_agent_wrapped(&wrapper, &shadowtap_binary(), extra_args);
    let pid = s.agent_pid().expect("the agent runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("agent status");
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("a Uid line");
    assert!(
        uid.split_whitespace().all(|u| u == NON_ROOT),
        "the agent runs as uid {NON_ROOT}: Uid:{uid}"
    );
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let reqs: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("GET /non-root/{i} HTTP/1.1\r\nHost: foo\r\n\r\n").into_bytes())
        .collect();
    send_requests(&s.topo.client.ns, v1, reqs);
    wait::until(
        "every request to reach the mirror",
        Duration::from_secs(30),
        || (s.v2.count() == 20).then_some(()),
    );
    // The default `--cpu-priority batch` needs no capability: every thread has it.
    let policies = thread_policies(pid);
    assert!(
        policies.len() > 1 && policies.iter().all(|p| *p == SCHED_BATCH),
        "every agent thread runs SCHED_BATCH ({SCHED_BATCH}): {policies:?}"
    );
    assert_eq!(s.stop_agent(), Some(0), "a clean exit on SIGTERM");
}

/// `SCHED_BATCH` in `/proc/<pid>/task/<tid>/stat`'s `policy` field.
const SCHED_BATCH: u32 = 3;

/// The scheduling policy of each thread of `pid` (`policy`, the 41st field of `stat`).
fn thread_policies(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the agent's threads")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .map(|stat| {
            // Fields after the parenthesised name, which may hold spaces: state is field 3.
            let after = &stat[stat.rfind(')').expect("a stat line") + 2..];
            after
                .split_whitespace()
                .nth(41 - 3)
                .and_then(|f| f.parse().ok())
                .expect("a policy field")
        })
        .collect()
}

#[test]
fn host_side_mode_mirrors_as_non_root_with_ambient_capabilities() {
    if !require_privileges("host_side_mode_mirrors_as_non_root_with_ambient_capabilities") {
        return;
    }
    mirrors_as_non_root("+bpf,+perfmon,+net_admin", &[]);
}

#[test]
fn pod_side_mode_mirrors_as_non_root_with_ambient_capabilities() {
    if !require_privileges("pod_side_mode_mirrors_as_non_root_with_ambient_capabilities") {
        return;
    }
    mirrors_as_non_root("+bpf,+perfmon,+net_admin,+sys_admin", &["--attach", "pod"]);
}

#[test]
fn without_ambient_capabilities_a_non_root_agent_refuses_to_start() {
    if !require_privileges("without_ambient_capabilities_a_non_root_agent_refuses_to_start") {
        return;
    }
    let s = Scenario::new(&foo_route_to_v2(Rate::Percent(100)));
    s.topo.node.exec(&[
        "chmod",
        "-R",
        "a+rX",
        s.routes.to_str().expect("utf-8 path"),
    ]);
    let binary = shadowtap_binary();
    let mut args = setpriv("+bpf,+perfmon,+net_admin", false);
    args.extend(
        [
            binary.to_str().expect("utf-8 path"),
            "agent",
            "--routes",
            s.routes.to_str().expect("utf-8 path"),
            "--node-name",
            "node-a",
            "--metrics-addr",
            "127.0.0.1:0",
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = s.topo.node.exec_unchecked(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the agent started without its capabilities: {stderr}"
    );
    for cap in ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"] {
        assert!(stderr.contains(cap), "the error names {cap}: {stderr}");
    }
}
