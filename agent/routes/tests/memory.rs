//! Memory stays bounded under churn: the store and the incremental planner, fed thousands
//! of EndpointSlice replacements, hold what the current objects need and nothing of the
//! old versions (counted with a counting allocator; this binary runs only these tests, one
//! at a time).
#![allow(clippy::unwrap_used, missing_docs)]

// Shared with the control-plane benchmark; this binary reads only the live count.
#[allow(dead_code)]
#[path = "../benches/control_plane/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Mutex;

use gateway_api::apis::standard::httproutes::HttpRoute;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;
use shadowtap_routes::compile::IncrementalPlanner;
use shadowtap_routes::model::{CompactSlice, Shared};
use shadowtap_routes::{plan, ObjectKey, PlanConfig, Store};

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// The live-heap figures of one test must not see another's allocations.
static SERIAL: Mutex<()> = Mutex::new(());

const SERVICES: u32 = 200;
const ROUTES: u32 = 50;

fn slice(svc: u32, generation: u32) -> Shared<CompactSlice> {
    let ip = |e: u32| format!("10.{}.{}.{}", generation % 200, svc % 250, e + 1);
    Shared::new(CompactSlice::new(
        serde_json::from_value::<EndpointSlice>(json!({
            "metadata": {"name": format!("svc{svc}-a"), "namespace": "ns",
                "labels": {"kubernetes.io/service-name": format!("svc{svc}")}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": (0..3).map(|e| json!({"addresses": [ip(e)], "conditions": {"ready": true},
                "nodeName": if e == 0 { "node-a" } else { "node-b" }})).collect::<Vec<_>>()
        }))
        .unwrap(),
    ))
}

fn cluster() -> Store {
    let mut store = Store::new();
    for i in 0..SERVICES {
        store.put::<Service>(Shared::new(
            serde_json::from_value(
                json!({"metadata": {"name": format!("svc{i}"), "namespace": "ns"},
                "spec": {"ports": [{"name": "http", "port": 8080}]}}),
            )
            .unwrap(),
        ));
        store.put(slice(i, 0));
    }
    for r in 0..ROUTES {
        store.put::<HttpRoute>(Shared::new(
            serde_json::from_value(json!({"metadata": {"name": format!("r{r}"), "namespace": "ns",
                "labels": {"shadowtap.dev/mirror": "enabled"}},
                "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": format!("svc{}", 2 * r), "port": 8080}],
                    "rules": [{"backendRefs": [{"name": format!("svc{}", 2 * r), "port": 8080}],
                        "filters": [{"type": "RequestMirror", "requestMirror": {
                            "backendRef": {"name": format!("svc{}", 2 * r + 1), "port": 8080}, "percent": 42}}]}]}}))
            .unwrap(),
        ));
    }
    store
}

/// Three thousand slice replacements (each one a new allocation, as the watch delivers it),
/// planned after every ten: the live heap ends where it was after the first rounds.
#[test]
fn churn_leaves_no_old_versions_behind() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = PlanConfig::default();
    let mut planner = IncrementalPlanner::new("node-a", cfg.clone());
    let mut store = cluster();
    let mut plan_now = planner.plan(&store);
    let churn = |store: &mut Store, planner: &mut IncrementalPlanner, round: u32| {
        for i in 0..10 {
            store.put(slice((round * 7 + i * 13) % SERVICES, round + 1));
        }
        planner.plan(store)
    };
    for round in 0..50 {
        plan_now = churn(&mut store, &mut planner, round);
    }
    let settled = counting_alloc::live();
    for round in 50..350 {
        plan_now = churn(&mut store, &mut planner, round);
    }
    let after = counting_alloc::live();
    assert_eq!(plan_now, plan(&store, "node-a", &cfg));
    let grown = after.saturating_sub(settled);
    assert!(
        grown < 64 * 1024,
        "live heap grew by {grown} B over 3 000 slice changes ({settled} → {after})"
    );
}

/// Deleting every object gives the memory back: the planner's cache keeps nothing of the
/// objects that left the store.
#[test]
fn deleting_everything_gives_the_memory_back() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = PlanConfig::default();
    let before = counting_alloc::live();
    let mut planner = IncrementalPlanner::new("node-a", cfg);
    let mut store = cluster();
    let full = planner.plan(&store);
    assert_eq!(
        full.endpoints.len() as u32,
        ROUTES,
        "one local endpoint per route"
    );
    let loaded = counting_alloc::live();
    drop(full);
    let keys: Vec<ObjectKey> = store.routes.keys().cloned().collect();
    for k in keys {
        store.remove::<HttpRoute>(&k);
    }
    let keys: Vec<ObjectKey> = store.services.keys().cloned().collect();
    for k in keys {
        store.remove::<Service>(&k);
        store.remove::<CompactSlice>(&ObjectKey::new("ns", format!("{}-a", k.name)));
    }
    // The store's journal keeps its last changes (bounded: `JOURNAL_CAPACITY`); a copy
    // holds none, and shows what the store's content and the planner keep.
    store = store.clone();
    let empty = planner.plan(&store);
    assert!(empty.endpoints.is_empty());
    drop(empty);
    let left = counting_alloc::live().saturating_sub(before);
    assert!(
        left < 16 * 1024,
        "{left} B left of {} B once every object was deleted",
        loaded - before
    );
}
