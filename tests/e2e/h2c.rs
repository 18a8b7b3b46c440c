//! End to end over HTTP/2 (h2c) with real peers: `nghttpd` serves foo-h2 (captured) and
//! foo-h2-v2 (the mirror backend, whose verbose log tells which streams arrived with the
//! marker); `h2load` sends 1 000 requests over 4 connections with 8 concurrent streams each,
//! and the HTTPRoute mirrors 20 % of them, per request; `curl --http2` upgrades through
//! `nghttpx` (whose cleartext frontend accepts `Upgrade: h2c`) and its upgrade request,
//! served as stream 1, is mirrored too.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use shadowtap_harness::{
    nghttp2::{curl_upgrade, h2load, require_tools, Nghttpd, Nghttpx},
    require_privileges,
    scenario::{
        metric_sum, route_yaml_for, service_yaml_port, shadowtap_binary, Mirror, Rate, Scenario,
        NODE,
    },
    wait,
};

/// Where foo-h2's pod (nghttpd) and foo-h2-v2's pod (nghttpd) listen.
const H2_PORT: u16 = 8082;
/// Where foo-up's pod (nghttpx in front of foo-h2's nghttpd) listens.
const UPGRADE_PORT: u16 = 8083;
const MARKER: (&str, &str) = ("x-shadowtap-mirrored", "1");

/// A directory removed on drop (the servers' logs).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_within(what: &str, observed: u64, n: u64, p: f64, k: f64) {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (observed as f64 - mean).abs() <= k * sigma,
        "{what}: {observed} of {n}, expected {mean:.1} ± {k}σ (σ = {sigma:.1})"
    );
}

/// foo-h2 (the pod, h2c on `H2_PORT`) with an opted-in route mirroring `rate` to foo-h2-v2
/// (the second extra namespace).
fn h2_scenario(rate: Rate) -> Scenario {
    let route = route_yaml_for(
        "foo-h2-route",
        "foo-h2",
        true,
        None,
        &[Mirror {
            service: "foo-h2-v2",
            rate,
        }],
    );
    let s = Scenario::new(&route);
    let pod = s.topo.pod.ip4;
    let v2_ip = s.topo.extra[1].ip4;
    s.write_routes(
        "h2c.yaml",
        &[
            service_yaml_port("foo-h2", &[("foo-v1-a", pod.into())], NODE, H2_PORT),
            service_yaml_port(
                "foo-h2-v2",
                &[("foo-v2-a", v2_ip.into())],
                "node-b",
                H2_PORT,
            ),
        ]
        .join("---\n"),
    );
    s
}

#[test]
fn h2c_requests_are_mirrored_per_request_over_http2() {
    if !require_privileges("h2c_requests_are_mirrored_per_request_over_http2")
        || !require_tools(
            "h2c_requests_are_mirrored_per_request_over_http2",
            &["nghttpd", "nghttpx", "h2load", "curl", "stdbuf"],
        )
    {
        return;
    }
    let mut s = h2_scenario(Rate::Percent(20));
    let pod = s.topo.pod.ip4;
    let v2_ip = s.topo.extra[1].ip4;
    s.write_routes(
        "upgrade.yaml",
        &[
            service_yaml_port("foo-up", &[("foo-v1-a", pod.into())], NODE, UPGRADE_PORT),
            route_yaml_for(
                "foo-up-route",
                "foo-up",
                true,
                None,
                &[Mirror {
                    service: "foo-h2-v2",
                    rate: Rate::Percent(100),
                }],
            ),
        ]
        .join("---\n"),
    );
    let logs = TempDir(std::env::temp_dir().join(format!("shadowtap-h2c-{}", s.topo.tag())));
    std::fs::create_dir_all(&logs.0).expect("log dir");
    let v1 = Nghttpd::start(
        &s.topo.pod.ns,
        &s.topo.client.ns,
        SocketAddr::new(pod.into(), H2_PORT),
        &logs.0,
    );
    let v2 = Nghttpd::start(
        &s.topo.extra[1].ns,
        &s.topo.client.ns,
        SocketAddr::new(v2_ip.into(), H2_PORT),
        &logs.0,
    );
    let _proxy = Nghttpx::start(
        &s.topo.pod.ns,
        &s.topo.client.ns,
        SocketAddr::new(pod.into(), UPGRADE_PORT),
        v1.addr,
    );
    s.start_agent(&shadowtap_binary(), &[]);
    let client = &s.topo.client.ns;

    // Prior knowledge: 1 000 requests over 4 connections, 8 streams at a time on each.
    let n = 1000;
    let done = h2load(client, &format!("http://{pod}:{H2_PORT}/r/h2load"), n, 4, 8);
    assert_eq!(done, n, "h2load's requests all answered");
    assert_eq!(v1.count_path("/r/h2load"), n, "foo-h2 served every request");

    // h2c upgrade: each curl request is the upgrade request itself, served as stream 1.
    let upgrades = 5;
    for i in 0..upgrades {
        let status = curl_upgrade(client, &format!("http://{pod}:{UPGRADE_PORT}/up/{i}"));
        assert!(status == 200 || status == 404, "status {status}");
    }

    // Every decoded request is accounted for and every submitted mirror arrives.
    let (submitted, metrics) = wait::until(
        "every mirror to be sent or dropped",
        Duration::from_secs(60),
        || {
            let m = s.metrics();
            let decoded = metric_sum(
                &m,
                "shadowtap_h2_events_total",
                &["event=\"requests_emitted\""],
                &[],
            ) as u64;
            let upgraded = metric_sum(
                &m,
                "shadowtap_reconstruct_requests_total",
                &["outcome=\"upgraded_h2\""],
                &[],
            ) as u64;
            let submitted = metric_sum(
                &m,
                "shadowtap_mirror_draws_total",
                &["outcome=\"submitted\""],
                &[],
            ) as u64;
            let settled = metric_sum(&m, "shadowtap_mirror_requests_total", &[], &[]) as u64;
            (decoded == n && upgraded == upgrades && settled == submitted).then_some((submitted, m))
        },
    );
    let dropped = metric_sum(
        &metrics,
        "shadowtap_mirror_requests_total",
        &[],
        &["outcome=\"sent\""],
    );
    assert_eq!(dropped, 0.0, "no mirror dropped against a healthy backend");
    let mirrored = v2.count("/r/h2load", MARKER.0, MARKER.1);
    let upgraded = v2.count("/up/", MARKER.0, MARKER.1);
    assert_eq!(upgraded, upgrades, "every upgrade request mirrored (100 %)");
    assert_eq!(
        mirrored + upgraded,
        submitted,
        "every submitted mirror arrived at foo-h2-v2, marked"
    );
    assert_eq!(
        v2.count_path("/"),
        submitted,
        "foo-h2-v2 received nothing but the mirrors"
    );
    eprintln!(
        "h2c: {mirrored} of {n} h2load requests mirrored (20 %), {upgraded} of {upgrades} \
         upgrade requests; {submitted} submitted, all received by foo-h2-v2"
    );
    // 1 000 independent draws at 20 %: within ±3σ (the agent runs with --seed 42).
    assert_within("h2load requests mirrored", mirrored, n, 0.20, 3.0);
    let midstream = metric_sum(
        &metrics,
        "shadowtap_h2_events_total",
        &["event=\"h2_midstream\""],
        &[],
    );
    assert_eq!(midstream, 0.0, "every connection was seen from its start");
}

