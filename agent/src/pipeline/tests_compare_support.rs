//! What the pipeline tests share: the plan of a route file, and for the comparison tests a
//! pipeline whose only route mirrors 100 % and compares in a given mode, flow keys, and the
//! outcomes of its rule.

use std::{net::SocketAddr, path::Path, sync::Arc};

use shadowtap_compare::Outcome;
use shadowtap_reconstruct::{Config, FlowKey, Reconstructor};
use shadowtap_routes::{Plan, PlanConfig, Sampler};

use super::{MirrorSink, PairKey, Pipeline};

/// The fixture route (42 %, labelled, no annotations).
pub(super) const ROUTE: &str = include_str!("../../routes/tests/fixtures/foo-route-42.yaml");

/// The plan of node-a for the routes of `yaml` (a route file), with the default settings.
pub(super) fn plan_of(yaml: &str) -> Arc<Plan> {
    let mut store = shadowtap_routes::store::Store::new();
    shadowtap_routes::file_source::load_str(&mut store, Path::new("route.yaml"), yaml)
        .expect("fixture loads");
    Arc::new(shadowtap_routes::plan(
        &store,
        "node-a",
        &PlanConfig::default(),
    ))
}

/// A pipeline following `plan`, with the default reassembly settings, sampler seed 7 and
/// marker field, mirroring into `sink`.
pub(super) fn pipeline_of<M: MirrorSink>(plan: Arc<Plan>, sink: M) -> Pipeline<M> {
    let mut p = Pipeline::new(
        Reconstructor::new(Config::default()),
        Sampler::new(7),
        sink,
        "x-shadowtap-mirrored",
    );
    p.set_plan(plan);
    p
}

/// A pipeline over the fixture route at 100 %, annotated `shadowtap.dev/compare: mode`,
/// mirroring into `sink`.
pub(super) fn comparing_pipeline<M: MirrorSink>(mode: &str, sink: M) -> Pipeline<M> {
    let yaml = ROUTE.replace("percent: 42", "percent: 100").replace(
        "  labels:\n    shadowtap.dev/mirror: enabled\n",
        &format!(
            "  labels:\n    shadowtap.dev/mirror: enabled\n  annotations:\n    shadowtap.dev/compare: {mode}\n"
        ),
    );
    let plan = plan_of(&yaml);
    assert!(
        plan.endpoints.iter().any(|e| e.compare.is_some()),
        "the fixture's endpoints compare"
    );
    pipeline_of(plan, sink)
}

/// A client's connection from port `port` to the fixture's pod.
pub(super) fn flow(port: u16) -> FlowKey {
    let server: SocketAddr = "10.244.1.10:8080".parse().expect("addr");
    FlowKey::new(SocketAddr::new([10, 0, 0, 1].into(), port), server)
}

/// The labelled rule's comparison outcomes that happened, with their counts.
pub(super) fn outcomes<M: MirrorSink>(p: &Pipeline<M>) -> Vec<(Outcome, u64)> {
    let plan = p.plan().clone();
    let rule = plan
        .route_sets
        .values()
        .flat_map(|s| s.parents.iter())
        .flat_map(|p| p.rules.iter())
        .find(|r| r.labelled)
        .expect("a labelled rule");
    let key = PairKey {
        rule: rule.id.clone(),
        mirror: rule.mirrors[0].backend.to_string(),
    };
    Outcome::ALL
        .iter()
        .copied()
        .zip(p.comparison().outcomes(&key))
        .filter(|(_, n)| *n > 0)
        .collect()
}
