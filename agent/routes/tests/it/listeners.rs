//! Gateway listeners, weights and attachment: precedence is decided per listener
//! (sectionName / port); a rule that cannot have delivered a request to the pod (a redirect,
//! other backends, `weight: 0`) makes its listener not the one that delivered it; a route
//! attaches only where its Gateway exists, its parent accepted it and a listener allows it.

use shadowtap_routes::{render_table, Decision, Delivery, Plan, ProblemReason};

use crate::util::{decide, foo_v1_a, plan_of, rules_at, store_with, winner};

fn fixture_with_base(name: &str) -> Plan {
    let text = std::fs::read_to_string(crate::util::fixture(name)).unwrap();
    plan_of(&store_with(&text))
}

fn reasons(p: &Plan) -> Vec<(String, &'static str)> {
    p.problems
        .iter()
        .map(|pr| (pr.route.to_string(), pr.reason.as_str()))
        .collect()
}

const HOST: &[(&str, &[u8])] = &[("Host", b"redirect.example")];

#[test]
fn redirect_guide_mirrors_what_the_https_listener_delivers() {
    let p = fixture_with_base("redirect-guide-42.yaml");
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, foo_v1_a());
    let parents: Vec<String> = rules.parents.iter().map(|p| p.parent.to_string()).collect();
    // Only the https listener has a route that mirrors here: the redirect route, on http, does
    // not compete with it.
    assert_eq!(parents, ["Gateway default/redirect-gateway listener https"]);
    assert_eq!(
        rules.parents[0].rules.len(),
        1,
        "listeners do not share routes"
    );
    let d = decide(rules, "GET", "/", HOST);
    assert_eq!(winner(&d), "https-route/0");
    let fractions: Vec<String> = d.mirrors().iter().map(|m| m.fraction.to_string()).collect();
    assert_eq!(fractions, ["42%"]);
    assert_eq!(p.endpoints[0].max_fraction.to_string(), "42%");
    assert_eq!(
        decide(rules, "GET", "/", &[("Host", b"other.example")]),
        Decision::NotMatched
    );

    // `shadowtap plan` shows each listener, its port and who wins there.
    let table = render_table(&p, &p.problems);
    for want in [
        "parent Gateway default/redirect-gateway listener https (port 443, hostname *)",
        "default/https-route rule 0 [labelled, delivers here] hosts=redirect.example match=/* wins=itself",
    ] {
        assert!(table.contains(want), "missing {want:?} in\n{table}");
    }
}

#[test]
fn all_listeners_as_one_parent_would_let_the_redirect_win_but_each_listener_decides() {
    // Without sectionName both routes attach to both listeners: on each, the older redirect
    // wins the tie, so no listener delivers to foo-v1 — the request cannot have come through
    // this Gateway's routes as written, and nothing is mirrored.
    let text = std::fs::read_to_string(crate::util::fixture("redirect-guide-42.yaml"))
        .unwrap()
        .replace("    sectionName: http\n", "")
        .replace("    sectionName: https\n", "");
    let p = plan_of(&store_with(&text));
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(rules.parents.len(), 2);
    assert_eq!(rules.parents[0].rules[0].delivery, Delivery::Redirect);
    let d = decide(rules, "GET", "/", HOST);
    assert_eq!(winner(&d), "other:http-filter-redirect/0");
    // `shadowtap plan` shows the redirect winning its own requests on both listeners.
    let table = render_table(&p, &p.problems);
    for want in [
        "parent Gateway default/redirect-gateway listener http (port 80, hostname *)",
        "default/http-filter-redirect rule 0 [unlabelled, redirect] hosts=redirect.example match=/* wins=itself",
        "default/https-route rule 0 [labelled, delivers here] hosts=redirect.example match=/* wins=default/http-filter-redirect rule 0",
    ] {
        assert!(table.contains(want), "missing {want:?} in\n{table}");
    }
}

fn gw(listeners: &str) -> String {
    format!("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: infra\nspec:\n  gatewayClassName: test\n  listeners:\n{listeners}")
}

const LISTENER_HTTP: &str = "  - name: http\n    port: 80\n    protocol: HTTP\n";

/// A route in `default` on Gateway infra/gw (optionally a listener) to foo-v1:8080.
fn route(
    name: &str,
    labelled: bool,
    created: &str,
    section: Option<&str>,
    extra: &str,
    backends: &str,
    filters: &str,
) -> String {
    let labels = if labelled {
        "  labels:\n    shadowtap.dev/mirror: enabled\n"
    } else {
        ""
    };
    let section = section
        .map(|s| format!("    sectionName: {s}\n"))
        .unwrap_or_default();
    format!("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: default\n  creationTimestamp: \"{created}\"\n{labels}spec:\n  parentRefs:\n  - name: gw\n    namespace: infra\n{section}{extra}  rules:\n  - backendRefs:\n{backends}{filters}")
}

