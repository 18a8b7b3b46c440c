//! Network namespaces and veth pairs created by a test, always removed when dropped.
//!
//! The standard topology mirrors what a CNI builds on a node: a `node` namespace (where the
//! agent runs; nothing is created in the machine's own namespace), a `client` namespace and
//! a `pod` namespace, each connected to the node by a veth pair and routed through it.
#![allow(unsafe_code)]

use std::{
    fs::File,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::AsRawFd,
    path::PathBuf,
    process::{Command, Output},
    sync::atomic::{AtomicU32, Ordering},
    thread::JoinHandle,
};

static NEXT: AtomicU32 = AtomicU32::new(0);
static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// A unique short tag for names created by this process (pid + counter).
pub fn unique_tag() -> String {
    format!(
        "{:x}{:x}",
        std::process::id() % 0xfffff,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace created with `ip netns add`; deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create `st-<role>-<tag>`.
    pub fn new(role: &str, tag: &str) -> Self {
        let name = format!("st-{role}-{tag}");
        run(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file (`/var/run/netns/<name>`).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }

    /// Run a command inside the namespace; panics if it fails.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Run a command inside the namespace and return its output whatever its status.
    pub fn exec_unchecked(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running {args:?}: {e}"))
    }

    /// Run `f` on a new thread inside this namespace (sockets it creates belong here).
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let file = File::open(self.path()).expect("open netns");
        std::thread::spawn(move || {
            // SAFETY: setns on a namespace fd we own, changing only this new thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            drop(file);
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// One side of the node, connected by a veth pair: the namespace, its interface, and the
/// node-side ("host-side") interface.
pub struct Leg {
    /// The leg's namespace.
    pub ns: Netns,
    /// Interface name inside `ns`.
    pub iface: String,
    /// Interface name inside the node namespace.
    pub host_iface: String,
    /// The leg's IPv4 address.
    pub ip4: Ipv4Addr,
    /// The leg's IPv6 address.
    pub ip6: Ipv6Addr,
}

impl Leg {
    /// The leg's address of the given family.
    pub fn ip(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(self.ip6)
        } else {
            IpAddr::V4(self.ip4)
        }
    }
}

/// node + client + pod namespaces, routed through the node.
pub struct Topology {
    /// Where the agent runs (host-side interfaces live here).
    pub node: Netns,
    /// The client.
    pub client: Leg,
    /// The captured pod.
    pub pod: Leg,
    /// Further pods (mirror backends and the like).
    pub extra: Vec<Leg>,
    tag: String,
}

impl Topology {
    /// Build the topology with `extra_pods` more pod namespaces.
    pub fn new(extra_pods: usize) -> Self {
        let tag = unique_tag();
        // Each topology of this process gets its own addresses (10.<net>.x.2, fd<net>:x::2),
        // so an agent that searches every namespace for a pod IP (pod-side attach mode)
        // cannot find another concurrent test's pod.
        let net = 64 + (NEXT_NET.fetch_add(1, Ordering::Relaxed) % 160) as u8;
        let node = Netns::new("node", &tag);
        node.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        node.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        let client = Self::leg(&node, "cl", &tag, net, 1);
        let pod = Self::leg(&node, "pd", &tag, net, 2);
        let extra = (0..extra_pods)
            .map(|i| Self::leg(&node, &format!("x{i}"), &tag, net, 3 + i as u8))
            .collect();
        Self {
            node,
            client,
            pod,
            extra,
            tag,
        }
    }

    /// The unique tag in every name of this topology.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    fn leg(node: &Netns, role: &str, tag: &str, net: u8, subnet: u8) -> Leg {
        let ns = Netns::new(role, tag);
        let iface = format!("{role}{tag}");
        let host_iface = format!("h{role}{tag}");
        assert!(
            host_iface.len() <= 15,
            "interface name too long: {host_iface}"
        );
        let s = subnet.to_string();
        run(&[
            "ip",
            "-n",
            node.name(),
            "link",
            "add",
            &host_iface,
            "type",
            "veth",
            "peer",
            "name",
            &iface,
            "netns",
            ns.name(),
        ]);
        let ip4 = Ipv4Addr::new(10, net, subnet, 2);
        let ip6: Ipv6Addr = format!("fd{net:02x}:{s}::2").parse().expect("v6");
        node.exec(&[
            "ip",
            "addr",
            "add",
            &format!("10.{net}.{s}.1/24"),
            "dev",
            &host_iface,
        ]);
        node.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("fd{net:02x}:{s}::1/64"),
            "dev",
            &host_iface,
            "nodad",
        ]);
        node.exec(&["ip", "link", "set", &host_iface, "up"]);
        ns.exec(&["ip", "addr", "add", &format!("{ip4}/24"), "dev", &iface]);
        ns.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{ip6}/64"),
            "dev",
            &iface,
            "nodad",
        ]);
        ns.exec(&["ip", "link", "set", &iface, "up"]);
        ns.exec(&[
            "ip",
            "route",
            "add",
            "default",
            "via",
            &format!("10.{net}.{s}.1"),
        ]);
        ns.exec(&[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            &format!("fd{net:02x}:{s}::1"),
        ]);
        Leg {
            ns,
            iface,
            host_iface,
            ip4,
            ip6,
        }
    }
}
