//! Matching and precedence, rule by rule of the Gateway API spec.

use shadowtap_routes::{Decision, Plan};

use crate::util::{decide, foo_v1_a, plan_of, route, rule, rules_at, store_with, winner, GATEWAY};

fn plan_docs(docs: &[String]) -> Plan {
    let mut all = vec![GATEWAY.to_owned()];
    all.extend(docs.iter().cloned());
    plan_of(&store_with(&all.join("\n---\n")))
}

/// (method, target, headers, expected winner).
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a [u8])], &'a str);

fn check(docs: &[String], cases: &[Case<'_>]) {
    let p = plan_docs(docs);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, foo_v1_a());
    for (method, target, headers, want) in cases {
        let d = decide(rules, method, target, headers);
        assert_eq!(winner(&d), *want, "{method} {target} {headers:?}");
    }
}

fn path(t: &str, v: &str) -> String {
    format!("    - path:\n        type: {t}\n        value: \"{v}\"\n")
}

#[test]
fn hostnames_exact_beats_wildcard_and_longer_wildcard_wins() {
    let any = rule("", true);
    check(
        &[
            route("a-wild", true, None, "gw", &["*.example.com"], &any),
            route("b-exact", true, None, "gw", &["foo.example.com"], &any),
            route(
                "c-longer-wild",
                true,
                None,
                "gw",
                &["*.bar.example.com"],
                &any,
            ),
        ],
        &[
            ("GET", "/", &[("Host", b"foo.example.com")], "b-exact/0"),
            (
                "GET",
                "/",
                &[("Host", b"FOO.Example.COM:8080")],
                "b-exact/0",
            ),
            ("GET", "/", &[("Host", b"baz.example.com")], "a-wild/0"),
            (
                "GET",
                "/",
                &[("Host", b"x.bar.example.com")],
                "c-longer-wild/0",
            ),
            ("GET", "/", &[("Host", b"a.b.example.com")], "a-wild/0"),
            ("GET", "/", &[("Host", b"example.com")], "none"),
            ("GET", "/", &[], "none"),
        ],
    );
}

#[test]
fn hostname_specificity_before_path() {
    check(
        &[
            route(
                "a",
                true,
                None,
                "gw",
                &["*.example.com"],
                &rule(&path("Exact", "/x"), true),
            ),
            route("b", true, None, "gw", &["foo.example.com"], &rule("", true)),
        ],
        &[("GET", "/x", &[("Host", b"foo.example.com")], "b/0")],
    );
}

#[test]
fn exact_path_then_longest_prefix() {
    check(
        &[
            route(
                "a",
                true,
                Some("2020-01-01T00:00:00Z"),
                "gw",
                &[],
                &rule(&path("PathPrefix", "/foo"), true),
            ),
            route(
                "b",
                true,
                Some("2021-01-01T00:00:00Z"),
                "gw",
                &[],
                &rule(&path("Exact", "/foo"), true),
            ),
            route(
                "c",
                true,
                Some("2021-01-01T00:00:00Z"),
                "gw",
                &[],
                &rule(&path("PathPrefix", "/foo/bar/"), true),
            ),
            route(
                "d",
                true,
                None,
                "gw",
                &[],
                &rule(&path("RegularExpression", "/re/[0-9]+"), true),
            ),
        ],
        &[
            ("GET", "/foo", &[], "b/0"),
            ("GET", "/foo/", &[], "a/0"),
            ("GET", "/foo/baz", &[], "a/0"),
            ("GET", "/foo/bar", &[], "c/0"),
            ("GET", "/foo/bar/x?q=1", &[], "c/0"),
            ("GET", "/foo/barx", &[], "a/0"),
            ("GET", "/foox", &[], "none"),
            ("GET", "/re/12", &[], "d/0"),
            ("GET", "/re/x", &[], "none"),
        ],
    );
}

