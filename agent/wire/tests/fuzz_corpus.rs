//! Runs both fuzz targets' logic over the committed corpus (every file with every selector
//! byte) and a few thousand pseudo-random inputs.
#![allow(clippy::unwrap_used, missing_docs)]

use shadowtap_wire::fuzzing;

fn corpus(dir: &str, run: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(dir);
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        for selector in 0..=255u8 {
            let mut d = data.clone();
            d[0] = selector;
            run(&d);
        }
        n += 1;
    }
    n
}

#[test]
fn committed_request_corpus() {
    assert!(corpus("request", fuzzing::request) >= 6);
}

#[test]
fn committed_response_corpus() {
    assert!(corpus("response", fuzzing::response) >= 6);
}

const REQUEST_PIECES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"POST /p HTTP/1.1\r\n",
    b"OPTIONS * HTTP/1.0\r\n",
    b"Host: a\r\n",
    b"Content-Length: 5\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"\r\n",
    b"5\r\nhello\r\n",
    b"3;e=1\r\n",
    b"0\r\n",
    b"T: 1\r\n",
    b"\n",
    b" ",
    b":",
    b"ffffffffffffffffff\r\n",
    b"PRI * HTTP/2.0\r\n",
    b"x",
    b"\x00\xff",
];

const RESPONSE_PIECES: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n",
    b"HTTP/1.0 204 No Content\r\n",
    b"HTTP/1.1 101 Switching\r\n",
    b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: keep-alive\r\n",
    b"\r\n",
    b"abc",
    b"3\r\nabc\r\n",
    b"0\r\n",
    b"T: 1\r\n",
    b"\n",
    b" ",
    b"fffffffffffffffff\r\n",
    b"x",
    b"\x00\xff",
];

fn pseudo_random(pieces: &[&[u8]], run: fn(&[u8])) {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    // SHADOWTAP_FUZZ_ITERS raises the count for a longer local run.
    let iters = std::env::var("SHADOWTAP_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    for _ in 0..iters {
        let mut data = vec![next() as u8];
        let parts = next() % 24;
        for _ in 0..parts {
            if next() % 5 == 0 {
                let n = next() % 12;
                data.extend((0..n).map(|_| next() as u8));
            } else {
                data.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
            }
        }
        run(&data);
    }
}

#[test]
fn pseudo_random_requests() {
    pseudo_random(REQUEST_PIECES, fuzzing::request);
}

#[test]
fn pseudo_random_responses() {
    pseudo_random(RESPONSE_PIECES, fuzzing::response);
}
