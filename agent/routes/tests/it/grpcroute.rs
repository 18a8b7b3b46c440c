//! GRPCRoute: matching gRPC calls, its own precedence, validation, its RequestMirror
//! filter, cross serving with HTTPRoutes on one parent, listener kinds, the plan's
//! rendering, and the mirror Service port's `appProtocol`.

use shadowtap_routes::{
    render_json, render_table, Fraction, Plan, ProblemReason, ReplayProtocol, RouteKind,
};

use crate::util::{
    base_objects, decide, decide_h2, foo_v1_a, plan_of, route, rule, rules_at, store_from,
    store_with, winner, GATEWAY,
};

/// The base objects with the mirror Service foo-v2's port declaring `appProtocol`, and
/// `docs`.
fn store_with_mirror_protocol(app_protocol: &str, docs: &str) -> shadowtap_routes::Store {
    let port = "  clusterIP: 10.96.0.102\n  ports:\n  - name: http\n";
    let base = base_objects();
    assert!(base.contains(port), "the base objects changed");
    let base = base.replacen(port, &format!("{port}    appProtocol: {app_protocol}\n"), 1);
    store_from(&format!("{base}\n---\n{docs}"))
}

/// A GRPCRoute YAML document, like [`route`]: `parent` is `gw` (Gateway default/gw) or
/// `svc` (Service foo-v1).
fn grpc_route(
    name: &str,
    labelled: bool,
    created: Option<&str>,
    parent: &str,
    hostnames: &[&str],
    rules: &str,
) -> String {
    route(name, labelled, created, parent, hostnames, rules).replacen(
        "kind: HTTPRoute",
        "kind: GRPCRoute",
        1,
    )
}

/// A GRPCRoute `method` match entry (YAML list item, indented 4).
fn method(ty: &str, service: Option<&str>, name: Option<&str>) -> String {
    let mut s = format!("    - method:\n        type: {ty}\n");
    if let Some(v) = service {
        s.push_str(&format!("        service: '{v}'\n"));
    }
    if let Some(v) = name {
        s.push_str(&format!("        method: '{v}'\n"));
    }
    s
}

fn plan_docs(docs: &[String]) -> Plan {
    let mut all = vec![GATEWAY.to_owned()];
    all.extend(docs.iter().cloned());
    plan_of(&store_with(&all.join("\n---\n")))
}

fn reasons(p: &Plan) -> Vec<(String, String, &'static str)> {
    p.problems
        .iter()
        .map(|x| {
            (
                format!("{} {}", x.kind.as_kind(), x.route.name),
                x.field.clone(),
                x.reason.as_str(),
            )
        })
        .collect()
}

/// (path, headers, expected winner) of gRPC calls over HTTP/2.
type Call<'a> = (&'a str, &'a [(&'a str, &'a [u8])], &'a str);

fn check_calls(docs: &[String], calls: &[Call<'_>]) {
    let p = plan_docs(docs);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, foo_v1_a());
    for (path, headers, want) in calls {
        let d = decide_h2(rules, "POST", path, headers);
        assert_eq!(winner(&d), *want, "POST {path} {headers:?}");
    }
}

#[test]
fn only_grpc_calls_over_http2_match() {
    let p = plan_docs(&[grpc_route("g", true, None, "gw", &[], &rule("", true))]);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, foo_v1_a());
    // No matches: every gRPC call.
    assert_eq!(
        winner(&decide_h2(rules, "POST", "/pkg.Svc/Get", &[])),
        "grpcroute:g/0"
    );
    // The same request line over HTTP/1 never matches a GRPCRoute.
    assert_eq!(winner(&decide(rules, "POST", "/pkg.Svc/Get", &[])), "none");
    // HTTP/2 requests that are not gRPC calls.
    for (m, path) in [
        ("GET", "/pkg.Svc/Get"),
        ("POST", "/"),
        ("POST", "/pkg.Svc"),
        ("POST", "/a/b/c"),
        ("POST", "/pkg.Svc/Get?x=1"),
    ] {
        assert_eq!(
            winner(&decide_h2(rules, m, path, &[])),
            "none",
            "{m} {path}"
        );
    }
}

