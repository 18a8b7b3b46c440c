//! The Kubernetes source against a mocked API server: initial list, route added / changed /
//! label removed / deleted, endpoints replaced on the node; problems become one Event each;
//! GRPCRoutes watched like HTTPRoutes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{json, Value};
use shadowtap_routes::{
    spawn_planner, start_kube_source, KubeSourceConfig, Plan, PlanConfig, ProblemReporter,
};
use tokio::sync::{mpsc, watch};

use crate::util::fixture;

type Body = BoxBody<Bytes, std::io::Error>;
type Tx = mpsc::UnboundedSender<Result<Frame<Bytes>, std::io::Error>>;

const NODE: &str = "node-a";

#[derive(Default)]
struct Server {
    rv: u64,
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    /// (resourceVersion, plural, event type, object) of every change.
    log: Vec<(u64, String, &'static str, Value)>,
    watchers: Vec<(String, Scope, Tx)>,
    events: Vec<Value>,
    /// Resources answered with 404 (CRD not installed).
    missing: Vec<String>,
    /// `path?query` of every list and watch request, in order.
    requests: Vec<String>,
}

/// What a list or watch selects: one namespace (a namespaced path) or all, and for Pods
/// with a `spec.nodeName` field selector only this node's.
#[derive(Clone, Debug, Default, PartialEq)]
struct Scope {
    namespace: Option<String>,
    node_only: bool,
}

impl Scope {
    fn of(path: &str, query: &str) -> Self {
        let parts: Vec<&str> = path.split('/').collect();
        let namespace = parts
            .iter()
            .position(|p| *p == "namespaces")
            .filter(|i| i + 2 < parts.len())
            .map(|i| parts[i + 1].to_owned());
        Self {
            namespace,
            node_only: query.contains("fieldSelector=spec.nodeName"),
        }
    }

    fn in_namespace(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| obj["metadata"]["namespace"] == ns)
    }

    /// The event a watch of this scope sees for a change of type `ty` to `obj`: none for
    /// another namespace; `DELETED` for an object that left the selection (a Pod on another
    /// node).
    fn event(&self, ty: &'static str, obj: &Value) -> Option<&'static str> {
        if !self.in_namespace(obj) {
            None
        } else if self.node_only && !on_node(obj) {
            Some("DELETED")
        } else {
            Some(ty)
        }
    }
}

fn plural(kind: &str) -> String {
    match kind {
        "HTTPRoute" => "httproutes".into(),
        "GRPCRoute" => "grpcroutes".into(),
        "EndpointSlice" => "endpointslices".into(),
        "ReferenceGrant" => "referencegrants".into(),
        other => format!("{}s", other.to_ascii_lowercase()),
    }
}

fn on_node(obj: &Value) -> bool {
    obj["spec"]["nodeName"] == NODE
}

impl Server {
    /// Applies a change and streams the watch event to open watches.
    fn apply(&mut self, mut obj: Value, deleted: bool) {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let kind = obj["kind"].as_str().unwrap().to_owned();
        let p = plural(&kind);
        let key = (
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned(),
            obj["metadata"]["name"].as_str().unwrap().to_owned(),
        );
        let existed = self.objects.get(&p).is_some_and(|m| m.contains_key(&key));
        let map = self.objects.entry(p.clone()).or_default();
        let ty = if deleted {
            map.remove(&key);
            "DELETED"
        } else {
            map.insert(key, obj.clone());
            if existed {
                "MODIFIED"
            } else {
                "ADDED"
            }
        };
        self.log.push((self.rv, p.clone(), ty, obj.clone()));
        self.watchers.retain(|(wp, scope, tx)| {
            let Some(ty) = scope.event(ty, &obj).filter(|_| *wp == p) else {
                return !tx.is_closed();
            };
            let line = json!({"type": ty, "object": obj});
            tx.send(Ok(Frame::data(Bytes::from(format!("{line}\n")))))
                .is_ok()
        });
    }

