//! Pairing by order on one connection: keep-alive and pipelined sequences, responses of
//! requests that were not mirrored, and hostile response streams (bad framing, truncation,
//! early close, gaps, orphan bytes) that are counted and never give a response to the wrong
//! request.

mod support;

use shadowtap_compare::{CompareMode, Counter, PairingLimits, UnseenReason, UNSEEN_REASONS};
use shadowtap_wire::http1::Method;
use support::{chunked, cl, Conn};

#[test]
fn keep_alive_request_response_turns() {
    let mut c = Conn::new(CompareMode::Body);
    for i in 0..5u16 {
        let mirrored = (i % 2 == 0).then_some(u64::from(i));
        c.req(Method::Get, mirrored);
        c.bytes(cl(200 + i, &"x".repeat(usize::from(i))).as_bytes());
    }
    assert_eq!(
        c.got(),
        [(0, Ok((200, 0))), (2, Ok((202, 2))), (4, Ok((204, 0)))]
    );
    assert_eq!(c.counters.get(Counter::ResponsesFramed), 5);
    assert_eq!(c.counters.get(Counter::ResponsesUnmirrored), 2);
    assert_eq!(c.counters.get(Counter::ResponsesSummarised), 3);
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut c = Conn::new(CompareMode::Body);
    let methods = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Get,
        Method::Delete,
    ];
    for (i, m) in methods.iter().enumerate() {
        c.req(*m, (i != 2).then_some(i as u64));
    }
    let stream = [
        cl(200, "zero"),
        "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n".to_owned(),
        chunked(201, "created!", 3),
        "HTTP/1.1 100 Continue\r\n\r\n".to_owned() + &cl(404, "none"),
        chunked(202, "", 1),
    ]
    .concat();
    // All at once, and byte by byte.
    c.bytes(stream.as_bytes());
    let whole = c.got();
    assert_eq!(
        whole,
        [
            (0, Ok((200, 4))),
            (1, Ok((200, 0))),
            (3, Ok((404, 4))),
            (4, Ok((202, 0)))
        ]
    );
    let mut c = Conn::new(CompareMode::Body);
    for (i, m) in methods.iter().enumerate() {
        c.req(*m, (i != 2).then_some(i as u64));
    }
    for b in stream.as_bytes() {
        c.bytes(std::slice::from_ref(b));
    }
    assert_eq!(c.got(), whole);
}

#[test]
fn responses_before_their_request_is_decoded_wait() {
    // Capture order across directions is not wire order: a response may be fed before the
    // decoder has emitted its request.
    let mut c = Conn::new(CompareMode::Status);
    c.bytes(cl(200, "early").as_bytes());
    assert!(c.got().is_empty());
    c.req(Method::Get, Some(7));
    assert_eq!(c.got(), [(7, Ok((200, 5)))]);
    // More than a head's worth with no request: given up, counted.
    let limits = PairingLimits {
        response: shadowtap_wire::http1::ResponseLimits {
            max_head_bytes: 64,
            ..Default::default()
        },
        ..PairingLimits::default()
    };
    let mut c = Conn::with_limits(CompareMode::Status, limits);
    c.bytes(&[b'x'; 65]);
    c.req(Method::Get, Some(1));
    assert_eq!(c.got(), [(1, Err(UnseenReason::OrphanBytes))]);
}

#[test]
fn bad_framing_stops_the_connection() {
    let cases: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        b"HTTP/1.1 999 Nope\r\n\r\n",
        b"garbage that is not a status line\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n",
    ];
    for bad in cases {
        let mut c = Conn::new(CompareMode::Body);
        c.req(Method::Get, Some(1));
        c.req(Method::Get, Some(2));
        c.req(Method::Get, None);
        c.bytes(cl(200, "ok").as_bytes());
        c.bytes(bad);
        // What follows looks like a fine response: it must not be given to request 3 or 4.
        c.bytes(cl(200, "looks fine").as_bytes());
        c.req(Method::Get, Some(4));
        c.bytes(cl(200, "looks fine").as_bytes());
        assert_eq!(
            c.got(),
            [
                (1, Ok((200, 2))),
                (2, Err(UnseenReason::BadFraming)),
                (4, Err(UnseenReason::BadFraming))
            ],
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(c.pairing.stopped(), Some(UnseenReason::BadFraming));
        assert_eq!(c.counters.get(Counter::UnseenBadFraming), 2);
        assert!(c.counters.get(Counter::BytesIgnored) > 0);
    }
}

