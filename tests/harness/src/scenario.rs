//! The end-to-end scenario shared by the end-to-end tests and the demo: a node namespace
//! running `shadowtap agent --routes`, a client, two foo-v1 pods (captured), and foo-v2 and
//! foo-v3 pods (mirror backends, recording what they receive), with the Kubernetes objects
//! describing them written as YAML.

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::{
    http_server::{RecordingServer, Responder},
    topology::{Leg, Netns, Topology},
    wait,
};

/// The node name the objects place foo-v1's pods on.
pub const NODE: &str = "node-a";
/// The port every service listens on.
pub const PORT: u16 = 8080;
/// Where the scenario's own servers listen when the caller runs its own on [`PORT`]
/// ([`Scenario::for_external_backends`]).
pub const PARKED_PORT: u16 = 18080;
/// Where the agent serves metrics, inside the node namespace.
pub const METRICS: &str = "127.0.0.1:19090";

/// One RequestMirror filter of the route.
#[derive(Clone, Debug)]
pub struct Mirror {
    /// Backend service (`foo-v2` or `foo-v3`).
    pub service: &'static str,
    /// `percent: N` or `fraction: {numerator, denominator}`, or neither (100 %).
    pub rate: Rate,
}

/// A mirror's configured rate.
#[derive(Clone, Copy, Debug)]
pub enum Rate {
    /// `percent`.
    Percent(u32),
    /// `fraction`.
    Fraction(u32, u32),
    /// Neither field: 100 %.
    Unset,
}

impl Rate {
    /// The probability.
    pub fn p(self) -> f64 {
        match self {
            Rate::Percent(n) => f64::from(n) / 100.0,
            Rate::Fraction(n, d) => f64::from(n) / f64::from(d),
            Rate::Unset => 1.0,
        }
    }
}

fn mirror_yaml(m: &Mirror) -> String {
    let rate = match m.rate {
        Rate::Percent(n) => format!("\n            percent: {n}"),
        Rate::Fraction(n, d) => {
            format!("\n            fraction:\n              numerator: {n}\n              denominator: {d}")
        }
        Rate::Unset => String::new(),
    };
    format!(
        "      - type: RequestMirror\n        requestMirror:\n          backendRef:\n            name: {}\n            port: {PORT}{rate}\n",
        m.service
    )
    .replace("\n            percent", "\n          percent")
    .replace("\n            fraction", "\n          fraction")
    .replace("\n              numerator", "\n            numerator")
    .replace("\n              denominator", "\n            denominator")
}

/// An HTTPRoute with a Service parent foo-v1 and backend foo-v1, and `mirrors`; `path`
/// limits the rule to a path prefix.
pub fn route_yaml(name: &str, labelled: bool, path: Option<&str>, mirrors: &[Mirror]) -> String {
    route_yaml_for(name, "foo-v1", labelled, path, mirrors)
}

/// The labelled route `foo-route` on foo-v1 mirroring to foo-v2 at `rate` (the
/// announcement's example; the demo and the benchmarks use it).
pub fn foo_route_to_v2(rate: Rate) -> String {
    route_yaml(
        "foo-route",
        true,
        None,
        &[Mirror {
            service: "foo-v2",
            rate,
        }],
    )
}

/// [`foo_route_to_v2`] with `annotations` (`key: value` lines) on the route.
pub fn foo_route_to_v2_annotated(rate: Rate, annotations: &[(&str, &str)]) -> String {
    let lines: String = annotations
        .iter()
        .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
        .collect();
    foo_route_to_v2(rate).replacen(
        "  namespace: default\n",
        &format!("  namespace: default\n  annotations:\n{lines}"),
        1,
    )
}

