//! Each request goes to exactly one endpoint, spread over all endpoints; endpoint updates
//! take effect at runtime; own flows are registered before the first byte.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shadowtap_mirror::{OwnFlows, ReplayConfig};
use support::*;

fn id_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let line = text.lines().find(|l| l.starts_with("X-Id: ")).unwrap();
    line["X-Id: ".len()..].to_owned()
}

#[tokio::test]
async fn one_endpoint_per_request_spread_over_three() {
    let servers = [
        Recorder::ok().await,
        Recorder::ok().await,
        Recorder::ok().await,
    ];
    // Endpoints are picked per connection use; with pipelining a batch goes to one
    // endpoint, so exact thirds hold for batches of one.
    let r = replayer(ReplayConfig {
        pipeline_depth: 1,
        ..test_config()
    });
    let id = backend("spread");
    r.set_endpoints(&id, servers.iter().map(|s| s.addr).collect());
    for i in 0..30 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 30).await;
    assert_eq!(s.sent, 30, "{s:?}");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for server in &servers {
        assert_eq!(
            server.count(),
            10,
            "round robin gives each endpoint a third"
        );
        for rec in server.recorded() {
            *seen.entry(id_of(&rec.raw)).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 30);
    assert!(seen.values().all(|&n| n == 1), "every request exactly once");
}

#[tokio::test]
async fn endpoints_can_change_at_runtime() {
    let (a, b) = (Recorder::ok().await, Recorder::ok().await);
    let r = replayer(test_config());
    let id = backend("update");
    r.set_endpoints(&id, vec![a.addr]);
    for i in 0..5 {
        r.submit(&id, get(i)).unwrap();
    }
    settled(&r, &id, 5).await;
    r.set_endpoints(&id, vec![b.addr]);
    for i in 5..10 {
        r.submit(&id, get(i)).unwrap();
    }
    let s = settled(&r, &id, 10).await;
    assert_eq!(s.sent, 10);
    assert_eq!((a.count(), b.count()), (5, 5));
}

/// Records own-flow registrations.
#[derive(Default)]
struct Recording {
    live: Mutex<HashSet<(SocketAddr, SocketAddr)>>,
    registered: Mutex<usize>,
    unregistered: Mutex<usize>,
}

impl OwnFlows for Recording {
    fn register(&self, local: SocketAddr, remote: SocketAddr) {
        assert!(self.live.lock().unwrap().insert((local, remote)));
        *self.registered.lock().unwrap() += 1;
    }
    fn unregister(&self, local: SocketAddr, remote: SocketAddr) {
        assert!(self.live.lock().unwrap().remove(&(local, remote)));
        *self.unregistered.lock().unwrap() += 1;
    }
}

#[tokio::test]
async fn own_flows_registered_before_first_byte_and_unregistered_on_close() {
    let own = Arc::new(Recording::default());
    let seen_unregistered = Arc::new(Mutex::new(0usize));
    let server = {
        let own = own.clone();
        let bad = seen_unregistered.clone();
        Recorder::start(move |peer, raw| {
            let registered = own.live.lock().unwrap().iter().any(|(l, _)| *l == peer);
            if !registered {
                *bad.lock().unwrap() += 1;
            }
            if raw.starts_with(b"GET /close") {
                Reply::SendClose(b"HTTP/1.1 200 OK\r\n\r\n".to_vec())
            } else {
                ok()
            }
        })
        .await
    };
    let r = replayer_with(
        ReplayConfig {
            max_connections: 2,
            ..test_config()
        },
        own.clone(),
    );
    let id = backend("own");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..20 {
        r.submit(&id, get(i)).unwrap();
    }
    r.submit(&id, request("GET /close HTTP/1.1\r\n\r\n", b""))
        .unwrap();
    settled(&r, &id, 21).await;
    assert_eq!(*seen_unregistered.lock().unwrap(), 0);
    let report = r.shutdown(Duration::from_secs(1)).await;
    assert!(report.drained);
    assert_eq!(report.dropped, 0);
    assert!(*own.registered.lock().unwrap() >= 2);
    assert_eq!(
        *own.registered.lock().unwrap(),
        *own.unregistered.lock().unwrap()
    );
    assert!(own.live.lock().unwrap().is_empty());
    assert_eq!(r.snapshot().backend(&label(&id)).connections, 0);
}

/// A backend that leaves the plan takes its metric series with it; added again, it starts
/// from zero.
#[tokio::test]
async fn removed_backends_free_their_series() {
    let server = Recorder::ok().await;
    let r = replayer(test_config());
    let mut registry = prometheus_client::registry::Registry::with_prefix("shadowtap");
    r.metrics().register(&mut registry);
    let encoded = |registry: &prometheus_client::registry::Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    };
    let id = backend("leaving");
    r.set_endpoints(&id, vec![server.addr]);
    r.submit(&id, get(1)).unwrap();
    settled(&r, &id, 1).await;
    let label = format!("backend=\"{id}\"");
    assert!(encoded(&registry).contains(&label));
    r.remove_backend(&id);
    let text = encoded(&registry);
    assert!(!text.contains(&label), "series left behind:\n{text}");
    r.set_endpoints(&id, vec![server.addr]);
    r.submit(&id, get(2)).unwrap();
    let s = settled(&r, &id, 1).await;
    assert_eq!(s.sent, 1, "a backend added again starts from zero");
}
