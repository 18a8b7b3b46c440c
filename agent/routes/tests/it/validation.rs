//! Every validation problem disables only what it affects.

use shadowtap_routes::ProblemReason as R;

use crate::util::{decide, foo_v1_a, plan_of, route, rules_at, store_with, winner, GATEWAY};

const GOOD: &str = "  - backendRefs:\n    - name: foo-v1\n      port: 8080\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {name: foo-v2, port: 8080}\n        percent: 42\n";

/// A rule for `/bad` with the given (invalid) mirror first and a valid 10 % mirror second.
fn bad_rule(mirror: &str) -> String {
    format!(
        "  - backendRefs:\n    - name: foo-v1\n      port: 8080\n    matches:\n    - path: {{value: /bad}}\n    filters:\n    - type: RequestMirror\n      requestMirror:\n{mirror}    - type: RequestMirror\n      requestMirror:\n        backendRef: {{name: foo-v2, port: 8080}}\n        percent: 10\n"
    )
}

fn check(mirror: &str, extra_docs: &str, reason: R, field: &str) {
    check_on("svc", mirror, extra_docs, reason, field);
}

/// [`check`] with both routes on `parent` (`svc`, or `gw`: the Gateway is added).
fn check_on(parent: &str, mirror: &str, extra_docs: &str, reason: R, field: &str) {
    let gateway = if parent == "gw" {
        format!("\n---\n{GATEWAY}")
    } else {
        String::new()
    };
    let docs = format!(
        "{}\n---\n{}{gateway}{extra_docs}",
        route("good", true, None, parent, &[], GOOD),
        route("bad", true, None, parent, &[], &bad_rule(mirror)),
    );
    let p = plan_of(&store_with(&docs));
    assert_eq!(p.problems.len(), 1, "{:#?}", p.problems);
    let prob = &p.problems[0];
    assert_eq!((prob.reason, prob.route.name.as_str()), (reason, "bad"));
    assert_eq!(prob.field, field);
    assert_eq!(prob.reason.as_str(), format!("{reason}"));
    let rules = rules_at(&p, foo_v1_a());
    // The other route is intact.
    let d = decide(rules, "GET", "/", &[]);
    assert_eq!(winner(&d), "good/0");
    assert_eq!(d.mirrors()[0].fraction.to_string(), "42%");
    // The bad route's rule keeps its valid mirror.
    let d = decide(rules, "GET", "/bad", &[]);
    assert_eq!(winner(&d), "bad/0");
    let fr: Vec<String> = d.mirrors().iter().map(|m| m.fraction.to_string()).collect();
    assert_eq!(fr, ["10%"]);
}

const M: &str = "spec.rules[0].filters[0].requestMirror";

fn mirror(backend: &str, rest: &str) -> String {
    format!("        backendRef: {backend}\n{rest}")
}

#[test]
fn percent_out_of_range() {
    check(
        &mirror("{name: foo-v2, port: 8080}", "        percent: 101\n"),
        "",
        R::PercentOutOfRange,
        &format!("{M}.percent"),
    );
    check(
        &mirror("{name: foo-v2, port: 8080}", "        percent: -1\n"),
        "",
        R::PercentOutOfRange,
        &format!("{M}.percent"),
    );
}

#[test]
fn percent_and_fraction() {
    check(
        &mirror(
            "{name: foo-v2, port: 8080}",
            "        percent: 5\n        fraction: {numerator: 1}\n",
        ),
        "",
        R::PercentAndFraction,
        M,
    );
}

#[test]
fn fraction_rules() {
    let f = |n: i32, d: i32| {
        mirror(
            "{name: foo-v2, port: 8080}",
            &format!("        fraction: {{numerator: {n}, denominator: {d}}}\n"),
        )
    };
    check(
        &f(1, 0),
        "",
        R::DenominatorTooSmall,
        &format!("{M}.fraction.denominator"),
    );
    check(
        &f(6, 5),
        "",
        R::NumeratorExceedsDenominator,
        &format!("{M}.fraction"),
    );
    check(
        &f(-1, 5),
        "",
        R::NumeratorNegative,
        &format!("{M}.fraction.numerator"),
    );
    // Default denominator 100: numerator 101 exceeds it.
    check(
        &mirror(
            "{name: foo-v2, port: 8080}",
            "        fraction: {numerator: 101}\n",
        ),
        "",
        R::NumeratorExceedsDenominator,
        &format!("{M}.fraction"),
    );
}

