//! Comparison opt-in: `shadowtap.dev/compare` on a route reaches its mirrors and, as the
//! strongest mode any comparing mirror there needs, the capture endpoints; off by default;
//! invalid values are plan problems; `shadowtap plan` shows it.

use shadowtap_compare::CompareMode;
use shadowtap_routes::{render_table, CompareSetting, PlanConfig, ProblemReason, Store};

use crate::util::fixture;

fn annotate(store: &mut Store, pairs: &[(&str, &str)]) {
    for route in store.routes.values_mut() {
        let a = route
            .metadata
            .annotations
            .get_or_insert_with(Default::default);
        for (k, v) in pairs {
            a.insert((*k).into(), (*v).into());
        }
    }
}

#[test]
fn comparison_is_off_by_default() {
    let store = shadowtap_routes::load_path(&fixture("foo-route-42.yaml")).unwrap();
    let plan = shadowtap_routes::plan(&store, "node-a", &PlanConfig::default());
    assert!(!plan.endpoints.is_empty());
    assert!(plan.endpoints.iter().all(|e| e.compare.is_none()));
    let json = shadowtap_routes::render_json(&plan, &plan.problems).unwrap();
    assert!(!json.contains("compare"), "{json}");
}

#[test]
fn the_annotation_reaches_mirrors_and_endpoints() {
    let mut store = shadowtap_routes::load_path(&fixture("foo-route-42.yaml")).unwrap();
    annotate(
        &mut store,
        &[
            ("shadowtap.dev/compare", "headers"),
            ("shadowtap.dev/compare-ignore-headers", "ETag"),
        ],
    );
    let plan = shadowtap_routes::plan(&store, "node-a", &PlanConfig::default());
    assert!(plan.problems.is_empty(), "{:?}", plan.problems);
    for e in &plan.endpoints {
        assert_eq!(e.compare, Some(CompareMode::Headers), "{}", e.addr);
        let rules = plan.rules_for(&e.addr).unwrap();
        let mirrors: Vec<_> = rules
            .parents
            .iter()
            .flat_map(|p| &p.rules)
            .flat_map(|r| &r.mirrors)
            .collect();
        assert!(!mirrors.is_empty());
        for m in mirrors {
            assert_eq!(
                m.options.compare,
                Some(CompareSetting {
                    mode: CompareMode::Headers,
                    ignore_headers: vec!["etag".into()],
                })
            );
        }
    }
    let table = render_table(&plan, &plan.problems);
    assert!(table.contains("+resp headers"), "{table}");
    assert!(table.contains("compare headers ignoring etag"), "{table}");
    let json = shadowtap_routes::render_json(&plan, &plan.problems).unwrap();
    assert!(json.contains("\"compare\": \"headers\""), "{json}");
}

#[test]
fn invalid_values_are_problems_and_compare_nothing() {
    let mut store = shadowtap_routes::load_path(&fixture("foo-route-42.yaml")).unwrap();
    annotate(
        &mut store,
        &[
            ("shadowtap.dev/compare", "all-of-it"),
            ("shadowtap.dev/compare-ignore-headers", "bad name"),
        ],
    );
    let plan = shadowtap_routes::plan(&store, "node-a", &PlanConfig::default());
    assert!(plan.endpoints.iter().all(|e| e.compare.is_none()));
    let fields: Vec<_> = plan
        .problems
        .iter()
        .filter(|p| p.reason == ProblemReason::InvalidCompare)
        .map(|p| p.field.clone())
        .collect();
    assert_eq!(
        fields,
        [
            "metadata.annotations[shadowtap.dev/compare-ignore-headers]",
            "metadata.annotations[shadowtap.dev/compare]",
        ],
        "{:?}",
        plan.problems
    );
}