    /// Whether a watch of `p` in `namespace` is still open (its client did not stop it).
    fn watching(&mut self, p: &str, namespace: &str) -> bool {
        self.watchers.retain(|(_, _, tx)| !tx.is_closed());
        self.watchers
            .iter()
            .any(|(wp, scope, _)| wp == p && scope.namespace.as_deref() == Some(namespace))
    }

    fn list(&self, p: &str, scope: &Scope) -> Value {
        let items: Vec<Value> = self
            .objects
            .get(p)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|o| scope.in_namespace(o) && (!scope.node_only || on_node(o)))
            .cloned()
            .collect();
        json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": self.rv.to_string()}, "items": items})
    }
}

fn full(status: StatusCode, v: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|e| match e {})
                .boxed(),
        )
        .unwrap()
}

async fn serve(
    server: Arc<Mutex<Server>>,
    mut handle: tower_test::mock::Handle<Request<kube::client::Body>, Response<Body>>,
) {
    while let Some((req, send)) = handle.next_request().await {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let p = path.rsplit('/').next().unwrap_or("").to_owned();
        if req.method() == http::Method::POST && p == "events" {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let v: Value = serde_json::from_slice(&body).unwrap();
            server.lock().unwrap().events.push(v.clone());
            send.send_response(full(StatusCode::CREATED, &v));
            continue;
        }
        if server.lock().unwrap().missing.contains(&p) {
            let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "the server could not find the requested resource", "reason": "NotFound", "code": 404});
            send.send_response(full(StatusCode::NOT_FOUND, &status));
            continue;
        }
        let scope = Scope::of(&path, &query);
        server
            .lock()
            .unwrap()
            .requests
            .push(format!("{path}?{query}"));
        if !query.contains("watch=true") {
            let list = server.lock().unwrap().list(&p, &scope);
            send.send_response(full(StatusCode::OK, &list));
            continue;
        }
        let since: u64 = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("resourceVersion="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut s = server.lock().unwrap();
            for (rv, lp, ty, obj) in &s.log {
                if *rv <= since || *lp != p {
                    continue;
                }
                if let Some(ty) = scope.event(ty, obj) {
                    let line = json!({"type": ty, "object": obj});
                    let _ = tx.send(Ok(Frame::data(Bytes::from(format!("{line}\n")))));
                }
            }
            s.watchers.push((p, scope, tx));
        }
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        let body = BodyExt::boxed(StreamBody::new(stream));
        send.send_response(Response::builder().status(200).body(body).unwrap());
    }
}

fn fixture_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("foo-route-42.yaml")).unwrap();
    yaml_serde::Deserializer::from_str(&text)
        .map(|d| serde_json::to_value(yaml_serde::Value::deserialize(d).unwrap()).unwrap())
        .collect()
}

use serde::Deserialize;

async fn wait_plan(
    plans: &mut watch::Receiver<Arc<Plan>>,
    what: &str,
    f: impl Fn(&Plan) -> bool,
) -> Arc<Plan> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = plans.borrow_and_update().clone();
        if f(&p) {
            return p;
        }
        match tokio::time::timeout_at(deadline, plans.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for {what}; last plan {p:#?}"),
        }
    }
}