#[test]
fn oversized_heads_stop_the_connection() {
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Get, Some(1));
    c.bytes(b"HTTP/1.1 200 OK\r\n");
    for _ in 0..2000 {
        c.bytes(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(c.got(), [(1, Err(UnseenReason::BadFraming))]);
    assert!(c.pairing.held_bytes() < 4096, "{}", c.pairing.held_bytes());
}

#[test]
fn truncated_and_early_close() {
    // Closed in the middle of a body: that request truncated, the later ones never answered.
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.req(Method::Get, Some(3));
    c.bytes(cl(200, "a").as_bytes());
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    c.end(true);
    assert_eq!(
        c.got(),
        [
            (1, Ok((200, 1))),
            (2, Err(UnseenReason::Truncated)),
            (3, Err(UnseenReason::NoResponse))
        ]
    );
    // Closed in the middle of a head.
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Le");
    c.end(true);
    assert_eq!(c.got(), [(1, Err(UnseenReason::Truncated))]);
    // Closed before any response; a request decoded after the close.
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.end(false);
    c.req(Method::Get, Some(2));
    assert_eq!(
        c.got(),
        [
            (1, Err(UnseenReason::NoResponse)),
            (2, Err(UnseenReason::NoResponse))
        ]
    );
}

#[test]
fn connection_close_ends_pairing_after_that_response() {
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    c.bytes(cl(200, "never processed").as_bytes());
    assert_eq!(
        c.got(),
        [(1, Ok((503, 0))), (2, Err(UnseenReason::ConnectionOver))]
    );
    // HTTP/1.0 without keep-alive likewise.
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        c.got(),
        [(1, Ok((200, 0))), (2, Err(UnseenReason::ConnectionOver))]
    );
}

#[test]
fn a_gap_makes_this_and_every_later_response_unseen() {
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.req(Method::Get, Some(3));
    c.bytes(cl(200, "one").as_bytes());
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
    c.gap(5);
    c.bytes(b"abc");
    c.bytes(cl(200, "three").as_bytes());
    c.req(Method::Get, Some(4));
    c.bytes(cl(200, "four").as_bytes());
    assert_eq!(
        c.got(),
        [
            (1, Ok((200, 3))),
            (2, Err(UnseenReason::Gap)),
            (3, Err(UnseenReason::Gap)),
            (4, Err(UnseenReason::Gap))
        ]
    );
    // A gap between responses is no safer: the lost bytes may hold whole responses.
    let mut c = Conn::new(CompareMode::Body);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.bytes(cl(200, "one").as_bytes());
    c.gap(40);
    c.bytes(cl(200, "two").as_bytes());
    assert_eq!(c.got(), [(1, Ok((200, 3))), (2, Err(UnseenReason::Gap))]);
}

#[test]
fn a_lost_request_stream_keeps_earlier_pairs_only() {
    let mut c = Conn::new(CompareMode::Status);
    c.req(Method::Get, Some(1));
    c.req(Method::Get, Some(2));
    c.pairing.requests_lost(&mut c.out, &mut c.counters);
    c.req(Method::Get, Some(3));
    c.bytes(cl(200, "one").as_bytes());
    c.bytes(cl(201, "two").as_bytes());
    c.bytes(cl(202, "of a lost request").as_bytes());
    c.bytes(cl(203, "three").as_bytes());
    assert_eq!(
        c.got(),
        [
            (3, Err(UnseenReason::RequestsLost)),
            (1, Ok((200, 3))),
            (2, Ok((201, 3)))
        ]
    );
    assert_eq!(c.pairing.stopped(), Some(UnseenReason::RequestsLost));
}

#[test]
fn queue_limit() {
    let limits = PairingLimits {
        max_queued: 4,
        ..PairingLimits::default()
    };
    let mut c = Conn::with_limits(CompareMode::Status, limits);
    for i in 0..5 {
        c.req(Method::Get, Some(i));
    }
    let got = c.got();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|(_, r)| *r == Err(UnseenReason::QueueFull)));
}

#[test]
fn each_unseen_is_counted_once() {
    let mut c = Conn::new(CompareMode::Status);
    for i in 0..6 {
        c.req(Method::Get, Some(i));
    }
    c.bytes(cl(200, "").as_bytes());
    c.bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    c.gap(1);
    c.end(true);
    c.req(Method::Get, Some(9));
    let unseen = c.got().iter().filter(|(_, r)| r.is_err()).count() as u64;
    assert_eq!(unseen, 6);
    assert_eq!(c.counters.sum(UNSEEN_REASONS), unseen);
    assert_eq!(c.counters.get(Counter::ConnectionsStopped), 1);
}
