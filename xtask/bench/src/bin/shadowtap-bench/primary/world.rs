//! What the primary-path benchmark runs in: the scenario's namespaces (client, node, foo-v1,
//! foo-v2 pods), the backends (nginx with one worker each by default, or shadowtap's own test
//! server), the nginx `mirror` proxy compared with, and readings of what each served and the
//! CPU time each used.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use shadowtap_harness::{
    nginx::{MirrorProxy, Nginx},
    nginx_backend::Backend,
    scenario::Scenario,
};

use crate::{usage::agent_usage, PORT};

/// Mirrored percentage for shadowtap and nginx alike.
pub const PERCENT: u32 = 42;
/// Where the nginx proxy listens (in the node namespace, on the client's gateway address).
const PROXY_PORT: u16 = 8081;

/// Which servers play foo-v1 and foo-v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backends {
    /// nginx, one worker each (the default: a fast backend leaves the agent's cost exposed).
    Nginx,
    /// shadowtap's own test server (a thread per connection).
    Own,
}

impl Backends {
    /// From `SHADOWTAP_BENCH_BACKEND` (`nginx`, the default, or `own`).
    pub fn from_env() -> Self {
        match std::env::var("SHADOWTAP_BENCH_BACKEND").as_deref() {
            Ok("own") => Backends::Own,
            Ok("nginx") | Err(_) => Backends::Nginx,
            Ok(other) => panic!("SHADOWTAP_BENCH_BACKEND={other}: expected `nginx` or `own`"),
        }
    }

    /// How the report names them.
    pub fn describe(self) -> &'static str {
        match self {
            Backends::Nginx => {
                "nginx (`return 200`, 3-byte body, 1 worker each, keep-alive, no access log)"
            }
            Backends::Own => "shadowtap's own test server (thread per connection, `200 ok`)",
        }
    }
}

/// The running world.
pub struct World {
    /// Namespaces, the agent's routes and the agent itself.
    pub s: Scenario,
    /// nginx as foo-v1 and foo-v2 (with [`Backends::Nginx`]).
    nginx_backends: Option<(Backend, Backend)>,
    /// The nginx `mirror` proxy in the node namespace.
    proxy: Nginx,
    /// Where the proxy listens.
    pub proxy_addr: SocketAddr,
}

/// Cumulative readings at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    /// Requests foo-v1 served.
    pub v1: u64,
    /// Requests foo-v2 served (mirrors).
    pub v2: u64,
    /// CPU seconds of the agent (0 without one).
    pub agent_cpu: f64,
    /// CPU seconds of the proxy's processes.
    pub proxy_cpu: f64,
    /// CPU seconds of the backends' processes (nginx only; 0 with the own server, which runs
    /// inside this process).
    pub backends_cpu: f64,
}

fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().map(|p| agent_usage(*p).0).sum()
}

impl World {
    /// Build the namespaces and start the backends and the proxy; `route` is the labelled
    /// route the agent reads.
    pub fn new(route: &str, backends: Backends) -> Self {
        let s = match backends {
            Backends::Nginx => Scenario::for_external_backends(route),
            Backends::Own => Scenario::counting(route),
        };
        // nginx's mirror subrequests are header-only: it closes every mirror connection
        // whose response has a body, so each mirrored request opens a new connection to
        // foo-v2. Let the node namespace reuse TIME_WAIT ports, or it runs out within a round.
        s.topo
            .node
            .exec(&["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"]);
        let v2_addr = SocketAddr::new(s.topo.extra[1].ip4.into(), PORT);
        let nginx_backends = (backends == Backends::Nginx).then(|| {
            (
                Backend::start(
                    &s.topo.pod.ns,
                    SocketAddr::new(s.v1_ip(false), PORT),
                    1,
                    &s.topo.client.ns,
                ),
                Backend::start(&s.topo.extra[1].ns, v2_addr, 1, &s.topo.node),
            )
        });
        let [a, b, c, _] = s.topo.client.ip4.octets();
        let proxy_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(a, b, c, 1)), PROXY_PORT);
        let proxy = Nginx::start(
            &s.topo.node,
            MirrorProxy {
                listen: proxy_addr,
                primary: SocketAddr::new(s.v1_ip(false), PORT),
                mirror: v2_addr,
                percent: PERCENT,
                workers: 0,
            },
            &s.topo.client.ns,
        );
        Self {
            s,
            nginx_backends,
            proxy,
            proxy_addr,
        }
    }

    /// foo-v1's address (IPv4).
    pub fn v1(&self) -> SocketAddr {
        SocketAddr::new(self.s.v1_ip(false), PORT)
    }

    /// Cumulative counts and CPU times now.
    pub fn read(&self) -> Reading {
        let (v1, v2, backends_cpu) = match &self.nginx_backends {
            Some((a, b)) => (
                a.requests(&self.s.topo.pod.ns)
                    .expect("foo-v1's request count"),
                b.requests(&self.s.topo.extra[1].ns)
                    .expect("foo-v2's request count"),
                cpu_of(&a.nginx.pids()) + cpu_of(&b.nginx.pids()),
            ),
            None => (self.s.v1_count(), self.s.v2.count(), 0.0),
        };
        Reading {
            v1,
            v2,
            agent_cpu: self.s.agent_pid().map_or(0.0, |p| agent_usage(p).0),
            proxy_cpu: cpu_of(&self.proxy.pids()),
            backends_cpu,
        }
    }

    /// The proxy's error log, for the end of the run.
    pub fn proxy_errors(&self) -> String {
        self.proxy.error_log()
    }
}
