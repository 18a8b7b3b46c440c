//! HTTP/2 replay against an in-process server written with the `h2` crate on 127.0.0.1:
//! streams multiplexed over few connections, what arrives (authority, fields, marker, body,
//! trailers), a dead backend, a backend that resets streams, one that never answers, and
//! HTTP/1 and HTTP/2 requests sharing one backend, and a backend that speaks HTTP/2 only
//! (`appProtocol: kubernetes.io/h2c` or `grpc`) refusing HTTP/1 requests. Conservation
//! holds throughout.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::Reason;
use http::{HeaderMap, Response};
use shadowtap_mirror::{
    BackendProtocol, DropReason, H2MirrorRequest, ReplayConfig, RewriteOptions,
};
use shadowtap_reconstruct::shadowtap_h2::{Field, H2Request, PseudoHeaders};
use support::*;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// What the server does with each stream.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answer 200 with a body and trailers once `hold_until` streams are open at once (or
    /// after a bounded wait).
    Answer { hold_until: usize },
    /// Reset the stream (REFUSED_STREAM) without answering.
    Reset,
    /// Read the request, never answer.
    Silent,
}

/// One request as the server received it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    authority: String,
    path: String,
    fields: Vec<(String, String)>,
    body: Vec<u8>,
    trailers: Option<HeaderMap>,
}

#[derive(Default)]
struct State {
    peers: Mutex<Vec<SocketAddr>>,
    connections: AtomicUsize,
    open_streams: AtomicUsize,
    max_open_streams: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
}

struct H2Server {
    addr: SocketAddr,
    state: Arc<State>,
}

impl H2Server {
    async fn start(behaviour: Behaviour) -> H2Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, peer)) = listener.accept().await {
                st.peers.lock().unwrap().push(peer);
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(socket).await else {
                        return;
                    };
                    while let Some(Ok((request, respond))) = conn.accept().await {
                        tokio::spawn(stream(st.clone(), behaviour, request, respond));
                    }
                });
            }
        });
        H2Server { addr, state }
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }
}

async fn stream(
    st: Arc<State>,
    behaviour: Behaviour,
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) {
    let open = st.open_streams.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_open_streams.fetch_max(open, Ordering::SeqCst);
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await.unwrap();
    st.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        authority: parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        fields: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: bytes,
        trailers,
    });
    match behaviour {
        Behaviour::Answer { hold_until } => {
            // Hold the answer until enough streams are open together, within a bound.
            let until = Instant::now() + Duration::from_secs(2);
            while st.max_open_streams.load(Ordering::SeqCst) < hold_until && Instant::now() < until
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let response = Response::builder().status(200).body(()).unwrap();
            if let Ok(mut send) = respond.send_response(response, false) {
                let _ = send.send_data(Bytes::from_static(b"answer body"), false);
                let mut t = HeaderMap::new();
                t.insert("grpc-status", "0".parse().unwrap());
                let _ = send.send_trailers(t);
            }
        }
        Behaviour::Reset => respond.send_reset(Reason::REFUSED_STREAM),
        Behaviour::Silent => {
            // Keep the stream open, unanswered, until the client gives up on it.
            let _ = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
        }
    }
    st.open_streams.fetch_sub(1, Ordering::SeqCst);
}

/// An HTTP/2 request as the decoder emits it.
fn h2_request(i: usize, body: &[u8], trailers: bool) -> H2MirrorRequest {
    let r = H2Request {
        stream_id: 1 + 2 * i as u32,
        pseudo: PseudoHeaders {
            method: Bytes::from_static(b"POST"),
            scheme: Some(Bytes::from_static(b"http")),
            authority: Some(Bytes::from_static(b"foo.example:8080")),
            path: Some(Bytes::from(format!("/svc/{i}?q=1"))),
            protocol: None,
        },
        headers: vec![
            Field::new(&b"content-type"[..], &b"application/grpc"[..]),
            Field::new(&b"x-id"[..], Bytes::from(i.to_string())),
        ],
        body: Bytes::copy_from_slice(body),
        trailers: if trailers {
            vec![Field::new(&b"x-checksum"[..], &b"abc"[..])]
        } else {
            Vec::new()
        },
    };
    H2MirrorRequest::from_decoded(&r).unwrap()
}

fn config() -> ReplayConfig {
    ReplayConfig {
        h2_connections: 1,
        ..test_config()
    }
}

#[tokio::test]
async fn streams_are_multiplexed_over_few_connections() {
    let server = H2Server::start(Behaviour::Answer { hold_until: 4 }).await;
    let r = replayer(config());
    let id = backend("multiplexed");
    r.set_endpoints(&id, vec![server.addr]);
    let n = 200;
    for i in 0..n {
        r.submit_h2_tallied(&id, h2_request(i, b"payload", true), None)
            .unwrap();
    }
    let s = settled(&r, &id, n as u64).await;
    assert_eq!(s.sent, n as u64, "{s:?}");
    assert_eq!(s.responses.get("2xx"), Some(&(n as u64)), "{s:?}");
    assert_eq!(server.connections(), 1, "one connection per endpoint");
    let max = server.state.max_open_streams.load(Ordering::SeqCst);
    assert!(max >= 4, "streams at once on the connection: {max}");
    let seen = server.seen();
    assert_eq!(seen.len(), n);
    let mut ids: Vec<usize> = seen
        .iter()
        .map(|s| s.path[5..s.path.len() - 4].parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..n).collect::<Vec<_>>(), "each request exactly once");
}

