//! An in-process API server for Leases and Events, shared by several agents' clients.
//!
//! It answers what kube-lease-manager and the problem reporter send, with the semantics the
//! election's safety rests on:
//! - Lease `GET`, `POST` (409 `AlreadyExists` when present), `PUT` (409 `Conflict` on a stale
//!   `resourceVersion`), and `PATCH`:
//!   - server-side apply (`application/apply-patch+yaml`, without `force`): a field set to a
//!     different value than the one another field manager owns is a 409 `Conflict`;
//!   - strategic-merge and merge patches: fields are set (or removed with `null`) and owned by
//!     the patch's field manager; a `metadata.resourceVersion` in the body is a precondition.
//!
//!   Simplified: apply does not remove fields the manager stopped applying, and ownership is
//!   per top-level `spec` field; the election only uses those.
//! - Event `POST`: 409 `AlreadyExists` when an Event of that name exists.
//!
//! Every request is recorded (agent, method, path, content type, field manager, status);
//! `fail_leases` makes Lease requests fail as an overloaded API server would (503).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Map, Value};

pub type Body = BoxBody<Bytes, std::io::Error>;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Call {
    pub agent: String,
    pub method: Method,
    pub path: String,
    pub content_type: String,
    pub field_manager: Option<String>,
    pub status: u16,
}

/// One Event as created.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub name: String,
    pub reason: String,
    pub regarding: String,
    pub instance: String,
}

/// The server's state.
#[derive(Default)]
pub struct FakeApi {
    rv: u64,
    /// Leases by (namespace, name).
    leases: BTreeMap<(String, String), Value>,
    /// Owners of each lease's spec fields.
    owners: BTreeMap<(String, String), BTreeMap<String, BTreeSet<String>>>,
    /// Events by (namespace, name), in creation order.
    pub events: Vec<StoredEvent>,
    pub calls: Vec<Call>,
    /// Successful Lease writes (create, patch, replace).
    pub lease_writes: u64,
    /// Lease requests answer 503 (the API server failing) while set.
    pub fail_leases: bool,
}

impl FakeApi {
    /// The Lease `ns/name` as stored.
    pub fn lease(&self, ns: &str, name: &str) -> Option<Value> {
        self.leases.get(&(ns.into(), name.into())).cloned()
    }

    /// `spec.holderIdentity` of the Lease.
    pub fn holder(&self, ns: &str, name: &str) -> Option<String> {
        self.lease(ns, name)
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    }

    fn bump(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }
}

fn status(code: StatusCode, reason: &str, message: String) -> (StatusCode, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

fn respond((code, v): (StatusCode, Value)) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|e| match e {})
                .boxed(),
        )
        .unwrap()
}

fn spec_map(v: &Value) -> Map<String, Value> {
    v.get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Serves one agent's client until it is dropped.
pub async fn serve(
    api: Arc<Mutex<FakeApi>>,
    agent: &'static str,
    mut handle: tower_test::mock::Handle<Request<kube::client::Body>, Response<Body>>,
) {
    while let Some((req, send)) = handle.next_request().await {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let content_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let field_manager = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("fieldManager="))
            .map(str::to_owned);
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).expect("request bodies are JSON")
        };
        let mut api_state = api.lock().unwrap();
        let answer = route(
            &mut api_state,
            agent,
            &method,
            &path,
            &content_type,
            field_manager.as_deref(),
            body,
        );
        api_state.calls.push(Call {
            agent: agent.into(),
            method,
            path,
            content_type,
            field_manager,
            status: answer.0.as_u16(),
        });
        drop(api_state);
        send.send_response(respond(answer));
    }
}

fn route(
    api: &mut FakeApi,
    agent: &str,
    method: &Method,
    path: &str,
    content_type: &str,
    field_manager: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if api.fail_leases && parts.get(1) == Some(&"coordination.k8s.io") {
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "etcdserver: request timed out".into(),
        );
    }
    match parts.as_slice() {
        ["apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases"]
            if method == Method::POST =>
        {
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            lease_create(api, ns, &name, body, field_manager.unwrap_or(agent))
        }
        ["apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases", name] => {
            let key = ((*ns).to_owned(), (*name).to_owned());
            match *method {
                Method::GET => match api.leases.get(&key) {
                    Some(l) => (StatusCode::OK, l.clone()),
                    None => status(
                        StatusCode::NOT_FOUND,
                        "NotFound",
                        format!("leases.coordination.k8s.io \"{name}\" not found"),
                    ),
                },
                Method::PUT => lease_replace(api, key, body, field_manager.unwrap_or(agent)),
                Method::PATCH => {
                    lease_patch(api, key, content_type, body, field_manager.unwrap_or(agent))
                }
                _ => status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    method.to_string(),
                ),
            }
        }
        ["apis", "events.k8s.io", "v1", "namespaces", ns, "events"] if method == Method::POST => {
            let name = body["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if name.is_empty() || api.events.iter().any(|e| e.name == name) {
                return status(
                    StatusCode::CONFLICT,
                    "AlreadyExists",
                    format!("events.events.k8s.io \"{name}\" already exists"),
                );
            }
            api.events.push(StoredEvent {
                name,
                reason: body["reason"].as_str().unwrap_or_default().to_owned(),
                regarding: format!(
                    "{}/{}",
                    body["regarding"]["namespace"].as_str().unwrap_or_default(),
                    body["regarding"]["name"].as_str().unwrap_or_default()
                ),
                instance: body["reportingInstance"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            });
            let mut created = body;
            created["metadata"]["namespace"] = json!(ns);
            created["metadata"]["resourceVersion"] = json!(api.bump());
            (StatusCode::CREATED, created)
        }
        _ => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no route {path}"),
        ),
    }
}

