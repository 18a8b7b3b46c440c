//! End to end: every metric the monitoring component's alerts and dashboard read
//! (`deploy/components/monitoring`, parsed with `promql-parser`) is a series a running agent
//! exports once it has mirrored traffic and seen a broken route.

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use shadowtap_harness::{
    http_server::concurrent_lockstep,
    monitoring::{component_queries, exposition_sample_names},
    require_privileges,
    scenario::{
        metric_sum, route_yaml, route_yaml_for, shadowtap_binary, Mirror, Rate, Scenario, PORT,
    },
    wait,
};

/// Series Prometheus writes itself for every target, not the agent.
const SCRAPE_SERIES: &[&str] = &["up"];

#[test]
fn every_alert_and_dashboard_query_reads_series_the_agent_exports() {
    if !require_privileges("every_alert_and_dashboard_query_reads_series_the_agent_exports") {
        return;
    }
    let queries = component_queries().unwrap_or_else(|e| panic!("the monitoring component: {e}"));
    let read: BTreeSet<String> = queries
        .iter()
        .flat_map(|q| q.metrics.iter().cloned())
        .filter(|m| !SCRAPE_SERIES.contains(&m.as_str()))
        .collect();
    assert!(
        read.len() >= 10,
        "the queries read only {read:?}: the reader misses some"
    );

    // One route mirrors every request to foo-v2 and half of them to foo-v3 (responses,
    // latencies, not_sampled); another mirrors to a Service that does not exist (a problem).
    let mirrors = [
        Mirror {
            service: "foo-v2",
            rate: Rate::Unset,
        },
        Mirror {
            service: "foo-v3",
            rate: Rate::Percent(50),
        },
    ];
    let mut s = Scenario::new(&route_yaml("foo-route", true, None, &mirrors));
    s.write_routes(
        "broken.yaml",
        &route_yaml_for(
            "broken-route",
            "foo-v2",
            true,
            None,
            &[Mirror {
                service: "foo-missing",
                rate: Rate::Unset,
            }],
        ),
    );
    s.start_agent(&shadowtap_binary(), &[]);
    let (connections, per_connection) = (4, 50);
    let n = (connections * per_connection) as f64;
    concurrent_lockstep(
        &s.topo.client.ns,
        SocketAddr::new(s.v1_ip(false), PORT),
        connections,
        per_connection,
        |c, i| format!("GET /m/{c}/{i} HTTP/1.1\r\nHost: foo\r\n\r\n").into_bytes(),
    );

    // Wait until the rule won every request, every mirror was delivered and the broken
    // route's problem is reported: then every series the queries read exists.
    let text = wait::until(
        "the per-route series, the deliveries and the route problem",
        Duration::from_secs(30),
        || {
            let m = s.metrics();
            let won = metric_sum(&m, "shadowtap_route_requests_total", &[], &[]);
            let sent = metric_sum(
                &m,
                "shadowtap_mirror_requests_total",
                &["outcome=\"sent\""],
                &[],
            );
            let delivered = (s.v2.count() + s.v3.count()) as f64;
            let problem = metric_sum(&m, "shadowtap_plan_problems", &["broken-route"], &[]);
            (won == n && sent == delivered && s.v2.count() as f64 == n && problem > 0.0)
                .then_some(m)
        },
    );
    let exported = exposition_sample_names(&text);
    let missing: Vec<&String> = read.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the monitoring component reads metrics the running agent does not export: \
         {missing:?}\nqueries:\n{}\nexported: {exported:?}",
        queries
            .iter()
            .filter(|q| q.metrics.iter().any(|m| missing.contains(&m)))
            .map(|q| format!("  {}: {}", q.source, q.expr))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
