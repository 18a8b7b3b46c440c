use shadowtap_routes::Plan;

use crate::util::{plan_of, route, store_with};

const RULE: &str = "  - backendRefs:\n    - name: foo-v1\n      port: 8080\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {name: foo-v2, port: 8080}\n        percent: 42\n";

#[test]
fn added_changed_removed() {
    let empty = plan_of(&store_with(&route("r", false, None, "svc", &[], RULE)));
    assert!(empty.endpoints.is_empty());
    let on = plan_of(&store_with(&route("r", true, None, "svc", &[], RULE)));
    let d = Plan::diff(&empty, &on);
    assert_eq!((d.added.len(), d.removed.len(), d.changed.len()), (2, 0, 0));
    assert!(Plan::diff(&on, &on).is_empty());
    let changed = plan_of(&store_with(&route(
        "r",
        true,
        None,
        "svc",
        &[],
        &RULE.replace("42", "7"),
    )));
    let d = Plan::diff(&on, &changed);
    assert_eq!((d.added.len(), d.removed.len(), d.changed.len()), (0, 0, 2));
    assert_eq!(d.changed[0].max_fraction.to_string(), "7%");
    // Mirror endpoints changing (rule set content) counts as a change too.
    let more = plan_of(&store_with(&format!(
        "{}\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {{name: s, namespace: default}}\nspec:\n  parentRefs: [{{group: \"\", kind: Service, name: foo-v1}}]\n  rules: [{{matches: [{{path: {{type: Exact, value: /z}}}}]}}]\n",
        route("r", true, None, "svc", &[], RULE)
    )));
    assert_eq!(Plan::diff(&on, &more).changed.len(), 2);
    let d = Plan::diff(&on, &empty);
    assert_eq!((d.added.len(), d.removed.len(), d.changed.len()), (0, 2, 0));
}