const TO_V1: &str = "    - name: foo-v1\n      port: 8080\n";
const MIRROR: &str = "    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef:\n          name: foo-v2\n          port: 8080\n        percent: 42\n";
const ALL_NS: &str = "    allowedRoutes:\n      namespaces:\n        from: All\n";

fn labelled_route() -> String {
    route(
        "mirrored",
        true,
        "2025-06-01T00:00:00Z",
        None,
        "",
        TO_V1,
        MIRROR,
    )
}

#[test]
fn weight_zero_backends_receive_nothing() {
    // A labelled route whose foo-v1 backend has weight 0: nothing to capture.
    let zero = route(
        "mirrored",
        true,
        "2025-06-01T00:00:00Z",
        None,
        "",
        "    - name: foo-v1\n      port: 8080\n      weight: 0\n    - name: foo-v2\n      port: 8080\n",
        MIRROR,
    );
    let p = plan_of(&store_with(
        &[gw(&format!("{LISTENER_HTTP}{ALL_NS}")), zero].join("\n---\n"),
    ));
    assert!(p.endpoints.is_empty(), "{:#?}", p.endpoints);

    // An older unlabelled route on /x sends to foo-v1 with weight 0 (and foo-v2 with 1): a
    // request for /x at foo-v1 did not come through it, nor through the labelled route.
    let older = route(
        "canary",
        false,
        "2025-01-01T00:00:00Z",
        None,
        "",
        "    - name: foo-v1\n      port: 8080\n      weight: 0\n    - name: foo-v2\n      port: 8080\n      weight: 1\n    matches:\n    - path: {type: PathPrefix, value: /x}\n",
        "",
    );
    let p = plan_of(&store_with(
        &[
            gw(&format!("{LISTENER_HTTP}{ALL_NS}")),
            labelled_route(),
            older,
        ]
        .join("\n---\n"),
    ));
    let rules = rules_at(&p, foo_v1_a());
    let canary = rules.parents[0]
        .rules
        .iter()
        .find(|r| r.id.route.name == "canary")
        .unwrap();
    assert_eq!(canary.delivery, Delivery::WeightZero);
    assert_eq!(winner(&decide(rules, "GET", "/x/1", &[])), "other:canary/0");
    assert_eq!(winner(&decide(rules, "GET", "/y", &[])), "mirrored/0");
}

#[test]
fn a_missing_gateway_is_not_attached() {
    let p = plan_of(&store_with(&labelled_route()));
    assert!(p.endpoints.is_empty());
    assert_eq!(
        reasons(&p),
        [("default/mirrored".to_owned(), "parent_not_found")]
    );
}

#[test]
fn routes_their_parent_rejected_do_not_compete() {
    let rejected = |name: &str, labelled: bool, created: &str| {
        format!(
            "{}status:\n  parents:\n  - controllerName: example.com/gateway-controller\n    parentRef:\n      name: gw\n      namespace: infra\n    conditions:\n    - type: Accepted\n      status: \"False\"\n      reason: NotAllowedByListeners\n      message: no\n      lastTransitionTime: \"2025-01-01T00:00:00Z\"\n",
            route(name, labelled, created, None, "", TO_V1, "    matches:\n    - path: {type: PathPrefix, value: /}\n")
        )
    };
    let listeners = format!("{LISTENER_HTTP}{ALL_NS}");
    // An older unlabelled route the parent rejected would win every tie; it does not compete.
    let p = plan_of(&store_with(
        &[
            gw(&listeners),
            labelled_route(),
            rejected("old", false, "2024-01-01T00:00:00Z"),
        ]
        .join("\n---\n"),
    ));
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(rules.parents[0].rules.len(), 1);
    assert_eq!(winner(&decide(rules, "GET", "/", &[])), "mirrored/0");
    // A rejected labelled route is not planned, and says why.
    let p = plan_of(&store_with(
        &[
            gw(&listeners),
            rejected("mirrored", true, "2025-01-01T00:00:00Z"),
        ]
        .join("\n---\n"),
    ));
    assert!(p.endpoints.is_empty());
    assert_eq!(
        reasons(&p),
        [("default/mirrored".to_owned(), "parent_rejected")]
    );
}