fn lease_create(
    api: &mut FakeApi,
    ns: &str,
    name: &str,
    mut body: Value,
    manager: &str,
) -> (StatusCode, Value) {
    let key = (ns.to_owned(), name.to_owned());
    if api.leases.contains_key(&key) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("leases.coordination.k8s.io \"{name}\" already exists"),
        );
    }
    body["metadata"]["namespace"] = json!(ns);
    body["metadata"]["resourceVersion"] = json!(api.bump());
    if body.get("spec").is_none_or(Value::is_null) {
        body["spec"] = json!({});
    }
    let owners = spec_map(&body)
        .keys()
        .map(|k| (k.clone(), BTreeSet::from([manager.to_owned()])))
        .collect();
    api.owners.insert(key.clone(), owners);
    api.leases.insert(key, body.clone());
    api.lease_writes += 1;
    (StatusCode::CREATED, body)
}

/// A `resourceVersion` in the body must be the stored one.
fn precondition(stored: &Value, body: &Value) -> Result<(), (StatusCode, Value)> {
    match body["metadata"]["resourceVersion"].as_str() {
        Some(rv) if Some(rv) != stored["metadata"]["resourceVersion"].as_str() => Err(status(
            StatusCode::CONFLICT,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again".into(),
        )),
        _ => Ok(()),
    }
}

fn lease_replace(
    api: &mut FakeApi,
    key: (String, String),
    body: Value,
    manager: &str,
) -> (StatusCode, Value) {
    let Some(stored) = api.leases.get(&key).cloned() else {
        return status(StatusCode::NOT_FOUND, "NotFound", key.1);
    };
    if body["metadata"]["resourceVersion"].is_null() {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update".into(),
        );
    }
    if let Err(e) = precondition(&stored, &body) {
        return e;
    }
    let old = spec_map(&stored);
    let new = spec_map(&body);
    let owners = api.owners.entry(key.clone()).or_default();
    owners.retain(|k, _| new.contains_key(k));
    for (k, v) in &new {
        if old.get(k) != Some(v) {
            owners.insert(k.clone(), BTreeSet::from([manager.to_owned()]));
        }
    }
    let mut out = stored;
    out["spec"] = Value::Object(new);
    out["metadata"]["resourceVersion"] = json!(api.bump());
    api.leases.insert(key, out.clone());
    api.lease_writes += 1;
    (StatusCode::OK, out)
}

fn lease_patch(
    api: &mut FakeApi,
    key: (String, String),
    content_type: &str,
    body: Value,
    manager: &str,
) -> (StatusCode, Value) {
    let apply = content_type.starts_with("application/apply-patch");
    let merge = content_type.starts_with("application/strategic-merge-patch")
        || content_type.starts_with("application/merge-patch");
    if !apply && !merge {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            content_type.to_owned(),
        );
    }
    let Some(stored) = api.leases.get(&key).cloned() else {
        return status(StatusCode::NOT_FOUND, "NotFound", key.1);
    };
    if let Err(e) = precondition(&stored, &body) {
        return e;
    }
    let mut spec = spec_map(&stored);
    let owners = api.owners.entry(key.clone()).or_default();
    let patch = spec_map(&body);
    if apply {
        let conflicts: Vec<String> = patch
            .iter()
            .filter(|(k, v)| {
                spec.get(*k).is_some_and(|cur| cur != *v)
                    && owners
                        .get(*k)
                        .is_some_and(|o| o.iter().any(|m| m != manager))
            })
            .map(|(k, _)| format!(".spec.{k}"))
            .collect();
        if !conflicts.is_empty() {
            return status(
                StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Apply failed with {} conflict(s): {conflicts:?}",
                    conflicts.len()
                ),
            );
        }
    }
    for (k, v) in patch {
        if v.is_null() {
            spec.remove(&k);
            owners.remove(&k);
            continue;
        }
        let same = spec.get(&k) == Some(&v);
        let o = owners.entry(k.clone()).or_default();
        if !same {
            o.clear();
        }
        o.insert(manager.to_owned());
        spec.insert(k, v);
    }
    let mut out = stored;
    out["spec"] = Value::Object(spec);
    out["metadata"]["resourceVersion"] = json!(api.bump());
    api.leases.insert(key, out.clone());
    api.lease_writes += 1;
    (StatusCode::OK, out)
}