#[test]
fn service_and_method_matches() {
    let rules = [
        rule(&method("Exact", Some("pkg.Svc"), Some("Get")), true),
        rule(&method("Exact", Some("pkg.Other"), None), true),
        rule(&method("Exact", None, Some("Put")), true),
        rule(
            &method("RegularExpression", Some("pkg\\.v[0-9]+\\..*"), None),
            true,
        ),
    ]
    .concat();
    check_calls(
        &[grpc_route("g", true, None, "gw", &[], &rules)],
        &[
            ("/pkg.Svc/Get", &[], "grpcroute:g/0"),
            ("/pkg.Svc/List", &[], "none"),
            ("/pkg.svc/Get", &[], "none"), // case-sensitive
            ("/pkg.Other/Anything", &[], "grpcroute:g/1"),
            ("/any.Service/Put", &[], "grpcroute:g/2"),
            ("/pkg.v2.Svc/Get", &[], "grpcroute:g/3"),
            ("/xpkg.v2.Svc/Get", &[], "none"), // the expression matches the whole service
        ],
    );
}

#[test]
fn precedence_follows_the_grpcroute_order() {
    // Each call is matched by several rules; the spec's order decides: hostname, then the
    // service, then the method, then header matches, then the oldest route, namespace/name
    // and rule order.
    let hdr = "      headers:\n      - name: x-env\n        value: canary\n";
    let docs = [
        grpc_route(
            "a-old-any",
            true,
            Some("2024-01-01T00:00:00Z"),
            "gw",
            &[],
            &[
                rule("", true),
                rule(
                    &method("RegularExpression", Some("pkg\\..*"), Some("Get")),
                    true,
                ),
            ]
            .concat(),
        ),
        grpc_route(
            "b-new-exact",
            true,
            Some("2025-01-01T00:00:00Z"),
            "gw",
            &[],
            &[
                rule(&method("Exact", Some("pkg.Svc"), None), true),
                rule(&method("Exact", Some("pkg.Svc"), Some("Get")), true),
                rule(
                    &format!("{}{hdr}", method("Exact", Some("pkg.Svc"), None)),
                    true,
                ),
                rule(&method("Exact", None, Some("Get")), true),
            ]
            .concat(),
        ),
        grpc_route(
            "c-host",
            true,
            Some("2026-01-01T00:00:00Z"),
            "gw",
            &["grpc.example.com"],
            &rule("", true),
        ),
        grpc_route(
            "d-same-age",
            true,
            Some("2025-01-01T00:00:00Z"),
            "gw",
            &[],
            &rule(&method("Exact", Some("pkg.Svc"), Some("Get")), true),
        ),
    ];
    check_calls(
        &docs,
        &[
            // Exact service + method beats a service-only match, the regex, the
            // method-only match and the empty matches; d-same-age has the same key and
            // the same age: b-new-exact wins by namespace/name.
            ("/pkg.Svc/Get", &[], "grpcroute:b-new-exact/1"),
            // Service only (Exact) beats regex service + method (service first).
            ("/pkg.Svc/List", &[], "grpcroute:b-new-exact/0"),
            // More header matches at equal service and method.
            (
                "/pkg.Svc/List",
                &[("x-env", b"canary")],
                "grpcroute:b-new-exact/2",
            ),
            // Regex service + Exact method beats Exact method alone.
            ("/pkg.Other/Get", &[], "grpcroute:a-old-any/1"),
            // Method only beats nothing.
            ("/other.Svc/Get", &[], "grpcroute:b-new-exact/3"),
            // Empty matches: every other call.
            ("/other.Svc/List", &[], "grpcroute:a-old-any/0"),
            // A matching hostname beats everything after it.
            (
                "/pkg.Svc/Get",
                &[("host", b"grpc.example.com")],
                "grpcroute:c-host/0",
            ),
        ],
    );
}