#[test]
fn allowed_routes_namespaces_and_kinds() {
    let attached = |listener_extra: &str, namespace_doc: Option<&str>| {
        let mut docs = vec![
            gw(&format!("{LISTENER_HTTP}{listener_extra}")),
            labelled_route(),
        ];
        docs.extend(namespace_doc.map(str::to_owned));
        let p = plan_of(&store_with(&docs.join("\n---\n")));
        (!p.endpoints.is_empty(), reasons(&p))
    };
    let not_allowed = vec![(
        "default/mirrored".to_owned(),
        ProblemReason::NotAllowedByListeners.as_str(),
    )];
    // Same (the default): the Gateway is in infra, the route in default.
    assert_eq!(attached("", None), (false, not_allowed.clone()));
    assert_eq!(
        attached(
            "    allowedRoutes:\n      namespaces:\n        from: Same\n",
            None
        ),
        (false, not_allowed.clone())
    );
    assert_eq!(attached(ALL_NS, None), (true, vec![]));
    let selector = "    allowedRoutes:\n      namespaces:\n        from: Selector\n        selector:\n          matchLabels:\n            shared-gateway-access: \"true\"\n";
    let ns = |labels: &str| {
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n  labels:\n{labels}")
    };
    assert_eq!(
        attached(selector, Some(&ns("    shared-gateway-access: \"true\"\n"))),
        (true, vec![])
    );
    assert_eq!(
        attached(selector, Some(&ns("    other: x\n"))),
        (false, not_allowed.clone())
    );
    assert_eq!(attached(selector, None), (false, not_allowed.clone()));
    // Every namespace carries kubernetes.io/metadata.name, even without a Namespace object.
    let by_name = "    allowedRoutes:\n      namespaces:\n        from: Selector\n        selector:\n          matchExpressions:\n          - {key: kubernetes.io/metadata.name, operator: In, values: [default]}\n";
    assert_eq!(attached(by_name, None), (true, vec![]));
    // kinds: HTTPRoute must be listed when kinds are given.
    let kinds = |k: &str| format!("{ALL_NS}      kinds:\n{k}");
    assert_eq!(
        attached(&kinds("      - kind: GRPCRoute\n"), None),
        (false, not_allowed)
    );
    assert_eq!(
        attached(
            &kinds("      - kind: HTTPRoute\n        group: gateway.networking.k8s.io\n"),
            None
        ),
        (true, vec![])
    );
}

#[test]
fn listeners_sharing_a_port_take_the_requests_of_their_hostnames() {
    // Port 80: *.example.com (the labelled route) and foo.example.com (an unlabelled route
    // to foo-v1). Requests for foo.example.com are the specific listener's: not mirrored.
    let listeners = format!(
        "  - name: wild\n    port: 80\n    protocol: HTTP\n    hostname: \"*.example.com\"\n{ALL_NS}  - name: foo\n    port: 80\n    protocol: HTTP\n    hostname: foo.example.com\n{ALL_NS}"
    );
    let mirrored = route(
        "mirrored",
        true,
        "2025-06-01T00:00:00Z",
        Some("wild"),
        "",
        TO_V1,
        MIRROR,
    );
    let plain = route(
        "plain",
        false,
        "2025-06-01T00:00:00Z",
        Some("foo"),
        "",
        TO_V1,
        "",
    );
    let p = plan_of(&store_with(
        &[gw(&listeners), mirrored, plain].join("\n---\n"),
    ));
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(rules.parents.len(), 2, "both listeners deliver to foo-v1");
    assert_eq!(
        winner(&decide(rules, "GET", "/", &[("Host", b"bar.example.com")])),
        "mirrored/0"
    );
    assert_eq!(
        winner(&decide(rules, "GET", "/", &[("Host", b"foo.example.com")])),
        "unlabelled:plain/0"
    );
}

#[test]
fn several_listeners_delivering_here_the_mirroring_one_decides() {
    // http: an unlabelled route to foo-v1; https: the labelled 42 % route. The pod cannot
    // tell which listener a request came through: shadowtap mirrors it (documented choice).
    let listeners = format!(
        "{LISTENER_HTTP}{ALL_NS}  - name: https\n    port: 443\n    protocol: HTTPS\n{ALL_NS}"
    );
    let plain = route(
        "plain",
        false,
        "2025-01-01T00:00:00Z",
        Some("http"),
        "",
        TO_V1,
        "",
    );
    let mirrored = route(
        "mirrored",
        true,
        "2025-06-01T00:00:00Z",
        Some("https"),
        "",
        TO_V1,
        MIRROR,
    );
    let p = plan_of(&store_with(
        &[gw(&listeners), plain, mirrored].join("\n---\n"),
    ));
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(rules.parents.len(), 2);
    assert_eq!(winner(&decide(rules, "GET", "/", &[])), "mirrored/0");
    // The plan says so, on the labelled route.
    assert_eq!(
        reasons(&p),
        [("default/mirrored".to_owned(), "ambiguous_parent")]
    );
}