#[test]
fn backend_problems() {
    let b = format!("{M}.backendRef");
    check(
        &mirror("{name: nope, port: 8080}", ""),
        "",
        R::ServiceNotFound,
        &format!("{b}.name"),
    );
    check(
        &mirror("{name: foo-v2}", ""),
        "",
        R::PortMissing,
        &format!("{b}.port"),
    );
    check(
        &mirror("{name: foo-v2, port: 9999}", ""),
        "",
        R::PortNotOnService,
        &format!("{b}.port"),
    );
    check(
        &mirror("{name: foo-v2, kind: ConfigMap, port: 8080}", ""),
        "",
        R::UnsupportedBackendKind,
        &format!("{b}.kind"),
    );
    check(
        &mirror(
            "{group: example.com, kind: Service, name: foo-v2, port: 8080}",
            "",
        ),
        "",
        R::UnsupportedBackendKind,
        &format!("{b}.kind"),
    );
}

const OTHER_NS_SVC: &str = "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: shadow, namespace: other}\nspec: {ports: [{port: 8080}]}\n";

#[test]
fn cross_namespace_needs_reference_grant_on_a_gateway() {
    // Routes bound to a Gateway need a ReferenceGrant for another namespace's Service;
    // routes bound to Services (GAMMA) need none (`gamma.rs`).
    let m = mirror("{name: shadow, namespace: other, port: 8080}", "");
    check_on(
        "gw",
        &m,
        OTHER_NS_SVC,
        R::RefNotPermitted,
        &format!("{M}.backendRef.namespace"),
    );
    // A grant for another kind of source or another namespace does not help.
    let wrong = "\n---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: other}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: elsewhere}]\n  to: [{group: \"\", kind: Service}]\n";
    check_on(
        "gw",
        &m,
        &format!("{OTHER_NS_SVC}{wrong}"),
        R::RefNotPermitted,
        &format!("{M}.backendRef.namespace"),
    );
    // With a matching grant the mirror resolves: both mirrors of /bad remain.
    let grant = "\n---\napiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g, namespace: other}\nspec:\n  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]\n  to: [{group: \"\", kind: Service, name: shadow}]\n";
    let docs = format!(
        "{}\n---\n{GATEWAY}{OTHER_NS_SVC}{grant}",
        route("bad", true, None, "gw", &[], &bad_rule(&m))
    );
    let p = plan_of(&store_with(&docs));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let d = decide(rules_at(&p, foo_v1_a()), "GET", "/bad", &[]);
    assert_eq!(d.mirrors()[0].backend.to_string(), "other/shadow:8080");
}

#[test]
fn invalid_regex_disables_only_its_rule() {
    let rules = format!(
        "{GOOD}  - backendRefs:\n    - name: foo-v1\n      port: 8080\n    matches:\n    - path: {{type: RegularExpression, value: \"/x(\"}}\n"
    );
    let p = plan_of(&store_with(&route("r", true, None, "svc", &[], &rules)));
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].reason, R::InvalidRegex);
    assert_eq!(p.problems[0].field, "spec.rules[1].matches[0].path.value");
    let rs = rules_at(&p, foo_v1_a());
    assert_eq!(rs.parents[0].rules.len(), 1);
    assert_eq!(decide(rs, "GET", "/x(", &[]).mirrors().len(), 1);
}

#[test]
fn invalid_path_and_backend_ref_problems() {
    let rules = format!(
        "{GOOD}  - backendRefs:\n    - name: missing\n      port: 8080\n    matches:\n    - path: {{type: Exact, value: \"/a//b\"}}\n  - backendRefs:\n    - name: missing\n      port: 8080\n"
    );
    let p = plan_of(&store_with(&route("r", true, None, "svc", &[], &rules)));
    let reasons: Vec<(String, R)> = p
        .problems
        .iter()
        .map(|p| (p.field.clone(), p.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "spec.rules[1].matches[0].path.value".to_owned(),
                R::InvalidPathMatch
            ),
            (
                "spec.rules[2].backendRefs[0].name".to_owned(),
                R::ServiceNotFound
            ),
        ]
    );
    assert_eq!(p.endpoints.len(), 2, "the good rule still captures");
}

#[test]
fn unlabelled_routes_report_nothing() {
    let docs = route(
        "bad",
        false,
        None,
        "svc",
        &[],
        &bad_rule(&mirror("{name: nope, port: 1}", "")),
    );
    assert!(plan_of(&store_with(&docs)).problems.is_empty());
}

#[test]
fn reasons_are_stable_snake_case() {
    for r in R::ALL {
        let s = r.as_str();
        assert!(
            s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{s}"
        );
        assert_eq!(serde_json::to_value(r).unwrap(), s);
    }
}

#[test]
fn gateway_class_that_mirrors_is_a_warning_only() {
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: default}\nspec:\n  gatewayClassName: istio\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n";
    let p = plan_of(&store_with(&format!(
        "{gw}---\n{}",
        route("r", true, None, "gw", &[], GOOD)
    )));
    assert_eq!(p.problems.len(), 1);
    assert_eq!(p.problems[0].reason, R::ParentMirrorsItself);
    assert_eq!(p.problems[0].field, "spec.parentRefs[0]");
    assert_eq!(p.endpoints.len(), 2, "still planned");
}