#[test]
fn invalid_matches_disable_their_rule_only() {
    let docs = [grpc_route(
        "g",
        true,
        None,
        "gw",
        &[],
        &[
            rule(&method("Exact", None, None), true),
            rule(&method("Exact", Some("pkg..Svc"), None), true),
            rule(&method("RegularExpression", Some("(unclosed"), None), true),
            rule(&method("Exact", Some(""), Some("")), true),
            rule(
                "    - headers:\n      - name: \"bad name\"\n        value: x\n",
                true,
            ),
            rule(&method("Exact", Some("pkg.Svc"), Some("Get")), true),
        ]
        .concat(),
    )];
    let p = plan_docs(&docs);
    let g = |s: &str| ("GRPCRoute g".to_owned(), s.to_owned());
    let want = vec![
        (g("spec.rules[0].matches[0].method"), "invalid_method_match"),
        (
            g("spec.rules[1].matches[0].method.service"),
            "invalid_method_match",
        ),
        (
            g("spec.rules[2].matches[0].method.service"),
            "invalid_regex",
        ),
        (g("spec.rules[3].matches[0].method"), "invalid_method_match"),
        (
            g("spec.rules[4].matches[0].headers[0].name"),
            "invalid_match",
        ),
    ];
    let got: Vec<_> = reasons(&p)
        .into_iter()
        .map(|(r, f, reason)| ((r, f), reason))
        .collect();
    assert_eq!(got, want);
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(
        winner(&decide_h2(rules, "POST", "/pkg.Svc/Get", &[])),
        "grpcroute:g/5"
    );
    assert_eq!(winner(&decide_h2(rules, "POST", "/x.Y/Z", &[])), "none");
}

#[test]
fn request_mirror_percent_and_fraction_as_httproute() {
    let mirror = |extra: &str| {
        format!(
            "  - backendRefs:\n    - name: foo-v1\n      port: 8080\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef:\n          name: foo-v2\n          port: 8080\n{extra}"
        )
    };
    let p = plan_docs(&[
        grpc_route(
            "exact",
            true,
            None,
            "gw",
            &["a.example.com"],
            &mirror("        fraction:\n          numerator: 1\n          denominator: 1000\n"),
        ),
        grpc_route(
            "both",
            true,
            None,
            "gw",
            &["b.example.com"],
            &mirror("        percent: 5\n        fraction:\n          numerator: 1\n"),
        ),
        grpc_route(
            "range",
            true,
            None,
            "gw",
            &["c.example.com"],
            &mirror("        percent: 101\n"),
        ),
    ]);
    assert_eq!(
        reasons(&p),
        vec![
            (
                "GRPCRoute both".to_owned(),
                "spec.rules[0].filters[0].requestMirror".to_owned(),
                "percent_and_fraction"
            ),
            (
                "GRPCRoute range".to_owned(),
                "spec.rules[0].filters[0].requestMirror.percent".to_owned(),
                "percent_out_of_range"
            ),
        ]
    );
    let rules = rules_at(&p, foo_v1_a());
    let d = decide_h2(rules, "POST", "/p.S/M", &[("host", b"a.example.com")]);
    assert_eq!(d.mirrors().len(), 1);
    assert_eq!(d.mirrors()[0].fraction, Fraction::new(1, 1000).unwrap());
    assert_eq!(d.mirrors()[0].backend.name, "foo-v2");
    // The invalid mirrors are not configured; their rules still win their calls.
    let d = decide_h2(rules, "POST", "/p.S/M", &[("host", b"b.example.com")]);
    assert_eq!(winner(&d), "grpcroute:both/0");
    assert!(d.mirrors().is_empty());
}