#[test]
fn method_then_headers_then_query() {
    let m = |extra: &str| format!("{}{extra}", path("PathPrefix", "/api"));
    check(
        &[
            route("a-plain", true, None, "gw", &[], &rule(&m(""), true)),
            route("b-method", true, None, "gw", &[], &rule(&m("      method: POST\n"), true)),
            route(
                "c-one-header",
                true,
                None,
                "gw",
                &[],
                &rule(&m("      headers:\n      - name: X-Env\n        value: canary\n"), true),
            ),
            route(
                "d-two-headers",
                true,
                None,
                "gw",
                &[],
                &rule(
                    &m("      headers:\n      - name: x-env\n        value: canary\n      - name: x-team\n        type: RegularExpression\n        value: \"a.*\"\n"),
                    true,
                ),
            ),
            route(
                "e-query",
                true,
                None,
                "gw",
                &[],
                &rule(&m("      queryParams:\n      - name: debug\n        value: \"1\"\n"), true),
            ),
        ],
        &[
            ("GET", "/api", &[], "a-plain/0"),
            ("POST", "/api", &[("x-env", b"canary")], "b-method/0"),
            ("GET", "/api", &[("X-ENV", b"canary")], "c-one-header/0"),
            ("GET", "/api", &[("x-env", b"Canary")], "a-plain/0"),
            ("GET", "/api", &[("x-env", b"canary"), ("x-team", b"alpha")], "d-two-headers/0"),
            ("GET", "/api", &[("x-env", b"canary"), ("x-team", b"beta")], "c-one-header/0"),
            ("GET", "/api?debug=1", &[], "e-query/0"),
            ("GET", "/api?debug=2", &[], "a-plain/0"),
            ("GET", "/api?debug=1", &[("x-env", b"canary")], "c-one-header/0"),
        ],
    );
}

#[test]
fn oldest_route_then_name_then_rule_order() {
    let two_rules = format!(
        "{}{}",
        rule(&path("PathPrefix", "/t"), true),
        rule(&path("PathPrefix", "/t"), true)
    );
    check(
        &[
            route(
                "z-old",
                true,
                Some("2019-05-01T00:00:00Z"),
                "gw",
                &[],
                &rule(&path("PathPrefix", "/old"), true),
            ),
            route(
                "a-new",
                true,
                Some("2024-05-01T00:00:00Z"),
                "gw",
                &[],
                &rule(&path("PathPrefix", "/old"), true),
            ),
            route(
                "m",
                true,
                None,
                "gw",
                &[],
                &rule(&path("PathPrefix", "/name"), true),
            ),
            route(
                "b",
                true,
                None,
                "gw",
                &[],
                &rule(&path("PathPrefix", "/name"), true),
            ),
            route("r", true, None, "gw", &[], &two_rules),
        ],
        &[
            ("GET", "/old", &[], "z-old/0"),
            ("GET", "/name", &[], "b/0"),
            ("GET", "/t", &[], "r/0"),
        ],
    );
}

#[test]
fn or_across_matches_and_within() {
    let matches = format!(
        "{}      method: GET\n{}",
        path("Exact", "/a"),
        path("PathPrefix", "/b")
    );
    check(
        &[route("r", true, None, "gw", &[], &rule(&matches, true))],
        &[
            ("GET", "/a", &[], "r/0"),
            ("POST", "/a", &[], "none"),
            ("POST", "/b/c", &[], "r/0"),
            ("GET", "/c", &[], "none"),
        ],
    );
}

#[test]
fn labelled_and_unlabelled_routes_compete() {
    // The unlabelled route's own mirror is not shadowtap's: ignored.
    let p = plan_docs(&[
        route(
            "labelled",
            true,
            None,
            "gw",
            &[],
            &rule(&path("PathPrefix", "/api"), true),
        ),
        route(
            "unlabelled",
            false,
            None,
            "gw",
            &[],
            &rule(&path("PathPrefix", "/api/v2"), true),
        ),
    ]);
    let rules = rules_at(&p, foo_v1_a());
    let d = decide(rules, "GET", "/api/v1/x", &[]);
    assert_eq!(winner(&d), "labelled/0");
    assert_eq!(d.mirrors().len(), 1);
    let d = decide(rules, "GET", "/api/v2/x", &[]);
    assert_eq!(winner(&d), "unlabelled:unlabelled/0");
    assert!(d.mirrors().is_empty());
    let unl = rules.parents[0].rules.iter().find(|r| !r.labelled).unwrap();
    assert!(unl.mirrors.is_empty());
}