fn addrs(p: &Plan) -> Vec<String> {
    p.endpoints.iter().map(|e| e.addr.to_string()).collect()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn plan_follows_the_cluster_and_problems_become_events() {
    let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let server = Arc::new(Mutex::new(Server::default()));
    let objs = fixture_objects();
    {
        let mut s = server.lock().unwrap();
        for o in &objs {
            s.apply(o.clone(), false);
        }
    }
    tokio::spawn(serve(server.clone(), handle));
    let client = kube::Client::new(svc, "default");

    let mut cfg = KubeSourceConfig::new(NODE);
    cfg.min_interval = Duration::from_millis(20);
    let mut source = start_kube_source(client.clone(), cfg);
    let initial = tokio::time::timeout(Duration::from_secs(20), source.initial())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(initial.routes.len(), 1);
    assert_eq!(initial.pods.len(), 1, "only this node's pods");
    let reporter = ProblemReporter::new(client, "shadowtap".into());
    let (mut plans, _task) = spawn_planner(
        source.stores.clone(),
        NODE.into(),
        PlanConfig::default(),
        Some(reporter),
    );

    // Initial list.
    wait_plan(&mut plans, "initial plan", |p| {
        addrs(p) == ["10.244.1.10:8080", "[fd00:10:244:1::a]:8080"]
    })
    .await;

    // A route with an invalid mirror: an Event, the good route untouched.
    let mut bad = find(&objs, "HTTPRoute", "foo-route").clone();
    bad["metadata"]["name"] = json!("bar-route");
    bad["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] = json!(150);
    server.lock().unwrap().apply(bad.clone(), false);
    wait_plan(&mut plans, "problem", |p| p.problems.len() == 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.lock().unwrap().events.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no event posted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Route changed: 42 % → 10 %.
    let mut route = find(&objs, "HTTPRoute", "foo-route").clone();
    route["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] = json!(10);
    server.lock().unwrap().apply(route.clone(), false);
    wait_plan(&mut plans, "10 %", |p| {
        p.endpoints
            .first()
            .is_some_and(|e| e.max_fraction.to_string() == "10%")
    })
    .await;

    // Label removed: nothing to capture.
    let mut unlabelled = route.clone();
    unlabelled["metadata"]["labels"] = json!({});
    server.lock().unwrap().apply(unlabelled, false);
    wait_plan(&mut plans, "label removed", |p| p.endpoints.is_empty()).await;
    server.lock().unwrap().apply(route.clone(), false);
    wait_plan(&mut plans, "label back", |p| p.endpoints.len() == 2).await;

    // Endpoints move: the node-a pod is replaced by a new one on node-a; a pod scheduled on
    // node-b never enters the store.
    {
        let mut s = server.lock().unwrap();
        let old = find(&objs, "Pod", "foo-v1-5d8f7c6b9-abcde").clone();
        s.apply(old, true);
        let mut newpod = find(&objs, "Pod", "foo-v1-5d8f7c6b9-abcde").clone();
        newpod["metadata"]["name"] = json!("foo-v1-5d8f7c6b9-new01");
        newpod["status"]["podIP"] = json!("10.244.1.11");
        newpod["status"]["podIPs"] = json!([{"ip": "10.244.1.11"}]);
        s.apply(newpod, false);
        let mut elsewhere = find(&objs, "Pod", "foo-v1-5d8f7c6b9-fghij").clone();
        elsewhere["metadata"]["name"] = json!("foo-v1-5d8f7c6b9-other");
        s.apply(elsewhere, false);
        let mut slice = find(&objs, "EndpointSlice", "foo-v1-x7k2p").clone();
        slice["endpoints"][0]["addresses"] = json!(["10.244.1.11"]);
        slice["endpoints"][0]["targetRef"]["name"] = json!("foo-v1-5d8f7c6b9-new01");
        s.apply(slice, false);
    }
    wait_plan(&mut plans, "moved endpoint", |p| {
        addrs(p) == ["10.244.1.11:8080"]
    })
    .await;

    // Route deleted.
    server.lock().unwrap().apply(route, true);
    wait_plan(&mut plans, "route deleted", |p| p.endpoints.is_empty()).await;

    // The problem was reported once, on bar-route, despite the many plan changes since.
    let events = server.lock().unwrap().events.clone();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["regarding"]["name"], "bar-route");
    assert_eq!(events[0]["regarding"]["kind"], "HTTPRoute");
    assert_eq!(events[0]["reason"], "PercentOutOfRange");
    assert_eq!(events[0]["type"], "Warning");
}

#[tokio::test]
async fn missing_crds_count_as_empty() {
    let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let server = Arc::new(Mutex::new(Server {
        missing: vec![
            "referencegrants".into(),
            "gateways".into(),
            "grpcroutes".into(),
        ],
        ..Server::default()
    }));
    {
        let mut s = server.lock().unwrap();
        for o in fixture_objects() {
            s.apply(o, false);
        }
    }
    tokio::spawn(serve(server.clone(), handle));
    let mut cfg = KubeSourceConfig::new(NODE);
    cfg.min_interval = Duration::from_millis(20);
    let mut source = start_kube_source(kube::Client::new(svc, "default"), cfg);
    let store = tokio::time::timeout(Duration::from_secs(20), source.initial())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            store.routes.len(),
            store.gateways.len(),
            store.reference_grants.len(),
            store.grpc_routes.len()
        ),
        (1, 0, 0, 0)
    );
}

/// GRPCRoutes are listed and watched like HTTPRoutes: one added, changed and deleted moves
/// the plan; a GRPCRoute's problem becomes an Event regarding the GRPCRoute.
#[tokio::test]
async fn grpcroutes_are_watched_and_their_problems_become_events() {
    let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let server = Arc::new(Mutex::new(Server::default()));
    let objs: Vec<Value> = fixture_objects()
        .into_iter()
        .filter(|o| o["kind"] != "HTTPRoute")
        .collect();
    {
        let mut s = server.lock().unwrap();
        for o in &objs {
            s.apply(o.clone(), false);
        }
    }
    tokio::spawn(serve(server.clone(), handle));
    let client = kube::Client::new(svc, "default");
    let mut cfg = KubeSourceConfig::new(NODE);
    cfg.min_interval = Duration::from_millis(20);
    let mut source = start_kube_source(client.clone(), cfg);
    let initial = tokio::time::timeout(Duration::from_secs(20), source.initial())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((initial.routes.len(), initial.grpc_routes.len()), (0, 0));
    let reporter = ProblemReporter::new(client, "shadowtap".into());
    let (mut plans, _task) = spawn_planner(
        source.stores.clone(),
        NODE.into(),
        PlanConfig::default(),
        Some(reporter),
    );
    wait_plan(&mut plans, "nothing to capture", |p| p.endpoints.is_empty()).await;

    let mut grpc = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GRPCRoute",
        "metadata": {"name": "rpc", "namespace": "default", "uid": "u-rpc",
                     "labels": {"shadowtap.dev/mirror": "enabled"}},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "foo-v1"}],
            "rules": [{
                "matches": [{"method": {"service": "pkg.Svc", "method": "Get"}}],
                "backendRefs": [{"name": "foo-v1", "port": 8080}],
                "filters": [{"type": "RequestMirror", "requestMirror": {
                    "backendRef": {"name": "foo-v2", "port": 8080},
                    "fraction": {"numerator": 1, "denominator": 8}}}]
            }]
        }
    });
    server.lock().unwrap().apply(grpc.clone(), false);
    wait_plan(&mut plans, "the GRPCRoute's endpoints", |p| {
        addrs(p) == ["10.244.1.10:8080", "[fd00:10:244:1::a]:8080"]
            && p.endpoints[0].max_fraction.to_string() == "1/8"
    })
    .await;

    // An invalid method match: the rule is disabled (nothing to capture) and an Event
    // regarding the GRPCRoute is posted.
    grpc["spec"]["rules"][0]["matches"][0]["method"] = json!({"type": "Exact"});
    server.lock().unwrap().apply(grpc.clone(), false);
    let p = wait_plan(&mut plans, "problem", |p| p.problems.len() == 1).await;
    assert!(p.endpoints.is_empty(), "{p:#?}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.lock().unwrap().events.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no event posted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = server.lock().unwrap().events.clone();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["regarding"]["kind"], "GRPCRoute");
    assert_eq!(events[0]["regarding"]["name"], "rpc");
    assert_eq!(events[0]["reason"], "InvalidMethodMatch");

    // Deleted: the plan forgets it.
    server.lock().unwrap().apply(grpc, true);
    wait_plan(&mut plans, "GRPCRoute deleted", |p| p.problems.is_empty()).await;
    assert!(source.stores.borrow().grpc_routes.is_empty());
}