/// An HTTPRoute whose parent and backend is `service`.
pub fn route_yaml_for(
    name: &str,
    service: &str,
    labelled: bool,
    path: Option<&str>,
    mirrors: &[Mirror],
) -> String {
    let labels = if labelled {
        "  labels:\n    shadowtap.dev/mirror: enabled\n"
    } else {
        ""
    };
    let matches = path
        .map(|p| {
            format!("    matches:\n    - path:\n        type: PathPrefix\n        value: {p}\n")
        })
        .unwrap_or_default();
    let filters = if mirrors.is_empty() {
        String::new()
    } else {
        format!(
            "    filters:\n{}",
            mirrors.iter().map(mirror_yaml).collect::<String>()
        )
    };
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: default\n{labels}spec:\n  parentRefs:\n  - group: \"\"\n    kind: Service\n    name: {service}\n    port: {PORT}\n  rules:\n  - backendRefs:\n    - name: {service}\n      port: {PORT}\n{matches}{filters}"
    )
}

fn service_yaml(name: &str, ips: &[(&str, IpAddr)], node: &str) -> String {
    service_yaml_port(name, ips, node, PORT)
}

/// A Service `name` on port 8080 whose endpoints (`(pod, ip)`, on `node`) listen on `target`.
pub fn service_yaml_port(name: &str, ips: &[(&str, IpAddr)], node: &str, target: u16) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  selector:\n    app: {name}\n  ports:\n  - name: http\n    port: {PORT}\n    protocol: TCP\n    targetPort: http\n"
    );
    for family in ["IPv4", "IPv6"] {
        let eps: Vec<String> = ips
            .iter()
            .filter(|(_, ip)| ip.is_ipv6() == (family == "IPv6"))
            .map(|(pod, ip)| {
                format!(
                    "- addresses: [\"{ip}\"]\n  conditions: {{ready: true, serving: true, terminating: false}}\n  nodeName: {node}\n  targetRef: {{kind: Pod, namespace: default, name: {pod}}}\n"
                )
            })
            .collect();
        if eps.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}-{}\n  namespace: default\n  labels:\n    kubernetes.io/service-name: {name}\naddressType: {family}\nports:\n- name: http\n  port: {target}\n  protocol: TCP\nendpoints:\n{}",
            family.to_ascii_lowercase(),
            eps.concat()
        ));
    }
    out
}

fn pod_yaml(name: &str, app: &str, node: &str, ips: &[IpAddr]) -> String {
    let pod_ips: String = ips.iter().map(|ip| format!("  - ip: {ip}\n")).collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n  labels: {{app: {app}}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: app\n    image: example.invalid/{app}:1\n    ports:\n    - {{name: http, containerPort: {PORT}, protocol: TCP}}\nstatus:\n  phase: Running\n  podIP: {}\n  podIPs:\n{pod_ips}",
        ips[0]
    )
}

/// The running scenario. Dropping it stops the agent (SIGTERM) and removes the namespaces.
pub struct Scenario {
    /// The namespaces.
    pub topo: Topology,
    /// foo-v1 pods (captured).
    pub v1: Vec<RecordingServer>,
    /// foo-v2 (mirror backend).
    pub v2: RecordingServer,
    /// foo-v3 (second mirror backend).
    pub v3: RecordingServer,
    /// The routes directory given to the agent.
    pub routes: PathBuf,
    agent: Option<Child>,
}

impl Scenario {
    /// Build the namespaces, start the servers, write the base objects and `route`.
    pub fn new(route: &str) -> Self {
        Self::with_v2_node(route, "node-b")
    }

    /// As [`Scenario::new`], with foo-v2's pod placed on `v2_node` (`node-a` makes it a
    /// local pod the agent may capture too).
    pub fn with_v2_node(route: &str, v2_node: &str) -> Self {
        Self::build(
            route,
            v2_node,
            &RecordingServer::start,
            &RecordingServer::start,
            PORT,
        )
    }

    /// As [`Scenario::new`], with servers that only count requests (benchmarks).
    pub fn counting(route: &str) -> Self {
        Self::build(
            route,
            "node-b",
            &RecordingServer::counting,
            &RecordingServer::counting,
            PORT,
        )
    }