#[test]
fn label_removed_stops_mirrors_but_route_still_counts() {
    let p = plan_docs(&[
        route(
            "other",
            true,
            None,
            "svc",
            &[],
            &rule(&path("PathPrefix", "/x"), true),
        ),
        route("was-labelled", false, None, "gw", &[], &rule("", true)),
    ]);
    // Only the Service-parent route captures; the Gateway route no longer mirrors, but its
    // listener still delivers to foo-v1, so it is decided too (without mirrors).
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(rules.parents.len(), 2);
    assert!(rules.parents[0].rules.iter().all(|r| r.mirrors.is_empty()));
    let p = plan_docs(&[
        route(
            "a-labelled",
            true,
            None,
            "gw",
            &[],
            &rule(&path("PathPrefix", "/x"), true),
        ),
        route(
            "b-unlabelled",
            false,
            None,
            "gw",
            &[],
            &rule(&path("Exact", "/x"), false),
        ),
    ]);
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(
        winner(&decide(rules, "GET", "/x", &[])),
        "unlabelled:b-unlabelled/0"
    );
    assert_eq!(winner(&decide(rules, "GET", "/x/y", &[])), "a-labelled/0");
}

#[test]
fn winner_that_routes_elsewhere() {
    let elsewhere = "  - backendRefs:\n    - name: foo-v2\n      port: 8080\n    matches:\n    - path:\n        type: PathPrefix\n        value: /v2\n";
    let p = plan_docs(&[route(
        "r",
        true,
        None,
        "gw",
        &[],
        &format!("{}{elsewhere}", rule("", true)),
    )]);
    let rules = rules_at(&p, foo_v1_a());
    let d = decide(rules, "GET", "/v2/x", &[]);
    assert!(matches!(d, Decision::WonByOtherBackend { .. }), "{d:?}");
    assert_eq!(decide(rules, "GET", "/v1", &[]).mirrors().len(), 1);
}

#[test]
fn listener_hostnames_narrow_route_hostnames() {
    let gw = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: default\nspec:\n  gatewayClassName: test\n  listeners:\n  - name: http\n    port: 80\n    protocol: HTTP\n    hostname: \"*.example.com\"\n";
    let r = route(
        "r",
        true,
        None,
        "gw",
        &["foo.example.com", "foo.example.org"],
        &rule("", true),
    );
    let p = plan_of(&store_with(&format!("{gw}\n---\n{r}")));
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(rules.parents[0].rules[0].hostnames, ["foo.example.com"]);
    assert_eq!(
        winner(&decide(rules, "GET", "/", &[("Host", b"foo.example.org")])),
        "none"
    );
    // A route with no hostnames takes the listener's.
    let r = route("r", true, None, "gw", &[], &rule("", true));
    let p = plan_of(&store_with(&format!("{gw}\n---\n{r}")));
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(rules.parents[0].rules[0].hostnames, ["*.example.com"]);
    // A route whose hostnames do not intersect does not attach: nothing captured.
    let r = route("r", true, None, "gw", &["foo.example.org"], &rule("", true));
    assert!(plan_of(&store_with(&format!("{gw}\n---\n{r}")))
        .endpoints
        .is_empty());
}

#[test]
fn service_parent_ignores_hostnames() {
    let p = plan_docs(&[route(
        "r",
        true,
        None,
        "svc",
        &["foo.example.com"],
        &rule("", true),
    )]);
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(
        decide(rules, "GET", "/", &[("Host", b"10.96.0.101")])
            .mirrors()
            .len(),
        1
    );
}
