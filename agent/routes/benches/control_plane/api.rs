//! A stand-in Kubernetes API server on kube's mocked service (`tower_test::mock`): paged
//! lists (`limit` / `continue`, as the watcher asks) and watches of the generated cluster,
//! and the churn of EndpointSlices streamed to open watches.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::cluster::{Cluster, SliceState, NAMESPACES_COUNT, ROUTES, SERVICES, SLICES};

/// The body type of the mocked service.
pub type Body = BoxBody<Bytes, std::io::Error>;
type Tx = mpsc::UnboundedSender<Result<Frame<Bytes>, std::io::Error>>;

/// The API server's state.
#[derive(Default)]
pub struct Api {
    rv: u64,
    cluster: Cluster,
    /// (resourceVersion, slice) of every change, for watches started behind.
    log: Vec<(u64, u32)>,
    slice_watchers: Vec<Tx>,
    /// Watches of the kinds that never change: open and silent.
    quiet_watchers: Vec<Tx>,
    /// List and watch requests served, by resource.
    pub requests: Vec<String>,
}

/// Objects of `plural` in `[from, from + limit)`, and whether more follow.
fn page(api: &Api, plural: &str, node_only: bool, from: u32, limit: u32) -> (Vec<Value>, bool) {
    let c = &api.cluster;
    let count = match plural {
        "namespaces" => NAMESPACES_COUNT,
        "services" => SERVICES,
        "endpointslices" => SLICES,
        "httproutes" => ROUTES,
        _ => 0,
    };
    if plural == "pods" {
        // The agent asks for its node's Pods; nothing else is served.
        let pods = if node_only { c.node_pods() } else { Vec::new() };
        return (pods, false);
    }
    let end = from.saturating_add(limit).min(count);
    let items = (from..end)
        .map(|i| match plural {
            "namespaces" => c.namespace(i),
            "services" => c.service(i),
            "endpointslices" => c.slice(i, 1),
            _ => c.route(i),
        })
        .collect();
    (items, end < count)
}

impl Api {
    /// Applies a change to slice `s` and streams it to the open watches.
    pub fn change_slice(&mut self, s: u32, f: impl FnOnce(&mut SliceState)) {
        self.rv += 1;
        let mut st = self.cluster.slice_state(s);
        st.generation += 1;
        f(&mut st);
        self.cluster.changed.insert(s, st);
        self.log.push((self.rv, s));
        let frame = watch_line(&self.cluster.slice(s, self.rv));
        self.slice_watchers
            .retain(|tx| tx.send(Ok(Frame::data(frame.clone()))).is_ok());
    }
}

/// One watch event line for a modified object, `type` first as the API server writes it
/// (`json!` would sort the keys and put `object` first, which makes the client buffer the
/// whole object before it knows the event's type).
fn watch_line(object: &Value) -> Bytes {
    Bytes::from(format!("{{\"type\":\"MODIFIED\",\"object\":{object}}}\n"))
}

fn full(v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|e| match e {})
                .boxed(),
        )
        .expect("response")
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Serves the mocked service's requests until the client goes.
pub async fn serve(
    api: Arc<Mutex<Api>>,
    mut handle: tower_test::mock::Handle<Request<kube::client::Body>, Response<Body>>,
) {
    while let Some((req, send)) = handle.next_request().await {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let plural = path.rsplit('/').next().unwrap_or("").to_owned();
        let node_only = query.contains("fieldSelector=spec.nodeName");
        let mut a = api.lock().expect("api lock");
        a.requests.push(format!("{path}?{query}"));
        if !query.contains("watch=true") {
            let from: u32 = param(&query, "continue")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let limit: u32 = param(&query, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(u32::MAX);
            let (items, more) = page(&a, &plural, node_only, from, limit);
            let mut meta = json!({"resourceVersion": a.rv.to_string()});
            if more {
                meta["continue"] = json!((from + items.len() as u32).to_string());
            }
            let list =
                json!({"apiVersion": "v1", "kind": "List", "metadata": meta, "items": items});
            drop(a);
            send.send_response(full(&list));
            continue;
        }
        let since: u64 = param(&query, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (tx, rx) = mpsc::unbounded_channel();
        if plural == "endpointslices" {
            for (rv, s) in a.log.iter().filter(|(rv, _)| *rv > since) {
                let _ = tx.send(Ok(Frame::data(watch_line(&a.cluster.slice(*s, *rv)))));
            }
            a.slice_watchers.push(tx);
        } else {
            // Nothing else changes: an open, silent watch.
            a.quiet_watchers.push(tx);
        }
        drop(a);
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        let body = BodyExt::boxed(StreamBody::new(stream));
        send.send_response(Response::builder().status(200).body(body).expect("watch"));
    }
}