/// Namespaces are watched: a listener's `allowedRoutes` Selector follows the labels of the
/// route's namespace; a route its parent's controller rejects (`Accepted=False` in its status)
/// leaves the plan.
#[tokio::test]
async fn namespace_labels_and_route_status_decide_attachment() {
    let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let server = Arc::new(Mutex::new(Server::default()));
    let objs = fixture_objects();
    let gateway = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "infra"},
        "spec": {"gatewayClassName": "test", "listeners": [{
            "name": "http", "port": 80, "protocol": "HTTP",
            "allowedRoutes": {"namespaces": {"from": "Selector",
                "selector": {"matchLabels": {"shared-gateway-access": "true"}}}}
        }]}
    });
    let mut route = find(&objs, "HTTPRoute", "foo-route").clone();
    route["spec"]["parentRefs"] = json!([{"name": "gw", "namespace": "infra"}]);
    let namespace = |labels: Value| {
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "default", "labels": labels}})
    };
    {
        let mut s = server.lock().unwrap();
        for o in &objs {
            if o["kind"] != "HTTPRoute" {
                s.apply(o.clone(), false);
            }
        }
        s.apply(gateway, false);
        s.apply(route.clone(), false);
        s.apply(
            namespace(json!({"kubernetes.io/metadata.name": "default"})),
            false,
        );
    }
    tokio::spawn(serve(server.clone(), handle));
    let mut cfg = KubeSourceConfig::new(NODE);
    cfg.min_interval = Duration::from_millis(20);
    let mut source = start_kube_source(kube::Client::new(svc, "default"), cfg);
    let initial = tokio::time::timeout(Duration::from_secs(20), source.initial())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(initial.namespaces.len(), 1);
    let (mut plans, _task) = spawn_planner(
        source.stores.clone(),
        NODE.into(),
        PlanConfig::default(),
        None,
    );
    wait_plan(&mut plans, "not allowed by the selector", |p| {
        p.endpoints.is_empty()
            && p.problems
                .iter()
                .any(|pr| pr.reason.as_str() == "not_allowed_by_listeners")
    })
    .await;

    // The namespace gets the label: the route attaches.
    server.lock().unwrap().apply(
        namespace(
            json!({"kubernetes.io/metadata.name": "default", "shared-gateway-access": "true"}),
        ),
        false,
    );
    wait_plan(&mut plans, "allowed", |p| {
        p.endpoints.len() == 2 && p.problems.is_empty()
    })
    .await;

    // The Gateway's controller rejects the route: it leaves the plan.
    route["status"] = json!({"parents": [{
        "controllerName": "example.com/gateway-controller",
        "parentRef": {"name": "gw", "namespace": "infra"},
        "conditions": [{"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners",
            "message": "rejected", "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    }]});
    server.lock().unwrap().apply(route, false);
    wait_plan(&mut plans, "rejected", |p| {
        p.endpoints.is_empty()
            && p.problems
                .iter()
                .any(|pr| pr.reason.as_str() == "parent_rejected")
    })
    .await;
}

/// GAMMA consumer routes apply to the clients of their namespace: the source watches the
/// Pods of each namespace that has consumer routes (on every node, one namespaced watch,
/// stripped to what the client index reads), starts the watch when the first consumer route
/// appears and stops it when the last one goes; every other namespace's Pods stay unwatched.
#[tokio::test]
async fn consumer_namespaces_pods_are_watched_on_every_node() {
    let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let server = Arc::new(Mutex::new(Server::default()));
    let objs = fixture_objects();
    let client_pod = |name: &str, ns: &str, ip: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "client"}},
            "spec": {"nodeName": "node-b", "containers": [{"name": "c", "image": "curl"}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "hostIP": "192.168.0.12"}})
    };
    {
        let mut s = server.lock().unwrap();
        for o in &objs {
            s.apply(o.clone(), false);
        }
        s.apply(client_pod("client-1", "web", "10.244.2.50"), false);
        s.apply(client_pod("other", "batch", "10.244.2.90"), false);
    }
    tokio::spawn(serve(server.clone(), handle));
    let mut cfg = KubeSourceConfig::new(NODE);
    cfg.min_interval = Duration::from_millis(20);
    let mut source = start_kube_source(kube::Client::new(svc, "default"), cfg);
    let initial = tokio::time::timeout(Duration::from_secs(20), source.initial())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        initial.pods.len(),
        1,
        "no consumer routes: this node's Pods only"
    );
    let (mut plans, _task) = spawn_planner(
        source.stores.clone(),
        NODE.into(),
        PlanConfig::default(),
        None,
    );
    wait_plan(&mut plans, "initial plan", |p| p.endpoints.len() == 2).await;

    // A consumer route in `web` for Service default/foo-v1 (no ReferenceGrant: none needed).
    let mut consumer = find(&objs, "HTTPRoute", "foo-route").clone();
    consumer["metadata"]["name"] = json!("web-consumer");
    consumer["metadata"]["namespace"] = json!("web");
    consumer["spec"]["parentRefs"][0]["namespace"] = json!("default");
    consumer["spec"]["rules"][0]["backendRefs"][0]["namespace"] = json!("default");
    consumer["spec"]["rules"][0]["filters"][0]["requestMirror"]["backendRef"]["namespace"] =
        json!("default");
    consumer["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] = json!(100);
    server.lock().unwrap().apply(consumer.clone(), false);
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let p = wait_plan(&mut plans, "web's client known", |p| {
        p.client_namespace(ip("10.244.2.50")) == Some("web")
    })
    .await;
    assert!(p.problems.is_empty(), "{:?}", p.problems);
    assert_eq!(
        p.client_namespace(ip("10.244.2.90")),
        None,
        "batch is not watched"
    );
    // The web Pod from node-b is held stripped; batch's is not held at all.
    let store = source.stores.borrow().clone();
    let held: Vec<String> = store.pods.keys().map(ToString::to_string).collect();
    assert_eq!(
        held,
        ["default/foo-v1-5d8f7c6b9-abcde", "web/client-1"],
        "{held:?}"
    );
    let web_pod = serde_json::to_value(store.pods.values().nth(1).unwrap()).unwrap();
    assert_eq!(web_pod["spec"]["containers"], json!([]));
    assert!(web_pod["metadata"].get("labels").is_none());
    assert!(web_pod["status"].get("hostIP").is_none());
    assert_eq!(web_pod["status"]["podIP"], "10.244.2.50");

    // A new client pod in web, on yet another node: known as soon as it has an IP.
    let mut second = client_pod("client-2", "web", "10.244.3.7");
    second["spec"]["nodeName"] = json!("node-c");
    server.lock().unwrap().apply(second, false);
    wait_plan(&mut plans, "second web client known", |p| {
        p.client_namespace(ip("10.244.3.7")) == Some("web")
    })
    .await;

    // The only Pod requests: this node's (field selector) and web's (namespaced).
    let pod_requests: Vec<String> = server
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.contains("/pods?"))
        .map(|r| r.split('?').next().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        pod_requests,
        ["/api/v1/namespaces/web/pods", "/api/v1/pods"]
    );
    assert!(server
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.starts_with("/api/v1/pods?"))
        .all(|r| r.contains("fieldSelector=spec.nodeName")));

    // The consumer route goes: web's clients are forgotten and its watch stops.
    assert!(server.lock().unwrap().watching("pods", "web"));
    server.lock().unwrap().apply(consumer, true);
    wait_plan(&mut plans, "web forgotten", |p| {
        p.client_namespaces.is_empty()
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.lock().unwrap().watching("pods", "web") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watch of web's Pods is still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What each agent keeps of what it watches: objects are stripped on receipt (no
/// managedFields, no last-applied annotations, no status it does not read, an
/// EndpointSlice's endpoints cut to address, readiness, node and Pod), Pods are listed and
/// watched for this node only, and a change reaches the store in place of the old object.
#[tokio::test]
async fn objects_are_stripped_on_receipt_and_pods_watched_for_this_node() {
    let (svc, handle) = tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
    let server = Arc::new(Mutex::new(Server::default()));
    let mut objs = fixture_objects();
    for o in &mut objs {
        o["metadata"]["managedFields"] = json!([{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}}}]);
        o["metadata"]["annotations"] = json!({
            "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": true}",
            "shadowtap.dev/mirror-host": "shadow.example.com"});
    }
    {
        let mut s = server.lock().unwrap();
        for o in &objs {
            s.apply(o.clone(), false);
        }
    }
    tokio::spawn(serve(server.clone(), handle));
    let mut cfg = KubeSourceConfig::new(NODE);
    cfg.min_interval = Duration::from_millis(20);
    let mut source = start_kube_source(kube::Client::new(svc, "default"), cfg);
    let store = tokio::time::timeout(Duration::from_secs(20), source.initial())
        .await
        .unwrap()
        .unwrap();
    let value = |v: serde_json::Result<Value>| v.unwrap();
    for v in store
        .routes
        .values()
        .map(serde_json::to_value)
        .chain(store.services.values().map(serde_json::to_value))
        .chain(store.pods.values().map(serde_json::to_value))
        .map(value)
    {
        assert!(v["metadata"].get("managedFields").is_none(), "{v:#}");
        assert!(
            v.get("status")
                .is_none_or(|s| s.get("conditions").is_none()),
            "{v:#}"
        );
        let annotations = v["metadata"]["annotations"].as_object();
        assert!(
            annotations.is_none_or(|a| a.keys().all(|k| k.starts_with("shadowtap.dev/"))),
            "{v:#}"
        );
    }
    // The route keeps the annotation shadowtap reads.
    let route = value(serde_json::to_value(store.routes.values().next().unwrap()));
    assert_eq!(
        route["metadata"]["annotations"],
        json!({"shadowtap.dev/mirror-host": "shadow.example.com"})
    );
    // The EndpointSlice keeps its Service's name and, per endpoint, what planning reads.
    let slice = value(serde_json::to_value(
        store.endpoint_slices.values().next().unwrap(),
    ));
    assert_eq!(slice["service"], json!("foo-v1"));
    assert_eq!(
        slice["endpoints"][0],
        json!({"addresses": ["10.244.1.10"], "ready": true, "serving": true, "terminating": false,
            "node_name": "node-a",
            "pod": {"namespace": "default", "name": "foo-v1-5d8f7c6b9-abcde"}})
    );
    // Services keep no status and no labels.
    let service = value(serde_json::to_value(
        store.services.values().next().unwrap(),
    ));
    assert!(service["metadata"].get("labels").is_none(), "{service:#}");

    // Every list and watch: Pods with this node's field selector only; every other kind
    // cluster-wide (routes decide which Services matter, and may change at any time).
    let requests = server.lock().unwrap().requests.clone();
    for r in requests.iter().filter(|r| r.contains("/pods?")) {
        assert!(
            r.contains("fieldSelector=spec.nodeName%3Dnode-a")
                || r.contains("fieldSelector=spec.nodeName=node-a"),
            "{r}"
        );
    }
    let kinds: std::collections::BTreeSet<&str> = requests
        .iter()
        .filter_map(|r| r.split('?').next()?.rsplit('/').next())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "endpointslices",
            "gateways",
            "grpcroutes",
            "httproutes",
            "namespaces",
            "pods",
            "referencegrants",
            "services"
        ]
    );

    // A change of one EndpointSlice reaches the store; the other objects keep their
    // allocations (nothing was copied).
    let before = source.stores.borrow().clone();
    let mut slice = find(&objs, "EndpointSlice", "foo-v2-q9w3e").clone();
    slice["endpoints"][0]["addresses"] = json!(["10.244.2.21"]);
    server.lock().unwrap().apply(slice, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        let s = source.stores.borrow_and_update().clone();
        let moved = s.endpoint_slices.values().any(|e| {
            e.endpoints
                .iter()
                .any(|p| p.addresses.iter().any(|a| a.to_string() == "10.244.2.21"))
        });
        if moved {
            break s;
        }
        tokio::time::timeout_at(deadline, source.stores.changed())
            .await
            .expect("the changed slice reaches the store")
            .unwrap();
    };
    use shadowtap_routes::model::Shared;
    for (k, r) in &before.routes {
        assert!(Shared::same(r, &after.routes[k]), "route {k} was copied");
    }
    for (k, s) in &before.services {
        assert!(
            Shared::same(s, &after.services[k]),
            "service {k} was copied"
        );
    }
    let v1 = shadowtap_routes::ObjectKey::new("default", "foo-v1-x7k2p");
    assert!(Shared::same(
        &before.endpoint_slices[&v1],
        &after.endpoint_slices[&v1]
    ));
}
