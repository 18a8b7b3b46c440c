//! Plan → the mirror client's backends: one backend per mirrored Service port and set of
//! rewrite options, with the union of its ready endpoints; backends that left the plan are
//! removed.

use std::{
    collections::{BTreeMap, BTreeSet},
    hash::Hasher,
    net::SocketAddr,
};

use shadowtap_mirror::{BackendId, BackendProtocol, Replayer, RewriteOptions};
use shadowtap_routes::{plan::MirrorTarget, Plan, ReplayProtocol};

/// The replayer's id for a mirror of the plan: its Service port, plus a short digest of the
/// route's rewrite options when it has any (so routes mirroring to one Service with different
/// rewrites use separate replayer backends; the label set stays bounded by the routes). The
/// digest (FNV-1a over the options' bytes) is the same in every process and on every node.
pub fn backend_id(mirror: &MirrorTarget) -> BackendId {
    let b = &mirror.backend;
    let rewrite = rewrite_options(mirror);
    if rewrite == RewriteOptions::default() {
        return BackendId::new(&b.namespace, &b.name, b.port);
    }
    let mut h = fnv::FnvHasher::default();
    if let Some(host) = &mirror.options.host {
        h.write(b"host=");
        h.write(host.as_bytes());
    }
    for name in &mirror.options.remove_headers {
        h.write(b"\0remove=");
        h.write(name.as_bytes());
    }
    BackendId::new(
        &b.namespace,
        format!("{}~{:08x}", b.name, h.finish() as u32),
        b.port,
    )
}

/// What the mirror's backend speaks, from its Service port's `appProtocol` (decided in the
/// plan): an h2c-only backend refuses HTTP/1 requests (`protocol_mismatch`).
pub fn backend_protocol(mirror: &MirrorTarget) -> BackendProtocol {
    match mirror.protocol {
        ReplayProtocol::AsCaptured => BackendProtocol::AsCaptured,
        ReplayProtocol::H2cOnly => BackendProtocol::H2cOnly,
    }
}

/// The replayer's rewrite options for a mirror (from its route's annotations).
pub fn rewrite_options(mirror: &MirrorTarget) -> RewriteOptions {
    RewriteOptions {
        host: mirror.options.host.clone(),
        remove_headers: mirror.options.remove_headers.clone(),
    }
}

/// Configure the replayer's backends for every mirror of the plan; remove the ones no longer
/// mirrored to. Returns the new set.
pub fn sync_backends(
    replayer: &Replayer,
    plan: &Plan,
    previous: &BTreeSet<BackendId>,
) -> BTreeSet<BackendId> {
    type Backend = (RewriteOptions, BackendProtocol, BTreeSet<SocketAddr>);
    let mut endpoints: BTreeMap<BackendId, Backend> = BTreeMap::new();
    for rules in plan.route_sets.values() {
        for parent in &rules.parents {
            for rule in &parent.rules {
                for m in &rule.mirrors {
                    // One Service port has one appProtocol: every mirror to it agrees.
                    endpoints
                        .entry(backend_id(m))
                        .or_insert_with(|| {
                            (rewrite_options(m), backend_protocol(m), BTreeSet::new())
                        })
                        .2
                        .extend(m.endpoints.iter().copied());
                }
            }
        }
    }
    for (id, (rewrite, protocol, addrs)) in &endpoints {
        if !previous.contains(id) {
            // The id encodes the rewrite, so an existing backend's options never change.
            if let Err(e) = replayer.set_backend(id, rewrite.clone()) {
                tracing::warn!(backend = %id, error = %e, "mirror backend not configured");
                continue;
            }
        }
        // The Service's appProtocol may change while the backend stays.
        replayer.set_protocol(id, *protocol);
        replayer.set_endpoints(id, addrs.iter().copied().collect());
    }
    for id in previous {
        if !endpoints.contains_key(id) {
            replayer.remove_backend(id);
        }
    }
    endpoints.into_keys().collect()
}

#[cfg(test)]
mod tests {
    use shadowtap_routes::{
        plan::{MirrorOptions, MirrorTarget, ServicePortRef},
        Fraction,
    };

    use super::backend_id;

    fn mirror(options: MirrorOptions) -> MirrorTarget {
        MirrorTarget {
            field: "spec.rules[0].filters[0]".into(),
            backend: ServicePortRef {
                namespace: "default".into(),
                name: "foo-v2".into(),
                port: 8080,
            },
            fraction: Fraction::ONE,
            endpoints: Vec::new(),
            cluster_ip: None,
            protocol: Default::default(),
            options,
        }
    }

    /// Backend ids are metric labels: the same on every node and after every restart.
    #[test]
    fn backend_ids_are_stable() {
        assert_eq!(
            backend_id(&mirror(MirrorOptions::default())).to_string(),
            "default/foo-v2:8080"
        );
        let rewrite = mirror(MirrorOptions {
            host: Some("shadow.example".into()),
            remove_headers: vec!["authorization".into()],
            flow_sampling: false,
            compare: None,
        });
        assert_eq!(
            backend_id(&rewrite).to_string(),
            "default/foo-v2~500208e2:8080"
        );
    }
}
