//! The HTTP endpoints: `/metrics` (Prometheus text), `/livez` and `/healthz` (every loop
//! made progress within [`STALL_AFTER`]), `/readyz` (programs attached and the first plan
//! applied), `/debug/<name>` (a published [`DebugDocs`] document, JSON).

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::{encoding::text::encode, registry::Registry};

use super::debug_docs::DebugDocs;
use super::health::{Health, STALL_AFTER};
use tokio::{net::TcpListener, sync::Semaphore};

fn respond(status: u16, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

fn handle(
    req: &Request<Incoming>,
    registry: &Registry,
    health: &Health,
    docs: &DebugDocs,
) -> Response<Full<Bytes>> {
    if let Some(name) = req.uri().path().strip_prefix("/debug/") {
        return match docs.get(name) {
            Some(json) => respond(200, "application/json", json),
            None => respond(404, "text/plain", "not found\n".into()),
        };
    }
    match req.uri().path() {
        "/metrics" => {
            let mut text = String::new();
            match encode(&mut text, registry) {
                Ok(()) => respond(
                    200,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text,
                ),
                Err(_) => respond(500, "text/plain", "encoding failed\n".into()),
            }
        }
        "/healthz" | "/livez" => match health.stalled(STALL_AFTER).as_slice() {
            [] => respond(200, "text/plain", "ok\n".into()),
            stalled => respond(
                503,
                "text/plain",
                format!("stalled: {}\n", stalled.join(", ")),
            ),
        },
        "/readyz" if health.is_ready() => respond(200, "text/plain", "ready\n".into()),
        "/readyz" => respond(503, "text/plain", "not ready\n".into()),
        _ => respond(404, "text/plain", "not found\n".into()),
    }
}

/// Bounds that keep the endpoints answering when clients misbehave (the server listens on
/// the node's network, reachable from every pod).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once; more are accepted and closed at once, so they never hold
    /// descriptors the mirror client needs.
    pub max_connections: usize,
    /// Time a client has to send a complete request head, and the longest a keep-alive
    /// connection may wait for its next request.
    pub header_timeout: Duration,
    /// Longest life of one connection, however busy.
    pub max_connection_age: Duration,
}

impl Default for ServerLimits {
    /// 64 connections, 10 s to send a head, 5 minutes per connection.
    fn default() -> Self {
        Self {
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(300),
        }
    }
}

/// First pause after a failed `accept` (typically out of descriptors); it doubles up to
/// [`ACCEPT_BACKOFF_MAX`] while accepts keep failing.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Bind `addr` and serve until the task is dropped. Returns the bound address first.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    health: Health,
    docs: DebugDocs,
    limits: ServerLimits,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let run = async move {
        let mut backoff = ACCEPT_BACKOFF;
        let mut failures = 0u64;
        let mut rejected = 0u64;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => {
                    if failures > 0 {
                        tracing::info!(failures, "metrics accept recovered");
                    }
                    failures = 0;
                    backoff = ACCEPT_BACKOFF;
                    stream
                }
                Err(e) => {
                    // Logged on the first failure of a run, then every 1 000th.
                    if failures.is_multiple_of(1000) {
                        tracing::warn!(error = %e, failures, "metrics accept failed; backing off");
                    }
                    failures += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                if rejected.is_multiple_of(1000) {
                    tracing::warn!(
                        limit = limits.max_connections,
                        rejected,
                        "metrics connection limit reached; closing new connections"
                    );
                }
                rejected += 1;
                drop(stream);
                continue;
            };
            let (registry, health, docs) = (registry.clone(), health.clone(), docs.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let resp = handle(&req, &registry, &health, &docs);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                if let Ok(Err(e)) = tokio::time::timeout(limits.max_connection_age, conn).await {
                    tracing::debug!(error = %e, "metrics connection ended");
                }
                drop(slot);
            });
        }
    };
    Ok((local, run))
}
