//! No input makes matching or file parsing panic.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use shadowtap_routes::{load_path, load_str, plan, Plan, PlanConfig, Store};

use crate::util::{decide, fixture};

fn conformance_plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let store = load_path(&fixture("conformance-mirror.yaml")).unwrap();
        plan(&store, "node-a", &PlanConfig::default())
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
