//! Replaying a batch of HTTP/2 requests: each one a stream on a pooled connection of the
//! endpoint the backend picks, all of the batch's streams in flight at once; responses and
//! trailers read to their end and discarded, flow-control capacity given back as they are.
//! A compared request's response is summarised on the way (status, fields, body length and
//! hash, trailers, `grpc-status`) and reported on its ticket like an HTTP/1 one.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use h2::client::SendRequest;
use shadowtap_compare::{BodyDigest, BodyHasher, CompareSpec, ResponseSummary};
use tokio::time::Instant;

use crate::backend::{Backend, Shared};
use crate::connection::Answered;
use crate::edit::RewriteOptions;
use crate::endpoints::Pick;
use crate::h2_pool::{connect, H2Conn, H2Pick};
use crate::h2_request::H2MirrorRequest;
use crate::job::Job;
use crate::queue::Queued;
use crate::reason::DropReason;

/// Replays every request of `batch` (all HTTP/2) concurrently; one outcome per request, in
/// order.
pub(crate) async fn serve_h2(
    backend: &Backend,
    shared: &Shared,
    batch: &[Queued],
) -> Vec<Result<Answered, DropReason>> {
    let rewrite = backend.rewrite();
    let streams = batch.iter().map(|q| async {
        let Job::H2(request) = &q.request else {
            return Err(DropReason::BadRequest);
        };
        let conn = conn_for(backend, shared).await?;
        let deadline = Instant::now() + shared.config.request_timeout;
        let (send, _guard) = conn.stream();
        match tokio::time::timeout_at(deadline, exchange(send, request, &rewrite, shared)).await {
            Ok(r) => r,
            Err(_) => Err(DropReason::ResponseTimeout),
        }
        .inspect_err(|reason| {
            backend
                .stats
                .log_once(*reason, &format_args!("HTTP/2 stream to {}", conn.remote()));
        })
    });
    join_all(streams).await
}

/// The connection for the next request: the round robin's endpoint, a pooled connection
/// to it or a new one.
async fn conn_for(backend: &Backend, shared: &Shared) -> Result<H2Conn, DropReason> {
    let cfg = &shared.config;
    let addr = match backend.pool.pick(Instant::now()) {
        Pick::Up(addr) => addr,
        Pick::AllDown => return Err(DropReason::BackendDown),
        Pick::Empty => return Err(DropReason::NoEndpoints),
    };
    if let H2Pick::Use(conn) = backend.h2.pick(addr) {
        return Ok(conn);
    }
    let _opening = backend.h2.connecting().await;
    if let H2Pick::Use(conn) = backend.h2.pick(addr) {
        return Ok(conn);
    }
    let slot = backend.pool.slot();
    match connect(addr, cfg.connect_timeout, Arc::clone(&shared.own), slot).await {
        Ok(conn) => {
            backend.pool.connect_succeeded(addr);
            Ok(backend.h2.add(conn))
        }
        Err(e) => {
            let backoff = backend.pool.connect_failed(
                addr,
                Instant::now(),
                cfg.backoff_initial,
                cfg.backoff_max,
            );
            let reason = crate::backend::connect_reason(&e);
            backend.stats.log_once(
                reason,
                &format_args!("{e} (HTTP/2); the endpoint backs off for {backoff:?}"),
            );
            Err(reason)
        }
    }
}

/// One stream: send the head, body and trailers, read the response to its end.
async fn exchange(
    send: SendRequest<Bytes>,
    request: &H2MirrorRequest,
    rewrite: &RewriteOptions,
    shared: &Shared,
) -> Result<Answered, DropReason> {
    let start = Instant::now();
    let (head, trailers) = request
        .render(rewrite, &shared.h2_marker)
        .map_err(|_| DropReason::BadRequest)?;
    let mut send = send.ready().await.map_err(|e| h2_reason(&e))?;
    let body = request.body();
    let end_now = body.is_empty() && trailers.is_none();
    let (response, mut stream) = send
        .send_request(head, end_now)
        .map_err(|e| h2_reason(&e))?;
    if !body.is_empty() {
        // Queued by the stream and written as the peer's flow-control window allows.
        stream
            .send_data(body.clone(), trailers.is_none())
            .map_err(|e| h2_reason(&e))?;
    }
    if let Some(t) = trailers {
        stream.send_trailers(t).map_err(|e| h2_reason(&e))?;
    }
    let response = response.await.map_err(|e| h2_reason(&e))?;
    let first_byte = start.elapsed();
    let status = response.status().as_u16();
    let mut summary = request
        .compare()
        .map(|t| H2Summary::new(Arc::clone(t.spec()), &response, first_byte));
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| h2_reason(&e))?;
        if let Some(s) = &mut summary {
            s.body(&chunk);
        }
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.map_err(|e| h2_reason(&e))?;
    Ok(Answered {
        status,
        latency: start.elapsed(),
        summary: summary.map(|s| s.finish(trailers.as_ref())),
    })
}

/// The mirror's HTTP/2 response summarised as the primary's is ([`shadowtap_compare`]'s
/// HTTP/2 pairing): the final head's status and fields, the body's length and (body mode)
/// hash, the trailers' fields after the head's, and `grpc-status` from either.
struct H2Summary {
    spec: Arc<CompareSpec>,
    summary: ResponseSummary,
    hasher: Option<BodyHasher>,
    len: u64,
}

impl H2Summary {
    fn new(
        spec: Arc<CompareSpec>,
        response: &http::Response<h2::RecvStream>,
        latency: std::time::Duration,
    ) -> Self {
        let mut summary = ResponseSummary::new(response.status().as_u16());
        summary.latency = latency;
        let mut s = H2Summary {
            hasher: spec.mode().body().then(BodyHasher::new),
            spec,
            summary,
            len: 0,
        };
        s.fields(response.headers());
        s
    }

    fn fields(&mut self, map: &http::HeaderMap) {
        for (name, value) in map {
            self.summary
                .observe_header(&self.spec, name.as_str().as_bytes(), value.as_bytes());
            self.summary
                .observe_grpc_status(name.as_str().as_bytes(), value.as_bytes());
        }
    }

    fn body(&mut self, chunk: &[u8]) {
        self.len += chunk.len() as u64;
        if let Some(h) = &mut self.hasher {
            h.update(chunk);
        }
    }

    fn finish(mut self, trailers: Option<&http::HeaderMap>) -> ResponseSummary {
        if let Some(t) = trailers {
            self.fields(t);
        }
        self.summary.body = match self.hasher {
            Some(h) => h.finish(),
            None => BodyDigest::unhashed(self.len),
        };
        self.summary
    }
}

/// The drop reason of an HTTP/2 failure: the backend reset the stream (`reset`), went away
/// or closed the connection (`closed`), an I/O error (`io_error`), or broke the protocol
/// (`bad_response`).
fn h2_reason(e: &h2::Error) -> DropReason {
    if e.is_io() {
        DropReason::Io
    } else if e.is_go_away() {
        DropReason::Closed
    } else if e.is_reset() {
        DropReason::Reset
    } else {
        DropReason::BadResponse
    }
}
