//! Framing of the primary's responses: body delimitation, interim and bodiless responses,
//! what a summary keeps, latency.

mod support;

use std::time::Duration;

use shadowtap_compare::{BodyDigest, CompareMode, PrimaryResult, UnseenReason};
use shadowtap_wire::http1::Method;
use support::{chunked, cl, summary, Conn};

#[test]
fn content_length_chunked_and_close_delimited_bodies() {
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.req(Method::Get, Some(3));
    c.bytes(cl(200, "hello world").as_bytes());
    c.bytes(chunked(200, "hello world", 3).as_bytes());
    c.bytes(b"HTTP/1.1 200 OK\r\n\r\nhello world");
    assert_eq!(c.got(), [(1, Ok((200, 11))), (2, Ok((200, 11)))]);
    c.end(true);
    assert_eq!(
        c.got(),
        [(1, Ok((200, 11))), (2, Ok((200, 11))), (3, Ok((200, 11)))]
    );
    // The same body under three framings: one fingerprint.
    let want = BodyDigest::of(b"hello world");
    for e in &c.out {
        assert_eq!(summary(e).body, want, "pair {}", e.pair.0);
    }
}

#[test]
fn close_delimited_body_cut_by_reset_is_truncated() {
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.bytes(b"HTTP/1.1 200 OK\r\n\r\nhello");
    c.end(false);
    assert_eq!(c.got(), [(1, Err(UnseenReason::Truncated))]);
}

#[test]
fn interim_responses_are_skipped() {
    let mut c = Conn::new(CompareMode::Headers);
    c.req(Method::Post, Some(1));
    c.bytes(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
    assert!(c.got().is_empty());
    c.bytes(cl(201, "ok").as_bytes());
    assert_eq!(c.got(), [(1, Ok((201, 2)))]);
    let s = summary(&c.out[0]);
    assert!(
        s.headers.iter().all(|h| &*h.name != b"link"),
        "interim fields leak: {:?}",
        s.headers
    );
}

#[test]
fn head_204_and_304_have_no_body() {
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Head, Some(1));
    c.req(Method::Get, Some(2));
    c.req(Method::Get, Some(3));
    c.req(Method::Get, Some(4));
    // Content-Length on HEAD, 204 and 304 describes a body that is not sent.
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n");
    c.bytes(b"HTTP/1.1 204 No Content\r\nContent-Length: 50\r\n\r\n");
    c.bytes(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
    c.bytes(cl(200, "abc").as_bytes());
    assert_eq!(
        c.got(),
        [
            (1, Ok((200, 0))),
            (2, Ok((204, 0))),
            (3, Ok((304, 0))),
            (4, Ok((200, 3)))
        ]
    );
}

#[test]
fn switching_protocols_and_tunnels_end_http1() {
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
    );
    assert_eq!(
        c.got(),
        [(1, Ok((101, 0))), (2, Err(UnseenReason::ConnectionOver))]
    );
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Connect, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01 tls bytes");
    assert_eq!(
        c.got(),
        [(1, Ok((200, 0))), (2, Err(UnseenReason::ConnectionOver))]
    );
    // A refused CONNECT keeps HTTP/1.
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Connect, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(cl(403, "no").as_bytes());
    c.bytes(cl(200, "yes").as_bytes());
    assert_eq!(c.got(), [(1, Ok((403, 2))), (2, Ok((200, 3)))]);
}

#[test]
fn summaries_keep_what_the_mode_compares() {
    let resp = b"HTTP/1.1 200 OK\r\nDate: Mon\r\nServer: nginx\r\nContent-Type:  text/plain \r\nX-Request-Id: 42\r\nETag: \"a\"\r\nContent-Length: 3\r\n\r\nabc";
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Get, Some(1));
    c.bytes(resp);
    let s = summary(&c.out[0]);
    assert!(s.headers.is_empty());
    assert_eq!(s.body, BodyDigest::unhashed(3));

    let mut c = Conn::new(CompareMode::Headers);
    c.req(Method::Get, Some(1));
    c.bytes(resp);
    let s = summary(&c.out[0]);
    let names: Vec<_> = s
        .headers
        .iter()
        .map(|h| {
            (
                String::from_utf8_lossy(&h.name).into_owned(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("etag".to_owned(), "\"a\"".to_owned())
        ]
    );
    assert_eq!(s.body, BodyDigest::unhashed(3));

    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.bytes(resp);
    assert_eq!(summary(&c.out[0]).body, BodyDigest::of(b"abc"));
}

#[test]
fn primary_latency_is_request_end_to_final_head() {
    let mut c = Conn::new(CompareMode::Status);
    c.req_at(Method::Post, Some(1), 1_000);
    c.bytes_at(b"HTTP/1.1 100 Continue\r\n\r\n", 1_500);
    c.bytes_at(b"HTTP/1.1 200", 51_000);
    c.bytes_at(b" OK\r\nContent-Length: 0\r\n\r\n", 90_000);
    assert_eq!(summary(&c.out[0]).latency, Duration::from_nanos(50_000));
    // A response sent before the request's end (early reply) has no negative latency.
    let mut c = Conn::new(CompareMode::Status);
    c.req_at(Method::Post, Some(1), 10_000);
    c.bytes_at(cl(413, "").as_bytes(), 5_000);
    assert_eq!(summary(&c.out[0]).latency, Duration::ZERO);
}

#[test]
fn large_bodies_are_never_held() {
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    let n = 8 << 20;
    c.bytes(format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes());
    let piece = vec![b'z'; 64 << 10];
    for _ in 0..(n / piece.len()) {
        c.bytes(&piece);
        assert!(
            c.pairing.held_bytes() < 16 << 10,
            "holds {}",
            c.pairing.held_bytes()
        );
    }
    assert_eq!(c.got(), [(1, Ok((200, n as u64)))]);
    assert_eq!(summary(&c.out[0]).body, BodyDigest::of(&vec![b'z'; n]));
}

#[test]
fn elided_bytes_inside_length_bodies_are_skipped() {
    let mut c = Conn::new(CompareMode::Headers);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes ");
    c.elided(988);
    c.bytes(cl(404, "gone").as_bytes());
    assert_eq!(c.got(), [(1, Ok((200, 1000))), (2, Ok((404, 4)))]);
    // Uncopied bytes where a head lies: the pairing stops rather than guess.
    let mut c = Conn::new(CompareMode::Headers);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
    c.elided(30);
    c.bytes(cl(404, "gone").as_bytes());
    assert_eq!(
        c.got(),
        [(1, Ok((200, 10))), (2, Err(UnseenReason::Elided))]
    );
    // In a chunked body.
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Get, Some(1));
    c.bytes(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.elided(10);
    assert_eq!(c.got(), [(1, Err(UnseenReason::Elided))]);
    // A body mode summary with uncopied bytes is not hashed.
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    c.elided(7);
    assert!(
        matches!(&c.out[0].result, PrimaryResult::Response(s) if s.body == BodyDigest::unhashed(10))
    );
}