#[test]
fn cross_serving_keeps_the_older_route_of_a_shared_hostname() {
    let http = |name: &str, created: &str, hosts: &[&str]| {
        route(name, true, Some(created), "gw", hosts, &rule("", true))
    };
    let grpc = |name: &str, created: &str, hosts: &[&str]| {
        grpc_route(name, true, Some(created), "gw", hosts, &rule("", true))
    };
    const OLD: &str = "2024-01-01T00:00:00Z";
    const NEW: &str = "2025-01-01T00:00:00Z";
    // (documents, expected problems, (h2 POST /p.S/M with host, winner)).
    type Case = (
        Vec<String>,
        Vec<&'static str>,
        Vec<(&'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        // Older HTTPRoute, newer GRPCRoute on the same host: the GRPCRoute is not attached.
        (
            vec![
                http("web", OLD, &["api.example.com"]),
                grpc("rpc", NEW, &["api.example.com"]),
            ],
            vec!["GRPCRoute rpc"],
            vec![("api.example.com", "web/0")],
        ),
        // Older GRPCRoute: the HTTPRoute is the one not attached.
        (
            vec![
                http("web", NEW, &["api.example.com"]),
                grpc("rpc", OLD, &["api.example.com"]),
            ],
            vec!["HTTPRoute web"],
            vec![("api.example.com", "grpcroute:rpc/0")],
        ),
        // A wildcard intersects an exact host; no hostnames intersect everything.
        (
            vec![
                http("web", OLD, &["*.example.com"]),
                grpc("rpc", NEW, &["api.example.com"]),
            ],
            vec!["GRPCRoute rpc"],
            vec![("api.example.com", "web/0")],
        ),
        (
            vec![
                http("web", OLD, &[]),
                grpc("rpc", NEW, &["api.example.com"]),
            ],
            vec!["GRPCRoute rpc"],
            vec![("api.example.com", "web/0")],
        ),
        // Same age: first by namespace/name.
        (
            vec![
                http("b-web", OLD, &["api.example.com"]),
                grpc("a-rpc", OLD, &["api.example.com"]),
            ],
            vec!["HTTPRoute b-web"],
            vec![("api.example.com", "grpcroute:a-rpc/0")],
        ),
        // Disjoint hostnames: both attached, each serves its own.
        (
            vec![
                http("web", OLD, &["web.example.com"]),
                grpc("rpc", NEW, &["rpc.example.com"]),
            ],
            vec![],
            vec![
                ("web.example.com", "web/0"),
                ("rpc.example.com", "grpcroute:rpc/0"),
            ],
        ),
        // The newest route loses only to the route it conflicts with: the older GRPCRoute
        // stays, so the middle HTTPRoute is detached and the newest GRPCRoute is not
        // in conflict with anything kept.
        (
            vec![
                grpc("rpc-old", OLD, &["a.example.com"]),
                http("web", NEW, &["*.example.com"]),
                grpc("rpc-new", "2026-01-01T00:00:00Z", &["b.example.com"]),
            ],
            vec!["HTTPRoute web"],
            vec![
                ("a.example.com", "grpcroute:rpc-old/0"),
                ("b.example.com", "grpcroute:rpc-new/0"),
            ],
        ),
    ];
    for (docs, want_problems, calls) in cases {
        let p = plan_docs(&docs);
        let got: Vec<String> = p
            .problems
            .iter()
            .map(|x| {
                assert_eq!(x.reason, ProblemReason::HostnameConflict, "{x}");
                assert_eq!(x.field, "spec.hostnames");
                format!("{} {}", x.kind.as_kind(), x.route.name)
            })
            .collect();
        assert_eq!(got, want_problems, "{docs:#?}");
        let rules = rules_at(&p, foo_v1_a());
        for (host, want) in calls {
            let d = decide_h2(rules, "POST", "/p.S/M", &[("host", host.as_bytes())]);
            assert_eq!(winner(&d), want, "{host} in {docs:#?}");
        }
    }
}

#[test]
fn cross_serving_is_per_listener_and_applies_to_unlabelled_routes() {
    // Two listeners: routes on different listeners never conflict.
    let gw2 = GATEWAY.replace(
        "  listeners:\n",
        "  listeners:\n  - name: grpc\n    port: 81\n    protocol: HTTP\n",
    );
    let on = |doc: String, listener: &str| {
        doc.replace(
            "  - name: gw\n",
            &format!("  - name: gw\n    sectionName: {listener}\n"),
        )
    };
    let docs = [
        gw2,
        on(
            route(
                "web",
                true,
                Some("2024-01-01T00:00:00Z"),
                "gw",
                &[],
                &rule("", true),
            ),
            "http",
        ),
        on(
            grpc_route(
                "rpc",
                true,
                Some("2025-01-01T00:00:00Z"),
                "gw",
                &[],
                &rule("", true),
            ),
            "grpc",
        ),
    ];
    let p = plan_of(&store_with(&docs.join("\n---\n")));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    // An unlabelled older HTTPRoute still takes the hostname: the labelled GRPCRoute is
    // detached and reported.
    let p = plan_docs(&[
        route(
            "web",
            false,
            Some("2024-01-01T00:00:00Z"),
            "gw",
            &[],
            &rule("", false),
        ),
        grpc_route(
            "rpc",
            true,
            Some("2025-01-01T00:00:00Z"),
            "gw",
            &[],
            &rule("", true),
        ),
    ]);
    assert_eq!(
        reasons(&p),
        vec![(
            "GRPCRoute rpc".to_owned(),
            "spec.hostnames".to_owned(),
            "hostname_conflict"
        )]
    );
    // An unlabelled GRPCRoute that loses is detached without a problem (not shadowtap's).
    let p = plan_docs(&[
        route(
            "web",
            true,
            Some("2024-01-01T00:00:00Z"),
            "gw",
            &[],
            &rule("", true),
        ),
        grpc_route(
            "rpc",
            false,
            Some("2025-01-01T00:00:00Z"),
            "gw",
            &[],
            &rule("", false),
        ),
    ]);
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, foo_v1_a());
    assert_eq!(
        winner(&decide_h2(rules, "POST", "/p.S/M", &[])),
        "web/0",
        "the detached GRPCRoute competes nowhere"
    );
}