#[tokio::test]
async fn authority_fields_marker_body_and_trailers_arrive() {
    let server = H2Server::start(Behaviour::Answer { hold_until: 0 }).await;
    let r = replayer(config());
    let id = backend("exact");
    r.set_endpoints(&id, vec![server.addr]);
    let body = vec![b'z'; 300_000];
    r.submit_h2_tallied(&id, h2_request(7, &body, true), None)
        .unwrap();
    settled(&r, &id, 1).await;
    let seen = server.seen();
    let s = &seen[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.authority, "foo.example:8080");
    assert_eq!(s.path, "/svc/7?q=1");
    assert_eq!(
        s.fields,
        [
            ("content-type".to_owned(), "application/grpc".to_owned()),
            ("x-id".to_owned(), "7".to_owned()),
            ("x-shadowtap-mirrored".to_owned(), "1".to_owned()),
        ]
    );
    assert_eq!(s.body, body, "a body larger than the flow-control window");
    assert_eq!(s.trailers.as_ref().unwrap()["x-checksum"], "abc");

    // The backend's Host rewrite replaces :authority; removed fields are gone.
    let other = backend("rewritten");
    r.set_backend(
        &other,
        RewriteOptions {
            host: Some("foo-v2.default:8080".into()),
            remove_headers: vec!["X-Id".into()],
        },
    )
    .unwrap();
    r.set_endpoints(&other, vec![server.addr]);
    r.submit_h2_tallied(&other, h2_request(8, b"", false), None)
        .unwrap();
    settled(&r, &other, 1).await;
    let seen = server.seen();
    let s = seen.iter().find(|s| s.path == "/svc/8?q=1").unwrap();
    assert_eq!(s.authority, "foo-v2.default:8080");
    assert!(s.fields.iter().all(|(n, _)| n != "x-id"));
    assert!(s.trailers.is_none());
}

#[tokio::test]
async fn a_dead_backend_is_refused_then_down() {
    let r = replayer(ReplayConfig {
        backoff_initial: Duration::from_secs(5),
        ..config()
    });
    let id = backend("dead");
    r.set_endpoints(&id, vec![closed_port()]);
    r.submit_h2_tallied(&id, h2_request(0, b"", false), None)
        .unwrap();
    let s = settled(&r, &id, 1).await;
    assert_eq!(s.dropped(DropReason::ConnectRefused), 1, "{s:?}");
    for i in 1..=5 {
        assert_eq!(
            r.submit_h2_tallied(&id, h2_request(i, b"", false), None),
            Err(DropReason::BackendDown)
        );
    }
    let s = settled(&r, &id, 6).await;
    assert_eq!(s.dropped(DropReason::BackendDown), 5, "{s:?}");
}

#[tokio::test]
async fn reset_streams_are_counted_and_the_connection_kept() {
    let server = H2Server::start(Behaviour::Reset).await;
    let r = replayer(config());
    let id = backend("resets");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..20 {
        r.submit_h2_tallied(&id, h2_request(i, b"x", false), None)
            .unwrap();
    }
    let s = settled(&r, &id, 20).await;
    assert_eq!(s.dropped(DropReason::Reset), 20, "{s:?}");
    assert_eq!(s.sent, 0);
    assert_eq!(
        server.connections(),
        1,
        "a reset stream leaves its connection up"
    );
}

