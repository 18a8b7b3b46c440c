//! End to end: GAMMA routes. The client's namespace, from its pod IP, decides whether the
//! consumer routes of its namespace or the Service's producer routes apply to a request at
//! the captured pod; a Service parentRef's port decides which requests at the pod a route
//! governs (those reaching the targetPort that Service port maps to).

use std::{net::SocketAddr, time::Duration};

use shadowtap_harness::{
    http_server::{send_requests, RecordingServer},
    require_privileges,
    scenario::{route_yaml, shadowtap_binary, Mirror, Rate, Scenario, NODE, PORT},
    wait,
};

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: foo-v1.default\r\n\r\n").into_bytes()
}

/// The consumer route of namespace `web` for Service default/foo-v1: everything to foo-v1,
/// mirrored to foo-v3 (no ReferenceGrant: mesh routes need none).
fn consumer_route() -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web-consumer\n  namespace: web\n  labels:\n    shadowtap.dev/mirror: enabled\nspec:\n  parentRefs:\n  - {{group: \"\", kind: Service, name: foo-v1, namespace: default, port: {PORT}}}\n  rules:\n  - backendRefs:\n    - {{name: foo-v1, namespace: default, port: {PORT}}}\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {{name: foo-v3, namespace: default, port: {PORT}}}\n"
    )
}

/// A Pod of namespace `web` (on another node) with the client's addresses.
fn client_pod(s: &Scenario, host_network: bool) -> String {
    let c = &s.topo.client;
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: web-client, namespace: web}}\nspec:\n  nodeName: node-b\n  hostNetwork: {host_network}\n  containers: [{{name: curl, image: example.invalid/curl:1}}]\nstatus:\n  phase: Running\n  podIP: {}\n  podIPs: [{{ip: \"{}\"}}, {{ip: \"{}\"}}]\n",
        c.ip4, c.ip4, c.ip6
    )
}

/// Sends 5 requests over IPv4 and 5 over IPv6 from the client to foo-v1 and waits until the
/// agent decoded them and both mirror backends together received them.
fn send_ten(s: &Scenario, v2_before: u64, v3_before: u64) {
    for v6 in [false, true] {
        let v1 = SocketAddr::new(s.v1_ip(v6), PORT);
        send_requests(
            &s.topo.client.ns,
            v1,
            (0..5).map(|i| get(&format!("/{v6}/{i}"))).collect(),
        );
    }
    wait::until("ten requests decoded", Duration::from_secs(30), || {
        (s.metric("shadowtap_reconstruct_requests_total{outcome=\"emitted\"}") as u64 == 10)
            .then_some(())
    });
    wait::until("ten mirrors delivered", Duration::from_secs(30), || {
        (s.v2.count() + s.v3.count() == v2_before + v3_before + 10).then_some(())
    });
}

#[test]
fn consumer_routes_apply_to_their_namespace_clients_and_others_follow_the_producer() {
    if !require_privileges(
        "consumer_routes_apply_to_their_namespace_clients_and_others_follow_the_producer",
    ) {
        return;
    }
    // The producer route (namespace default) mirrors everything to foo-v2.
    let producer = route_yaml(
        "foo-route",
        true,
        None,
        &[Mirror {
            service: "foo-v2",
            rate: Rate::Unset,
        }],
    );
    let mut s = Scenario::new(&producer);
    s.write_routes("consumer.yaml", &consumer_route());

    // The client is a pod of `web`: its requests follow web's consumer route (foo-v3).
    s.write_routes("client.yaml", &client_pod(&s, false));
    s.start_agent(&shadowtap_binary(), &[]);
    send_ten(&s, 0, 0);
    assert_eq!((s.v2.count(), s.v3.count()), (0, 10));
    assert_eq!(
        s.metric("shadowtap_requests_client_namespace_unknown_total"),
        0.0
    );
    s.stop_agent();

    // The same address as a host-network pod of `web`: the IP does not tell the namespace.
    // The requests follow the producer route (foo-v2) and are counted.
    s.write_routes("client.yaml", &client_pod(&s, true));
    s.start_agent(&shadowtap_binary(), &[]);
    send_ten(&s, 0, 10);
    assert_eq!((s.v2.count(), s.v3.count()), (10, 10));
    assert_eq!(
        s.metric("shadowtap_requests_client_namespace_unknown_total"),
        10.0
    );
    s.stop_agent();

    // No pod of `web` has the address: a client of another namespace, producer route, not
    // counted as unknown.
    s.write_routes("client.yaml", "");
    s.start_agent(&shadowtap_binary(), &[]);
    send_ten(&s, 10, 10);
    assert_eq!((s.v2.count(), s.v3.count()), (20, 10));
    assert_eq!(
        s.metric("shadowtap_requests_client_namespace_unknown_total"),
        0.0
    );
}

/// The second port foo-v1's captured pod serves (besides [`PORT`]).
const ADMIN_PORT: u16 = 9090;

/// Service default/foo selecting foo-v1's pods: port 80 → the container port `http`
/// ([`PORT`]), port 9090 → 9090; its EndpointSlice lists the captured pod at both.
fn two_port_service(s: &Scenario) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: foo, namespace: default}}\nspec:\n  selector: {{app: foo-v1}}\n  ports:\n  - {{name: http, port: 80, targetPort: http}}\n  - {{name: admin, port: {ADMIN_PORT}, targetPort: {ADMIN_PORT}}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: foo-ipv4\n  namespace: default\n  labels: {{kubernetes.io/service-name: foo}}\naddressType: IPv4\nports:\n- {{name: http, port: {PORT}, protocol: TCP}}\n- {{name: admin, port: {ADMIN_PORT}, protocol: TCP}}\nendpoints:\n- addresses: [\"{}\"]\n  conditions: {{ready: true, serving: true, terminating: false}}\n  nodeName: {NODE}\n  targetRef: {{kind: Pod, namespace: default, name: foo-v1-a}}\n",
        s.topo.pod.ip4
    )
}

