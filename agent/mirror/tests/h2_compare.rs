//! Compared HTTP/2 requests: the mirror's response summarised (status, fields, body length
//! and hash, trailers, `grpc-status` from trailers or a trailers-only head) and reported on
//! the request's ticket; a reset stream or a dead backend reports `Failed`. Against an
//! in-process `h2`-crate server on 127.0.0.1.

#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::sync::Arc;

use bytes::Bytes;
use h2::Reason;
use http::{HeaderMap, Response};
use shadowtap_compare::{
    BodyDigest, CompareMode, CompareSpec, MirrorResult, PairId, ResponseSummary,
};
use shadowtap_mirror::{CompareTicket, H2MirrorRequest, ReplayConfig};
use shadowtap_reconstruct::shadowtap_h2::{Field, H2Request, PseudoHeaders};
use support::*;
use tokio::net::TcpListener;
use tokio::sync::mpsc::unbounded_channel;

/// Answers by path: `/ok` 200 with a body and `grpc-status: 0` trailers, `/fail` a
/// trailers-only 200 with `grpc-status: 5`, `/reset` resets the stream.
async fn server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = conn.accept().await {
                    let path = request.uri().path().to_owned();
                    let mut body = request.into_body();
                    while let Some(Ok(chunk)) = body.data().await {
                        let _ = body.flow_control().release_capacity(chunk.len());
                    }
                    match path.as_str() {
                        "/ok" => {
                            let r = Response::builder()
                                .status(200)
                                .header("content-type", "application/grpc")
                                .header("date", "ignored")
                                .body(())
                                .unwrap();
                            let mut send = respond.send_response(r, false).unwrap();
                            send.send_data(Bytes::from_static(b"\0\0\0\0\x05hello"), false)
                                .unwrap();
                            let mut t = HeaderMap::new();
                            t.insert("grpc-status", "0".parse().unwrap());
                            send.send_trailers(t).unwrap();
                        }
                        "/fail" => {
                            let r = Response::builder()
                                .status(200)
                                .header("content-type", "application/grpc")
                                .header("grpc-status", "5")
                                .body(())
                                .unwrap();
                            let _ = respond.send_response(r, true);
                        }
                        _ => respond.send_reset(Reason::INTERNAL_ERROR),
                    }
                }
            });
        }
    });
    addr
}

fn request(path: &str) -> H2MirrorRequest {
    let r = H2Request {
        stream_id: 1,
        pseudo: PseudoHeaders {
            method: Bytes::from_static(b"POST"),
            scheme: Some(Bytes::from_static(b"http")),
            authority: Some(Bytes::from_static(b"foo.example:8080")),
            path: Some(Bytes::copy_from_slice(path.as_bytes())),
            protocol: None,
        },
        headers: vec![Field::new(&b"content-type"[..], &b"application/grpc"[..])],
        body: Bytes::from_static(b"\0\0\0\0\x02hi"),
        trailers: Vec::new(),
    };
    H2MirrorRequest::from_decoded(&r).unwrap()
}

#[tokio::test]
async fn h2_responses_are_summarised_and_reported() {
    let addr = server().await;
    let r = replayer(ReplayConfig {
        h2_connections: 1,
        ..test_config()
    });
    let id = backend("compared-h2");
    r.set_endpoints(&id, vec![addr]);
    let (tx, mut rx) = unbounded_channel();
    let spec = Arc::new(CompareSpec::new(CompareMode::Body));
    for (i, path) in ["/ok", "/fail", "/reset"].iter().enumerate() {
        let ticket = CompareTicket::new(PairId(i as u64), spec.clone(), tx.clone());
        r.submit_h2_tallied(&id, request(path).with_compare(ticket), None)
            .unwrap();
    }
    drop(tx);
    settled(&r, &id, 3).await;
    let mut got: Vec<(PairId, MirrorResult)> = Vec::new();
    while let Some(report) = rx.recv().await {
        got.push(report);
    }
    got.sort_by_key(|(p, _)| p.0);
    assert_eq!(got.len(), 3, "{got:?}");
    let summary = |i: usize| -> &ResponseSummary {
        match &got[i].1 {
            MirrorResult::Response(s) => s,
            MirrorResult::Failed => panic!("pair {i} failed"),
        }
    };
    let ok = summary(0);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, BodyDigest::of(b"\0\0\0\0\x05hello"));
    assert_eq!(ok.grpc_status.as_deref(), Some(&b"0"[..]));
    let names: Vec<&[u8]> = ok.headers.iter().map(|h| &h.name[..]).collect();
    assert_eq!(
        names,
        [&b"content-type"[..], b"grpc-status"],
        "the head's fields then the trailers', date ignored"
    );
    assert!(ok.latency > std::time::Duration::ZERO);
    let fail = summary(1);
    assert_eq!(fail.grpc_status.as_deref(), Some(&b"5"[..]));
    assert_eq!(fail.body, BodyDigest::of(b""));
    assert_eq!(got[2], (PairId(2), MirrorResult::Failed));
}