#[test]
fn tie_break_compares_the_string_namespace_slash_name() {
    // team-a/x and team/x, same age: "team-a/x" < "team/x" as strings ('-' < '/'), while the
    // pair (namespace, name) would put team first.
    let in_ns = |ns: &str| {
        route(
            "x",
            true,
            "2025-06-01T00:00:00Z",
            None,
            "",
            "    - name: foo-v1\n      namespace: default\n      port: 8080\n",
            MIRROR,
        )
        .replace(
            "  namespace: default\n  creationTimestamp",
            &format!("  namespace: {ns}\n  creationTimestamp"),
        )
        .replace(
            "          name: foo-v2\n",
            "          name: foo-v2\n          namespace: default\n",
        )
    };
    // Granted with `group: core` on one side and `""` on the other: both mean the core group.
    let grant = |ns: &str, group: &str| {
        format!("apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\nmetadata:\n  name: from-{ns}\n  namespace: default\nspec:\n  from:\n  - group: gateway.networking.k8s.io\n    kind: HTTPRoute\n    namespace: {ns}\n  to:\n  - group: \"{group}\"\n    kind: Service\n")
    };
    let team_a = in_ns("team-a").replace(
        "    - name: foo-v1\n",
        "    - group: core\n      name: foo-v1\n",
    );
    let p = plan_of(&store_with(
        &[
            gw(&format!("{LISTENER_HTTP}{ALL_NS}")),
            in_ns("team"),
            team_a,
            grant("team", "core"),
            grant("team-a", ""),
        ]
        .join("\n---\n"),
    ));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, foo_v1_a());
    match decide(rules, "GET", "/", &[]) {
        Decision::Matched { rule, .. } => assert_eq!(rule.route.to_string(), "team-a/x"),
        d => panic!("{d:?}"),
    }
}

#[test]
fn a_missing_cross_namespace_service_is_not_found_not_forbidden() {
    let r = route(
        "mirrored",
        true,
        "2025-06-01T00:00:00Z",
        None,
        "",
        TO_V1,
        &MIRROR.replace(
            "          name: foo-v2\n",
            "          name: gone\n          namespace: elsewhere\n",
        ),
    );
    let p = plan_of(&store_with(
        &[gw(&format!("{LISTENER_HTTP}{ALL_NS}")), r].join("\n---\n"),
    ));
    assert_eq!(
        reasons(&p),
        [("default/mirrored".to_owned(), "service_not_found")]
    );
}

#[test]
fn mirror_before_a_request_modifier_is_a_warning() {
    let modifier = "    - type: RequestHeaderModifier\n      requestHeaderModifier:\n        set:\n        - {name: x-env, value: prod}\n";
    let listeners = format!("{LISTENER_HTTP}{ALL_NS}");
    // Mirror first, modifier second: unfaithful, reported, still mirrored.
    let before = route(
        "mirrored",
        true,
        "2025-06-01T00:00:00Z",
        None,
        "",
        TO_V1,
        &format!("{MIRROR}{modifier}"),
    );
    let p = plan_of(&store_with(&[gw(&listeners), before].join("\n---\n")));
    assert_eq!(
        reasons(&p),
        [("default/mirrored".to_owned(), "mirror_before_modifier")]
    );
    assert_eq!(p.problems[0].field, "spec.rules[0].filters[0]");
    assert_eq!(p.endpoints[0].max_fraction.to_string(), "42%");
    // Modifier first: faithful (the mirror gets the modified request, as the pod does).
    let after = route(
        "mirrored",
        true,
        "2025-06-01T00:00:00Z",
        None,
        "",
        TO_V1,
        &format!(
            "    filters:\n{modifier}{}",
            MIRROR.trim_start_matches("    filters:\n")
        ),
    );
    let p = plan_of(&store_with(&[gw(&listeners), after].join("\n---\n")));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
}

#[test]
fn framing_headers_cannot_be_removed_from_replays() {
    let r = labelled_route().replace(
        "  labels:\n",
        "  annotations:\n    shadowtap.dev/mirror-remove-headers: \"Authorization, Content-Length, Transfer-Encoding, Host\"\n  labels:\n",
    );
    let p = plan_of(&store_with(
        &[gw(&format!("{LISTENER_HTTP}{ALL_NS}")), r].join("\n---\n"),
    ));
    assert_eq!(
        reasons(&p),
        [("default/mirrored".to_owned(), "remove_header_framing")]
    );
    let m = &rules_at(&p, foo_v1_a()).parents[0].rules[0].mirrors[0];
    assert_eq!(m.options.remove_headers, ["authorization"]);
}
