//! No input makes matching or file parsing panic.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use shadowtap_routes::{load_path, load_str, plan, Plan, PlanConfig, Store};

use crate::util::{decide, decide_from, fixture};

fn conformance_plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let store = load_path(&fixture("conformance-mirror.yaml")).unwrap();
        plan(&store, "node-a", &PlanConfig::default())
    })
}

/// foo-route (producer, default/foo-v1) plus a consumer route of namespace `web` that only
/// matches `/w`.
fn mesh_plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let consumer = "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: c\n  namespace: web\n  labels: {shadowtap.dev/mirror: enabled}\nspec:\n  parentRefs: [{group: \"\", kind: Service, name: foo-v1, namespace: default}]\n  rules:\n  - matches: [{path: {value: /w}}]\n    backendRefs: [{name: foo-v1, namespace: default, port: 8080}]\n    filters:\n    - {type: RequestMirror, requestMirror: {backendRef: {name: foo-v2, namespace: default, port: 8080}}}\n";
        let text = std::fs::read_to_string(fixture("foo-route-42.yaml")).unwrap();
        let mut store = Store::new();
        load_str(&mut store, Path::new("mesh.yaml"), &format!("{text}\n---\n{consumer}")).unwrap();
        let p = plan(&store, "node-a", &PlanConfig::default());
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.route_sets.len(), 1);
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn route_request_never_panics(
        method in "[A-Z]{0,8}",
        target in "\\PC{0,40}",
        name in "[A-Za-z-]{0,12}",
        value in proptest::collection::vec(any::<u8>(), 0..24),
    ) {
        let rules = conformance_plan().route_sets.values().next().unwrap();
        let headers: &[(&str, &[u8])] = &[(name.as_str(), value.as_slice()), ("host", value.as_slice())];
        let _ = decide(rules, &method, &target, headers);
    }

    /// Any client namespace (or none) with any request, at an endpoint with producer and
    /// consumer routes: a decision, never a panic, and only the consumer namespace's
    /// clients get the consumer route.
    #[test]
    fn mesh_decisions_never_panic(
        client in prop_oneof![
            Just(None),
            Just(Some("web".to_owned())),
            "[a-z-]{0,12}".prop_map(Some),
        ],
        target in "\\PC{0,40}",
    ) {
        let p = mesh_plan();
        let rules = p.route_sets.values().next().unwrap();
        let d = decide_from(rules, client.as_deref(), "GET", &target, &[]);
        if let shadowtap_routes::Decision::Matched { rule, .. } = d {
            let consumer = rule.route.namespace == "web";
            prop_assert_eq!(consumer, client.as_deref() == Some("web"));
        }
    }

    #[test]
    fn file_parsing_never_panics(text in "\\PC{0,200}") {
        let mut s = Store::new();
        let _ = load_str(&mut s, Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn mutated_routes_never_panic(percent in any::<i32>(), num in any::<i32>(), den in any::<i32>(), port in any::<i32>()) {
        let text = std::fs::read_to_string(fixture("foo-route-42.yaml")).unwrap()
            .replace("percent: 42", &format!("fraction: {{numerator: {num}, denominator: {den}}}\n        percent: {percent}"))
            .replace("    port: 8080\n  rules", &format!("    port: {port}\n  rules"));
        let mut s = Store::new();
        if load_str(&mut s, Path::new("m.yaml"), &text).is_ok() {
            let _ = plan(&s, "node-a", &PlanConfig::default());
        }
    }
}