/// An h2c connection opened before the agent started cannot be decoded (its HPACK state is
/// unknown): it is counted as `h2_midstream`, and none of its requests is mirrored, while a
/// connection opened afterwards is.
#[test]
fn an_h2c_connection_opened_before_the_agent_is_counted_midstream() {
    if !require_privileges("an_h2c_connection_opened_before_the_agent_is_counted_midstream")
        || !require_tools(
            "an_h2c_connection_opened_before_the_agent_is_counted_midstream",
            &["nghttpd", "h2load", "stdbuf"],
        )
    {
        return;
    }
    let mut s = h2_scenario(Rate::Percent(100));
    let pod = s.topo.pod.ip4;
    let v2_ip = s.topo.extra[1].ip4;
    let logs = TempDir(std::env::temp_dir().join(format!("shadowtap-h2c-{}", s.topo.tag())));
    std::fs::create_dir_all(&logs.0).expect("log dir");
    let v1 = Nghttpd::start(
        &s.topo.pod.ns,
        &s.topo.client.ns,
        SocketAddr::new(pod.into(), H2_PORT),
        &logs.0,
    );
    let v2 = Nghttpd::start(
        &s.topo.extra[1].ns,
        &s.topo.client.ns,
        SocketAddr::new(v2_ip.into(), H2_PORT),
        &logs.0,
    );
    // One connection, opened now and paced over 5 s (20 requests/s), so most of its
    // requests are sent once the agent runs.
    let paced = 100;
    let mut early = std::process::Command::new("ip")
        .args(["netns", "exec", s.topo.client.ns.name()])
        .args(["h2load", "-c", "1", "-m", "1", "--rps", "20", "-n"])
        .arg(paced.to_string())
        .arg(format!("http://{pod}:{H2_PORT}/mid/"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start h2load");
    wait::until(
        "the early connection to send its first request",
        Duration::from_secs(10),
        || (v1.count_path("/mid/") > 0).then_some(()),
    );
    s.start_agent(&shadowtap_binary(), &[]);
    let status = wait::until(
        "the early connection's requests to finish",
        Duration::from_secs(30),
        || early.try_wait().expect("h2load status"),
    );
    assert!(status.success(), "h2load: {status}");
    assert_eq!(v1.count_path("/mid/"), paced);
    // A connection opened now is decoded from its start and mirrored (100 %).
    let fresh = 20;
    let done = h2load(
        &s.topo.client.ns,
        &format!("http://{pod}:{H2_PORT}/fresh/"),
        fresh,
        1,
        4,
    );
    assert_eq!(done, fresh);
    let event = |metrics: &str, e: &str| {
        metric_sum(
            metrics,
            "shadowtap_h2_events_total",
            &[&format!("event=\"{e}\"")],
            &[],
        ) as u64
    };
    // The metrics are published periodically: wait for them to show the fresh requests.
    let metrics = wait::until(
        "the fresh connection's mirrors to arrive and be counted",
        Duration::from_secs(30),
        || {
            let m = s.metrics();
            (v2.count("/fresh/", MARKER.0, MARKER.1) == fresh
                && event(&m, "requests_emitted") == fresh)
                .then_some(m)
        },
    );
    let event = |e: &str| event(&metrics, e);
    assert_eq!(event("h2_midstream"), 1, "the early connection");
    assert_eq!(
        event("requests_emitted"),
        fresh,
        "only the fresh connection's"
    );
    assert_eq!(
        v2.count_path("/mid/"),
        0,
        "nothing of the early connection mirrored"
    );
}
