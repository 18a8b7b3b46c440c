//! End to end: GAMMA consumer routes. The client's namespace, from its pod IP, decides
//! whether the consumer routes of its namespace or the Service's producer routes apply to a
//! request at the captured pod.

use std::{net::SocketAddr, time::Duration};

use shadowtap_harness::{
    http_server::send_requests,
    require_privileges,
    scenario::{route_yaml, shadowtap_binary, Mirror, Rate, Scenario, PORT},
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
