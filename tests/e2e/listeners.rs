//! End to end: precedence is decided per Gateway listener. The upstream HTTP→HTTPS redirect
//! guide's set-up — an older route redirecting every request on the `http` listener, a
//! labelled route mirroring 42 % on the `https` listener, same hostname, default match —
//! mirrors 42 % of the requests foo-v1 receives: the redirect never delivers to foo-v1, so it
//! cannot win them.

use std::{net::SocketAddr, time::Duration};

use shadowtap_harness::{
    http_server::concurrent_lockstep,
    require_privileges,
    scenario::{metric_value, shadowtap_binary, Scenario, PORT},
    wait,
};

/// The guide's Gateway: listeners http (80) and https (443).
const GATEWAY: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: redirect-gateway
  namespace: default
spec:
  gatewayClassName: foo-lb
  listeners:
  - name: http
    protocol: HTTP
    port: 80
  - name: https
    protocol: HTTPS
    port: 443
    tls:
      mode: Terminate
      certificateRefs:
      - name: redirect-gateway
";

/// The guide's redirect route on `http`, older than the mirroring route (it would win every
/// tie if both listeners were one parent).
const REDIRECT: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: http-filter-redirect
  namespace: default
  creationTimestamp: \"2025-01-01T00:00:00Z\"
spec:
  parentRefs:
  - name: redirect-gateway
    sectionName: http
  hostnames:
  - redirect.example
  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect:
        scheme: https
        statusCode: 301
";

/// The guide's HTTPS route, labelled, serving from foo-v1 and mirroring 42 % to foo-v2.
fn https_route() -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: https-route
  namespace: default
  creationTimestamp: \"2025-06-01T00:00:00Z\"
  labels:
    shadowtap.dev/mirror: enabled
spec:
  parentRefs:
  - name: redirect-gateway
    sectionName: https
  hostnames:
  - redirect.example
  rules:
  - backendRefs:
    - name: foo-v1
      port: {PORT}
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef:
          name: foo-v2
          port: {PORT}
        percent: 42
"
    )
}

#[test]
fn redirect_guide_mirrors_42_percent_of_https_requests() {
    if !require_privileges("redirect_guide_mirrors_42_percent_of_https_requests") {
        return;
    }
    let mut s = Scenario::new(&https_route());
    s.write_routes("gateway.yaml", GATEWAY);
    s.write_routes("redirect.yaml", REDIRECT);
    s.start_agent(&shadowtap_binary(), &[]);
    // What the Gateway's https listener delivers to foo-v1: requests for redirect.example,
    // pooled on 10 keep-alive connections.
    let v1 = SocketAddr::new(s.v1_ip(false), PORT);
    let (connections, per_connection) = (10, 100);
    concurrent_lockstep(
        &s.topo.client.ns,
        v1,
        connections,
        per_connection,
        |c, i| {
            format!("GET /guide/{c}/{i} HTTP/1.1\r\nHost: redirect.example\r\n\r\n").into_bytes()
        },
    );
    let n = (connections * per_connection) as u64;
    assert_eq!(s.v1_count(), n);
    wait::until(
        "the agent to decode every request and send every mirror",
        Duration::from_secs(30),
        || {
            let m = s.metrics();
            let decoded = metric_value(
                &m,
                "shadowtap_reconstruct_requests_total{outcome=\"emitted\"}",
            ) as u64;
            let submitted =
                metric_value(&m, "shadowtap_mirror_draws_total{outcome=\"submitted\"}") as u64;
            (decoded == n && s.v2.count() == submitted).then_some(())
        },
    );
    let m = s.metrics();
    assert_eq!(
        metric_value(
            &m,
            "shadowtap_requests_total{outcome=\"matched_with_mirrors\"}"
        ) as u64,
        n,
        "every request is won by the https route"
    );
    let got = s.v2.count();
    let (p, nf) = (0.42, n as f64);
    let sigma = (nf * p * (1.0 - p)).sqrt();
    assert!(
        (got as f64 - nf * p).abs() <= 3.0 * sigma,
        "mirrored {got} of {n}, expected {:.1} ± 3σ (σ = {sigma:.1})",
        nf * p
    );
}
