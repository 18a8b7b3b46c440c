//! A gRPC-shaped HTTP/2 backend for the `h2-capacity` benchmark: the `h2` crate's server on
//! a thread inside a test namespace, answering every call as a gRPC unary server does
//! (`200`, `content-type: application/grpc`, a 5-byte-prefixed empty message, trailers
//! `grpc-status: 0`) and counting the calls it read whole, and those carrying the marker.
//! Counting in process is what lets the benchmark compare every call sent with every
//! mirror that arrived, at rates where a logging server would be the bottleneck.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread::JoinHandle,
};

use bytes::Bytes;
use shadowtap_harness::topology::Netns;
use tokio::{net::TcpListener, sync::oneshot};

/// The server; stopped (and its thread joined) on drop.
pub struct CountingGrpc {
    calls: Arc<AtomicU64>,
    marked: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl CountingGrpc {
    /// Listen on `addr` inside `ns`; calls carrying the field `marker` are counted apart.
    pub fn start(ns: &Netns, addr: SocketAddr, marker: &'static str) -> Self {
        let calls = Arc::new(AtomicU64::new(0));
        let marked = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = oneshot::channel();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (c, m) = (calls.clone(), marked.clone());
        let thread = ns.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind(addr)
                    .await
                    .expect("bind the gRPC backend");
                let _ = ready_tx.send(());
                tokio::select! {
                    _ = accept(listener, c, m, marker) => {}
                    _ = stopped => {}
                }
            });
        });
        ready.recv().expect("the gRPC backend to listen");
        Self {
            calls,
            marked,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Calls read whole.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls read whole that carried the marker.
    pub fn marked(&self) -> u64 {
        self.marked.load(Ordering::Relaxed)
    }
}

impl Drop for CountingGrpc {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept(
    listener: TcpListener,
    calls: Arc<AtomicU64>,
    marked: Arc<AtomicU64>,
    marker: &'static str,
) {
    while let Ok((socket, _)) = listener.accept().await {
        let _ = socket.set_nodelay(true);
        let (calls, marked) = (calls.clone(), marked.clone());
        tokio::spawn(async move {
            let Ok(mut conn) = h2::server::handshake(socket).await else {
                return;
            };
            while let Some(Ok((request, respond))) = conn.accept().await {
                tokio::spawn(call(
                    request,
                    respond,
                    calls.clone(),
                    marked.clone(),
                    marker,
                ));
            }
        });
    }
}

async fn call(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    calls: Arc<AtomicU64>,
    marked: Arc<AtomicU64>,
    marker: &'static str,
) {
    let is_marked = request.headers().contains_key(marker);
    let mut body = request.into_body();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else {
            return;
        };
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    calls.fetch_add(1, Ordering::Relaxed);
    if is_marked {
        marked.fetch_add(1, Ordering::Relaxed);
    }
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .expect("response");
    let Ok(mut stream) = respond.send_response(response, false) else {
        return;
    };
    let _ = stream.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let _ = stream.send_trailers(trailers);
}
