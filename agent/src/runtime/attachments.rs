//! Following the plan with attachments: every local endpoint's delivery interface gets the
//! capture program; interfaces no longer needed are detached. Re-run on every plan change
//! and periodically, so new pods and interfaces are picked up without a restart.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::IpAddr,
};

use shadowtap_routes::Plan;

use crate::datapath::{
    candidate_namespaces, find_pod_interface, route_interface, AttachMode, AttachPoint, Attachment,
    Datapath, Hook, NetnsPath,
};

/// Where the response program goes beside a request hook: the other direction of the same
/// interface (host-side veth: ingress; the pod's own interface: egress).
fn response_point(request: &AttachPoint) -> AttachPoint {
    let hook = match request.hook {
        Hook::TcIngress => Hook::TcEgressResponse,
        _ => Hook::TcIngressResponse,
    };
    AttachPoint {
        iface: request.iface.clone(),
        netns: request.netns.clone(),
        hook,
    }
}

/// The attachments shadowtap holds.
pub struct Attachments {
    mode: AttachMode,
    xdp: Vec<String>,
    held: HashMap<AttachPoint, Attachment>,
    /// Network namespaces (device, inode) already swept of stale clsact filters.
    swept: HashSet<(u64, u64)>,
    /// Problems already logged (logged once, until they go away).
    logged: HashSet<String>,
    failures: u64,
}

impl Attachments {
    /// Nothing attached yet.
    pub fn new(mode: AttachMode, xdp: Vec<String>) -> Self {
        Self {
            mode,
            xdp,
            held: HashMap::new(),
            swept: HashSet::new(),
            logged: HashSet::new(),
            failures: 0,
        }
    }

    /// Interfaces currently attached.
    pub fn count(&self) -> usize {
        self.held.len()
    }

    /// Attach or detach failures so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    fn log_once(&mut self, key: String, msg: impl FnOnce()) {
        if self.logged.insert(key) {
            msg();
        }
    }

    fn desired(&mut self, plan: &Plan) -> HashSet<AttachPoint> {
        let ips: BTreeSet<IpAddr> = plan.endpoints.iter().map(|e| e.addr.ip()).collect();
        // Pods with a comparing endpoint also get the response program, on the hook that
        // sees what the pod sends; the others pay nothing for comparison.
        let comparing: BTreeSet<IpAddr> = plan
            .endpoints
            .iter()
            .filter(|e| e.compare.is_some())
            .map(|e| e.addr.ip())
            .collect();
        let mut points = HashSet::new();
        let candidates = match self.mode {
            AttachMode::Pod if !ips.is_empty() => candidate_namespaces(),
            _ => Vec::new(),
        };
        for ip in ips {
            let found = match self.mode {
                AttachMode::Host => route_interface(ip, None).map(|iface| {
                    iface.map(|iface| AttachPoint {
                        iface,
                        netns: None,
                        hook: Hook::TcEgress,
                    })
                }),
                AttachMode::Pod => find_pod_interface(ip, &candidates).map(|found| {
                    found.map(|(netns, iface)| AttachPoint {
                        iface,
                        netns: Some(netns),
                        hook: Hook::TcIngress,
                    })
                }),
            };
            match found {
                Ok(Some(point)) => {
                    self.logged.remove(&format!("lookup {ip}"));
                    if comparing.contains(&ip) {
                        points.insert(response_point(&point));
                    }
                    points.insert(point);
                }
                Ok(None) => {
                    let mode = self.mode;
                    self.log_once(format!("lookup {ip}"), || {
                        tracing::warn!(%ip, ?mode, "no interface found for endpoint yet; will retry")
                    })
                }
                Err(e) => self.log_once(
                    format!("lookup {ip}"),
                    || tracing::warn!(%ip, error = %e, "interface lookup failed; will retry"),
                ),
            }
        }
        for iface in &self.xdp {
            points.insert(AttachPoint {
                iface: iface.clone(),
                netns: None,
                hook: Hook::XdpGeneric,
            });
        }
        points
    }

    /// Remove the clsact filters a killed agent left in `netns` (the agent's own when
    /// `None`), once per namespace: at start for the agent's own, before the first
    /// attachment for a pod's.
    pub fn sweep_stale(&mut self, dp: &Datapath, netns: Option<&NetnsPath>) {
        use std::os::unix::fs::MetadataExt;
        let file = netns.map_or_else(|| "/proc/self/ns/net".into(), |n| n.0.clone());
        let Ok(meta) = std::fs::metadata(&file) else {
            return;
        };
        if !self.swept.insert((meta.dev(), meta.ino())) {
            return;
        }
        match dp.remove_stale_filters(netns) {
            Ok(sweep) => {
                for f in &sweep.removed {
                    tracing::info!(
                        iface = %f.iface, hook = ?f.hook, priority = f.priority,
                        program_id = ?f.bpf_id, netns = %file.display(),
                        "removed a clsact filter a previous shadowtap left attached"
                    );
                }
                for (f, reason) in &sweep.failed {
                    self.failures += 1;
                    tracing::warn!(
                        iface = %f.iface, hook = ?f.hook, priority = f.priority,
                        netns = %file.display(), %reason,
                        "could not remove a clsact filter a previous shadowtap left attached"
                    );
                }
            }
            Err(e) => {
                self.failures += 1;
                // Not retried: the next start sweeps again.
                tracing::warn!(netns = %file.display(), error = %e, "listing clsact filters failed");
            }
        }
    }

    /// Make the attachments match the plan.
    pub fn reconcile(&mut self, dp: &mut Datapath, plan: &Plan) {
        let desired = self.desired(plan);
        self.held.retain(|point, _| {
            let keep = desired.contains(point);
            if !keep {
                tracing::info!(%point, "detaching: no planned endpoint behind it");
            }
            keep
        });
        for point in desired {
            if self.held.contains_key(&point) {
                continue;
            }
            if point.netns.is_some() {
                self.sweep_stale(dp, point.netns.as_ref());
            }
            match dp.attach(&point) {
                Ok(a) => {
                    self.logged.remove(&format!("attach {point}"));
                    self.held.insert(point, a);
                }
                Err(e) => {
                    self.failures += 1;
                    let key = format!("attach {point}");
                    self.log_once(
                        key,
                        || tracing::warn!(%point, error = %e, "attach failed; will retry"),
                    );
                }
            }
        }
    }

    /// Detach everything.
    pub fn clear(&mut self) {
        self.held.clear();
    }
}
