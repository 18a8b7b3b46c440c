//! Runs both fuzz targets' logic over the committed corpus (every file with every selector
//! byte) and a few thousand pseudo-random inputs per direction: pieces glued at random, and
//! well-formed messages with a few bytes flipped, inserted or removed.
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

/// A xorshift generator.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a [u8]]) -> &'a [u8] {
        from[self.below(from.len())]
    }
}

fn iterations() -> usize {
    // SHADOWTAP_FUZZ_ITERS raises the count for a longer local run.
    std::env::var("SHADOWTAP_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Pieces glued at random: mostly garbage with HTTP/1 shapes in it.
fn glued(g: &mut Gen, pieces: &[&[u8]]) -> Vec<u8> {
    let mut data = vec![g.next() as u8];
    for _ in 0..g.below(24) {
        if g.below(5) == 0 {
            let n = g.below(12);
            data.extend((0..n).map(|_| g.next() as u8));
        } else {
            data.extend_from_slice(g.pick(pieces));
        }
    }
    data
}

/// A chunked body: a few chunks with random data and extensions, then trailers.
fn chunked_body(g: &mut Gen, out: &mut Vec<u8>) {
    for _ in 0..g.below(4) {
        let len = 1 + g.below(40);
        out.extend_from_slice(format!("{len:x}").as_bytes());
        out.extend_from_slice(g.pick(&[b"", b";a=b", b" ;x", b"; q=\"v\""]));
        out.extend_from_slice(b"\r\n");
        out.extend((0..len).map(|i| b'a' + (i % 26) as u8));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for _ in 0..g.below(3) {
        out.extend_from_slice(g.pick(&[b"X-Sum: 42\r\n", b"T:\r\n", b"Y: a b\r\n"]));
    }
    out.extend_from_slice(b"\r\n");
}

/// Well-formed messages, then a few random byte flips, insertions or deletions.
fn mutate(g: &mut Gen, mut data: Vec<u8>) -> Vec<u8> {
    if g.below(3) == 0 {
        for _ in 0..1 + g.below(3) {
            let at = 1 + g.below(data.len().max(2) - 1);
            match g.below(3) {
                0 if at < data.len() => data[at] = g.next() as u8,
                1 => data.insert(
                    at.min(data.len()),
                    g.pick(&[b"\n", b"\r", b" ", b":", b"0"])[0],
                ),
                _ if at < data.len() => {
                    data.remove(at);
                }
                _ => {}
            }
        }
    }
    data
}

fn structured_request(g: &mut Gen) -> Vec<u8> {
    let mut data = vec![g.next() as u8];
    data.extend_from_slice(g.pick(&[
        b"GET /a?b=1 HTTP/1.1\r\n",
        b"POST /p HTTP/1.1\r\n",
        b"PUT http://h/x HTTP/1.0\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
        b"CONNECT h:443 HTTP/1.1\r\n",
        b"BREW /pot HTTP/1.1\r\n",
    ]));
    let chunked = g.below(2) == 0;
    if chunked {
        data.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    for _ in 0..g.below(4) {
        data.extend_from_slice(g.pick(&[
            b"Host: app.example\r\n",
            b"Content-Length: 5\r\n",
            b"Connection: close\r\n",
            b"Transfer-Encoding: gzip\r\n",
            b"X-Empty:\r\n",
            b"Upgrade: h2c\r\n",
        ]));
    }
    data.extend_from_slice(b"\r\n");
    if chunked {
        chunked_body(g, &mut data);
    } else {
        data.extend_from_slice(b"hello");
    }
    mutate(g, data)
}

fn structured_response(g: &mut Gen) -> Vec<u8> {
    let mut data = vec![g.next() as u8];
    for _ in 0..g.below(3) {
        data.extend_from_slice(g.pick(&[
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
        ]));
    }
    data.extend_from_slice(g.pick(&[
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.0 200 OK\r\n",
        b"HTTP/1.1 204 No Content\r\n",
        b"HTTP/1.1 304 Not Modified\r\n",
        b"HTTP/1.1 500 Internal Server Error\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n",
    ]));
    let framing = g.below(3);
    match framing {
        0 => data.extend_from_slice(b"Content-Length: 5\r\n"),
        1 => data.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        _ => {}
    }
    for _ in 0..g.below(3) {
        data.extend_from_slice(g.pick(&[
            b"Connection: keep-alive\r\n",
            b"Connection: close\r\n",
            b"Server: x\r\n",
            b"Content-Length: 5\r\n",
        ]));
    }
    data.extend_from_slice(b"\r\n");
    if framing == 1 {
        chunked_body(g, &mut data);
    } else {
        data.extend_from_slice(b"hello");
    }
    data.extend_from_slice(g.pick(&[b"", b"HTTP/1.1 200 OK\r\n", b"junk"]));
    mutate(g, data)
}

fn pseudo_random(seed: u64, make: fn(&mut Gen) -> Vec<u8>, run: fn(&[u8])) {
    let mut g = Gen(seed);
    for _ in 0..iterations() {
        run(&make(&mut g));
    }
}

#[test]
fn pseudo_random_requests() {
    pseudo_random(
        0x9e37_79b9_7f4a_7c15,
        |g| glued(g, REQUEST_PIECES),
        fuzzing::request,
    );
    pseudo_random(0x2545_f491_4f6c_dd1d, structured_request, fuzzing::request);
}

#[test]
fn pseudo_random_responses() {
    pseudo_random(
        0x9e37_79b9_7f4a_7c15,
        |g| glued(g, RESPONSE_PIECES),
        fuzzing::response,
    );
    pseudo_random(
        0x2545_f491_4f6c_dd1d,
        structured_response,
        fuzzing::response,
    );
}