    /// As [`Scenario::new`], with foo-v1's pods answering as `v1` says and foo-v2 as `v2`
    /// says (the comparison tests: deliberate differences, hostile primaries).
    pub fn answering(route: &str, v1: Responder, v2: Responder) -> Self {
        Self::build(
            route,
            "node-b",
            &move |ns, addr| RecordingServer::answering(ns, addr, v1.clone()),
            &move |ns, addr| RecordingServer::answering(ns, addr, v2.clone()),
            PORT,
        )
    }

    /// As [`Scenario::counting`], for a caller that runs its own servers (nginx in the
    /// benchmarks) on the pods' addresses at [`PORT`], where the objects point: the
    /// scenario's servers are bound to [`PARKED_PORT`] instead, which nothing names, so
    /// `v1`, `v2` and `v3` count nothing.
    pub fn for_external_backends(route: &str) -> Self {
        Self::build(
            route,
            "node-b",
            &RecordingServer::counting,
            &RecordingServer::counting,
            PARKED_PORT,
        )
    }

    fn build(
        route: &str,
        v2_node: &str,
        server: &dyn Fn(&Netns, SocketAddr) -> RecordingServer,
        v2_server: &dyn Fn(&Netns, SocketAddr) -> RecordingServer,
        port: u16,
    ) -> Self {
        let topo = Topology::new(3);
        let routes = std::env::temp_dir().join(format!("shadowtap-routes-{}", topo.tag()));
        std::fs::create_dir_all(&routes).expect("routes dir");
        let v1_legs: [&Leg; 2] = [&topo.pod, &topo.extra[0]];
        let v1 = v1_legs
            .iter()
            .flat_map(|l| {
                [
                    server(&l.ns, SocketAddr::new(l.ip4.into(), port)),
                    server(&l.ns, SocketAddr::new(l.ip6.into(), port)),
                ]
            })
            .collect();
        let v2 = v2_server(
            &topo.extra[1].ns,
            SocketAddr::new(topo.extra[1].ip4.into(), port),
        );
        let v3 = server(
            &topo.extra[2].ns,
            SocketAddr::new(topo.extra[2].ip4.into(), port),
        );
        let objects = [
            service_yaml(
                "foo-v1",
                &[
                    ("foo-v1-a", topo.pod.ip4.into()),
                    ("foo-v1-b", topo.extra[0].ip4.into()),
                    ("foo-v1-a", topo.pod.ip6.into()),
                ],
                NODE,
            ),
            service_yaml(
                "foo-v2",
                &[("foo-v2-a", topo.extra[1].ip4.into())],
                "node-b",
            ),
            service_yaml(
                "foo-v3",
                &[("foo-v3-a", topo.extra[2].ip4.into())],
                "node-b",
            ),
            pod_yaml(
                "foo-v1-a",
                "foo-v1",
                NODE,
                &[topo.pod.ip4.into(), topo.pod.ip6.into()],
            ),
            pod_yaml("foo-v1-b", "foo-v1", NODE, &[topo.extra[0].ip4.into()]),
            pod_yaml("foo-v2-a", "foo-v2", v2_node, &[topo.extra[1].ip4.into()]),
            pod_yaml("foo-v3-a", "foo-v3", "node-b", &[topo.extra[2].ip4.into()]),
        ];
        std::fs::write(routes.join("objects.yaml"), objects.join("---\n")).expect("write objects");
        std::fs::write(routes.join("route.yaml"), route).expect("write route");
        Self {
            topo,
            v1,
            v2,
            v3,
            routes,
            agent: None,
        }
    }

