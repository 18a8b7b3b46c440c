//! The opt-in selector decides whose mirrors are shadowtap's; every route still competes.

use shadowtap_routes::{plan, MirrorSelector, PlanConfig};

use crate::util::{decide, foo_v1_a, route, rule, rules_at, store_with, winner, NODE};

/// Routes `ra` (team a, `/a`) and `rb` (team b, `/b`), both with the opt-in label and a
/// mirror, and `rc` (no labels at all, `/c`) with a mirror.
fn docs() -> String {
    let team = |name: &str, team: &str, path: &str| {
        route(
            name,
            true,
            None,
            "svc",
            &[],
            &rule(&format!("    - path: {{value: {path}}}\n"), true),
        )
        .replace(
            "    shadowtap.dev/mirror: enabled\n",
            &format!("    shadowtap.dev/mirror: enabled\n    team: {team}\n"),
        )
    };
    format!(
        "{}\n---\n{}\n---\n{}",
        team("ra", "a", "/a"),
        team("rb", "b", "/b"),
        route(
            "rc",
            false,
            None,
            "svc",
            &[],
            &rule("    - path: {value: /c}\n", true)
        ),
    )
}

#[test]
fn selector_picks_whose_mirrors_are_ours() {
    let store = store_with(&docs());
    let cases = [
        (
            "shadowtap.dev/mirror=enabled",
            ["ra/0", "rb/0", "unlabelled:rc/0"],
        ),
        (
            "shadowtap.dev/mirror=enabled,team!=a",
            ["unlabelled:ra/0", "rb/0", "unlabelled:rc/0"],
        ),
        (
            "team in (a,x)",
            ["ra/0", "unlabelled:rb/0", "unlabelled:rc/0"],
        ),
        ("team notin (a)", ["unlabelled:ra/0", "rb/0", "rc/0"]),
        ("!team", ["unlabelled:ra/0", "unlabelled:rb/0", "rc/0"]),
        ("team", ["ra/0", "rb/0", "unlabelled:rc/0"]),
        ("", ["ra/0", "rb/0", "rc/0"]),
    ];
    for (selector, want) in cases {
        let cfg = PlanConfig {
            selector: MirrorSelector::parse(selector).unwrap(),
            ..PlanConfig::default()
        };
        let p = plan(&store, NODE, &cfg);
        assert!(p.problems.is_empty(), "{selector:?}: {:?}", p.problems);
        let rules = rules_at(&p, foo_v1_a());
        let got: Vec<String> = ["/a", "/b", "/c"]
            .iter()
            .map(|path| winner(&decide(rules, "GET", path, &[])))
            .collect();
        assert_eq!(got, want, "{selector:?}");
    }
}

#[test]
fn nothing_selected_captures_nothing() {
    let cfg = PlanConfig {
        selector: MirrorSelector::parse("team=nobody").unwrap(),
        ..PlanConfig::default()
    };
    assert!(plan(&store_with(&docs()), NODE, &cfg).endpoints.is_empty());
}