#[tokio::test]
async fn unanswered_streams_time_out_without_blocking_submit() {
    let server = H2Server::start(Behaviour::Silent).await;
    let r = replayer(config());
    let id = backend("silent");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..10 {
        let start = Instant::now();
        r.submit_h2_tallied(&id, h2_request(i, b"x", false), None)
            .unwrap();
        assert!(
            start.elapsed() < Duration::from_millis(50),
            "submit blocked"
        );
    }
    let s = settled(&r, &id, 10).await;
    assert_eq!(s.dropped(DropReason::ResponseTimeout), 10, "{s:?}");
    // The streams were given up on (reset by the client), not left open.
    eventually("server streams closed", || {
        server.state.open_streams.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[tokio::test]
async fn http1_and_h2_requests_share_a_backend_and_its_tallies() {
    let h2_server = H2Server::start(Behaviour::Answer { hold_until: 0 }).await;
    let h1_server = Recorder::ok().await;
    let r = replayer(config());
    let h2_id = backend("both-h2");
    let h1_id = backend("both-h1");
    r.set_endpoints(&h2_id, vec![h2_server.addr]);
    r.set_endpoints(&h1_id, vec![h1_server.addr]);
    let tally = shadowtap_mirror::Tally::new();
    for i in 0..10 {
        r.submit_h2_tallied(&h2_id, h2_request(i, b"x", false), Some(tally.clone()))
            .unwrap();
        r.submit_tallied(&h1_id, get(i), Some(tally.clone()))
            .unwrap();
    }
    settled(&r, &h2_id, 10).await;
    settled(&r, &h1_id, 10).await;
    assert_eq!(tally.sent_count(), 20);
    assert_eq!(h1_server.wait_for(10).await.len(), 10);
    assert_eq!(h2_server.seen().len(), 10);
}

#[tokio::test]
async fn idle_h2_connections_are_closed() {
    let server = H2Server::start(Behaviour::Answer { hold_until: 0 }).await;
    let r = replayer(ReplayConfig {
        idle_timeout: Duration::from_millis(200),
        ..config()
    });
    let id = backend("idle");
    r.set_endpoints(&id, vec![server.addr]);
    r.submit_h2_tallied(&id, h2_request(0, b"x", false), None)
        .unwrap();
    settled(&r, &id, 1).await;
    eventually("the idle HTTP/2 connection is closed", || {
        r.snapshot().backend(&label(&id)).connections == 0
    })
    .await;
    // A later request opens a new one.
    r.submit_h2_tallied(&id, h2_request(1, b"x", false), None)
        .unwrap();
    let s = settled(&r, &id, 2).await;
    assert_eq!(s.sent, 2);
    assert_eq!(server.connections(), 2);
}

/// Own flows of the agent's HTTP/2 connections, as the kernel's own-flow map sees them.
#[derive(Default)]
struct OwnRecording {
    live: Mutex<Vec<(SocketAddr, SocketAddr)>>,
    registered: AtomicUsize,
}

impl shadowtap_mirror::OwnFlows for OwnRecording {
    fn register(&self, local: SocketAddr, remote: SocketAddr) {
        self.live.lock().unwrap().push((local, remote));
        self.registered.fetch_add(1, Ordering::SeqCst);
    }
    fn unregister(&self, local: SocketAddr, remote: SocketAddr) {
        let mut live = self.live.lock().unwrap();
        let i = live
            .iter()
            .position(|f| *f == (local, remote))
            .expect("unregistered flow was registered");
        live.remove(i);
    }
}

#[tokio::test]
async fn h2_connections_are_own_flows_while_open() {
    let server = H2Server::start(Behaviour::Answer { hold_until: 0 }).await;
    let own = Arc::new(OwnRecording::default());
    let r = replayer_with(config(), own.clone());
    let id = backend("own-h2");
    r.set_endpoints(&id, vec![server.addr]);
    for i in 0..10 {
        r.submit_h2_tallied(&id, h2_request(i, b"x", false), None)
            .unwrap();
    }
    settled(&r, &id, 10).await;
    let peers = server.state.peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 1);
    assert_eq!(
        own.live.lock().unwrap().clone(),
        [(peers[0], server.addr)],
        "the connection's own flow, registered before its first byte"
    );
    let report = r.shutdown(Duration::from_secs(1)).await;
    assert!(report.drained);
    eventually(
        "the closed connection's own flow to be unregistered",
        || own.live.lock().unwrap().is_empty(),
    )
    .await;
    assert_eq!(own.registered.load(Ordering::SeqCst), 1);
}

/// A backend that speaks HTTP/2 only takes HTTP/2 requests and refuses HTTP/1 ones when
/// they are submitted (`protocol_mismatch`, nothing written); set back to as-captured, it
/// takes HTTP/1 again.
#[tokio::test]
async fn an_h2c_only_backend_refuses_http1_requests() {
    let server = H2Server::start(Behaviour::Answer { hold_until: 1 }).await;
    let r = replayer(config());
    let id = backend("h2c-only");
    r.set_endpoints(&id, vec![server.addr]);
    r.set_protocol(&id, BackendProtocol::H2cOnly);
    for i in 0..3 {
        assert_eq!(
            r.submit(&id, get(i)),
            Err(DropReason::ProtocolMismatch),
            "HTTP/1 request {i}"
        );
        r.submit_h2_tallied(&id, h2_request(i, b"x", false), None)
            .unwrap();
    }
    let s = settled(&r, &id, 6).await;
    assert_eq!(s.sent, 3, "{s:?}");
    assert_eq!(s.dropped(DropReason::ProtocolMismatch), 3, "{s:?}");
    assert!(s.is_conserved(), "{s:?}");
    assert_eq!(server.seen().len(), 3);
    assert!(
        server.seen().iter().all(|x| x.method == "POST"),
        "only the HTTP/2 requests arrived"
    );

    // As captured: an HTTP/1 request is queued (to this h2-only server it fails, but it
    // is no longer refused as a protocol mismatch).
    r.set_protocol(&id, BackendProtocol::AsCaptured);
    r.submit(&id, get(9)).unwrap();
    let s = settled(&r, &id, 7).await;
    assert_eq!(s.dropped(DropReason::ProtocolMismatch), 3, "{s:?}");
    assert!(s.is_conserved(), "{s:?}");
}