    /// Replace (or add) a routes file; the agent picks the change up.
    pub fn write_routes(&self, file: &str, yaml: &str) {
        let tmp = self.routes.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, yaml).expect("write routes");
        std::fs::rename(&tmp, self.routes.join(file)).expect("rename routes");
    }

    /// Start `shadowtap agent` in the node namespace and wait until it is ready.
    pub fn start_agent(&mut self, binary: &Path, extra_args: &[&str]) {
        self.start_agent_wrapped(&[], binary, extra_args);
    }

    /// As [`Scenario::start_agent`], with the agent run by `wrapper` (a command that execs
    /// the rest of its command line, such as `setpriv` with its options), so that the agent
    /// keeps the process id the scenario stops it by.
    pub fn start_agent_wrapped(&mut self, wrapper: &[&str], binary: &Path, extra_args: &[&str]) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.topo.node.name()])
            .args(wrapper)
            .arg(binary)
            .args(["agent", "--routes"])
            .arg(&self.routes)
            .args([
                "--node-name",
                NODE,
                "--metrics-addr",
                METRICS,
                "--seed",
                "42",
            ])
            .args(extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null());
        let child = cmd.spawn().expect("start shadowtap agent");
        self.agent = Some(child);
        let node = &self.topo.node;
        wait::until("the agent to be ready", Duration::from_secs(60), || {
            if let Some(c) = self.agent.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("shadowtap agent exited early: {status}");
                }
            }
            (http_get(node, METRICS, "/readyz").map(|(s, _)| s) == Some(200)).then_some(())
        });
    }

    /// The agent's process id (`ip netns exec` execs the agent in place).
    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().map(Child::id)
    }

    /// Stop the agent with SIGTERM and return its exit status code.
    pub fn stop_agent(&mut self) -> Option<i32> {
        let mut child = self.agent.take()?;
        // SAFETY-free: `kill` is a plain command.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = wait::until("the agent to exit", Duration::from_secs(30), || {
            child.try_wait().ok().flatten()
        });
        status.code()
    }

    /// The agent's metrics text.
    pub fn metrics(&self) -> String {
        http_get(&self.topo.node, METRICS, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// One metric sample's value (`name{labels}` exactly as in the text), 0 if absent.
    pub fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics(), series)
    }

    /// The foo-v1 server that listens on `ip`.
    pub fn v1_ip(&self, v6: bool) -> IpAddr {
        self.topo.pod.ip(v6)
    }

    /// Every request foo-v1's pods received.
    pub fn v1_requests(&self) -> Vec<Vec<u8>> {
        self.v1.iter().flat_map(|s| s.requests()).collect()
    }

    /// Requests answered by foo-v1's pods.
    pub fn v1_count(&self) -> u64 {
        self.v1.iter().map(|s| s.count()).sum()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..300 {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.routes);
    }
}

/// The value of `series` in Prometheus text, 0 when absent.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// The sum of every sample of `metric` (`name{...} value` lines) whose labels contain all of
/// `with` and none of `without`.
pub fn metric_sum(text: &str, metric: &str, with: &[&str], without: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter(|l| with.iter().all(|w| l.contains(w)) && !without.iter().any(|w| l.contains(w)))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// GET `path` from `addr` inside `ns`: (status, body).
pub fn http_get(ns: &Netns, addr: &str, path: &str) -> Option<(u16, String)> {
    let addr: SocketAddr = addr.parse().ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: shadowtap\r\nConnection: close\r\n\r\n");
    ns.spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(request.as_bytes()).ok()?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).ok()?;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((status, body))
    })
    .join()
    .ok()
    .flatten()
}

/// Remove the marker header line from a replayed request, for comparison with the original.
pub fn strip_marker(raw: &[u8], marker: &str) -> Vec<u8> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw.len(), |p| p + 4);
    let (head, body) = raw.split_at(head_end);
    let head = String::from_utf8_lossy(head);
    let kept: String = head
        .split_inclusive("\r\n")
        .filter(|l| {
            !l.to_ascii_lowercase()
                .starts_with(&format!("{}:", marker.to_ascii_lowercase()))
        })
        .collect();
    let mut out = kept.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Path of the `shadowtap` binary next to the running test executable's target directory.
pub fn shadowtap_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|d| {
            if d.ends_with("deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .expect("target dir");
    let bin = dir.join("shadowtap");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p shadowtap-agent; `cargo xtask test` does)",
        bin.display()
    );
    bin
}