#[test]
fn service_parents_conflict_whatever_the_hostnames() {
    let p = plan_of(&store_with(
        &[
            route(
                "web",
                true,
                Some("2024-01-01T00:00:00Z"),
                "svc",
                &["web.example.com"],
                &rule("", true),
            ),
            grpc_route(
                "rpc",
                true,
                Some("2025-01-01T00:00:00Z"),
                "svc",
                &["rpc.example.com"],
                &rule("", true),
            ),
        ]
        .join("\n---\n"),
    ));
    assert_eq!(
        reasons(&p),
        vec![(
            "GRPCRoute rpc".to_owned(),
            "spec.hostnames".to_owned(),
            "hostname_conflict"
        )]
    );
}

#[test]
fn a_grpcroute_alone_on_a_service_parent_mirrors_grpc_calls() {
    let p = plan_of(&store_with(&grpc_route(
        "rpc",
        true,
        None,
        "svc",
        &[],
        &rule(&method("Exact", Some("pkg.Svc"), Some("Get")), true),
    )));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    let rules = rules_at(&p, foo_v1_a());
    let d = decide_h2(rules, "POST", "/pkg.Svc/Get", &[("host", b"foo-v1:8080")]);
    assert_eq!(winner(&d), "grpcroute:rpc/0");
    assert_eq!(d.mirrors().len(), 1);
    assert_eq!(
        winner(&decide_h2(rules, "POST", "/pkg.Svc/List", &[])),
        "none"
    );
}