/// A labelled route on Service default/foo at `port`, matching the path prefix `prefix`,
/// sending to foo at `port` and mirroring 100 % to `mirror`.
fn port_route(name: &str, port: u16, prefix: &str, mirror: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: default\n  labels:\n    shadowtap.dev/mirror: enabled\nspec:\n  parentRefs:\n  - {{group: \"\", kind: Service, name: foo, port: {port}}}\n  rules:\n  - matches:\n    - path: {{type: PathPrefix, value: {prefix}}}\n    backendRefs:\n    - {{name: foo, port: {port}}}\n    filters:\n    - type: RequestMirror\n      requestMirror:\n        backendRef: {{name: {mirror}, port: {PORT}}}\n"
    )
}

/// Service foo's port 80 reaches the pod at 8080, its port 9090 at 9090. The route on port
/// 80 (every path, mirrored to foo-v2) decides what reaches 8080, the route on port 9090
/// (`/admin`, mirrored to foo-v3) what reaches 9090: `/admin/x` sent to 8080 is the port-80
/// route's, and `/x` sent to 9090 matches no rule there and is counted `no_rule`.
#[test]
fn a_service_parent_port_governs_only_requests_reaching_its_target_port() {
    if !require_privileges("a_service_parent_port_governs_only_requests_reaching_its_target_port") {
        return;
    }
    let mut s = Scenario::new(&port_route("web", 80, "/", "foo-v2"));
    let admin = RecordingServer::start(
        &s.topo.pod.ns,
        SocketAddr::new(s.topo.pod.ip4.into(), ADMIN_PORT),
    );
    s.write_routes("foo.yaml", &two_port_service(&s));
    s.write_routes(
        "admin.yaml",
        &port_route("admin", ADMIN_PORT, "/admin", "foo-v3"),
    );
    s.start_agent(&shadowtap_binary(), &[]);

    let ip = s.v1_ip(false);
    for (port, path) in [
        (PORT, "/x"),
        (PORT, "/admin/x"),
        (ADMIN_PORT, "/admin/x"),
        (ADMIN_PORT, "/x"),
    ] {
        send_requests(
            &s.topo.client.ns,
            SocketAddr::new(ip, port),
            vec![get(path)],
        );
    }
    wait::until("four requests decoded", Duration::from_secs(30), || {
        (s.metric("shadowtap_reconstruct_requests_total{outcome=\"emitted\"}") as u64 == 4)
            .then_some(())
    });
    wait::until("three mirrors delivered", Duration::from_secs(30), || {
        (s.v2.count() + s.v3.count() == 3).then_some(())
    });
    assert_eq!(admin.count(), 2, "both requests to 9090 were served");
    let paths = |r: &RecordingServer| -> Vec<String> {
        r.requests()
            .iter()
            .map(|raw| {
                String::from_utf8_lossy(raw)
                    .split(' ')
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let mut to_v2 = paths(&s.v2);
    to_v2.sort();
    assert_eq!(to_v2, ["/admin/x", "/x"]);
    assert_eq!(paths(&s.v3), ["/admin/x"]);
    assert_eq!(
        s.metric("shadowtap_requests_total{outcome=\"no_rule\"}"),
        1.0
    );
    assert_eq!(
        s.metric("shadowtap_requests_total{outcome=\"won_by_other_backend\"}"),
        0.0
    );
}