#[test]
fn listener_allowed_kinds_name_grpcroute() {
    let gw = |kinds: &str| {
        GATEWAY.replace(
            "    protocol: HTTP\n",
            &format!("    protocol: HTTP\n    allowedRoutes:\n      kinds:\n{kinds}"),
        )
    };
    let g = grpc_route("rpc", true, None, "gw", &[], &rule("", true));
    let only_http = gw("      - kind: HTTPRoute\n");
    let p = plan_of(&store_with(&format!("{only_http}\n---\n{g}")));
    assert_eq!(
        reasons(&p),
        vec![(
            "GRPCRoute rpc".to_owned(),
            "spec.parentRefs[0]".to_owned(),
            "not_allowed_by_listeners"
        )]
    );
    let with_grpc = gw("      - kind: GRPCRoute\n");
    let p = plan_of(&store_with(&format!("{with_grpc}\n---\n{g}")));
    assert!(p.problems.is_empty(), "{:?}", p.problems);
}

#[test]
fn the_mirror_service_ports_app_protocol_sets_the_replay_protocol() {
    for (proto, want) in [
        ("kubernetes.io/h2c", ReplayProtocol::H2cOnly),
        ("grpc", ReplayProtocol::H2cOnly),
        ("http", ReplayProtocol::AsCaptured),
        ("kubernetes.io/ws", ReplayProtocol::AsCaptured),
    ] {
        let docs = grpc_route("rpc", true, None, "svc", &[], &rule("", true));
        let p = plan_of(&store_with_mirror_protocol(proto, &docs));
        let rules = rules_at(&p, foo_v1_a());
        let d = decide_h2(rules, "POST", "/p.S/M", &[]);
        assert_eq!(d.mirrors()[0].protocol, want, "{proto}");
    }
    // No appProtocol (the base foo-v2): as captured.
    let p = plan_of(&store_with(&grpc_route(
        "rpc",
        true,
        None,
        "svc",
        &[],
        &rule("", true),
    )));
    let d = decide_h2(rules_at(&p, foo_v1_a()), "POST", "/p.S/M", &[]);
    assert_eq!(d.mirrors()[0].protocol, ReplayProtocol::AsCaptured);
}

#[test]
fn plan_renders_grpcroute_rules_and_kinds() {
    let docs = format!(
        "{}\n---\n{}",
        grpc_route(
            "rpc",
            true,
            None,
            "svc",
            &[],
            &[
                rule(&method("Exact", Some("pkg.Svc"), Some("Get")), true),
                rule(
                    &format!(
                        "{}      headers:\n      - name: x-env\n        type: RegularExpression\n        value: \"can.*\"\n",
                        method("RegularExpression", Some("pkg\\..*"), None)
                    ),
                    false
                ),
            ]
            .concat(),
        ),
        grpc_route(
            "bad",
            true,
            None,
            "svc",
            &[],
            &rule(&method("Exact", None, None), true)
        ),
    );
    let p = plan_of(&store_with_mirror_protocol("grpc", &docs));
    let table = render_table(&p, &p.problems);
    assert!(
        table.contains("grpcroute:default/rpc rule 0 [labelled, delivers here, producer] hosts=* match=grpc =pkg.Svc/=Get wins=itself"),
        "{table}"
    );
    assert!(
        table.contains("match=grpc ~pkg\\..*/* [x-env~can.*] wins=?"),
        "{table}"
    );
    assert!(table.contains("replay h2c"), "{table}");
    assert!(
        table.contains(
            "GRPCRoute default/bad spec.rules[0].matches[0].method: invalid_method_match"
        ),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&p, &p.problems).unwrap()).unwrap();
    let set = json["route_sets"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    let rule0 = &set["parents"][0]["rules"][0];
    assert_eq!(rule0["id"]["kind"], "GRPCRoute");
    assert_eq!(rule0["matches"][0]["service"]["value"], "pkg.Svc");
    assert_eq!(rule0["mirrors"][0]["protocol"], "h2c_only");
    assert_eq!(json["problems"][0]["kind"], "GRPCRoute");
    // The route label of a GRPCRoute never equals an HTTPRoute's of the same name.
    assert_eq!(
        RouteKind::Grpc.route_label(&p.problems[0].route),
        "grpcroute:default/bad"
    );
}
