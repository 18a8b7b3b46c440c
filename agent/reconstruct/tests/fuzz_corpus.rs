//! Runs the fuzz logic over the committed corpus and a few thousand pseudo-random inputs.
#![allow(clippy::unwrap_used)]

use shadowtap_reconstruct::fuzzing;

#[test]
fn committed_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/reconstruct");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        for selector in 0..64u8 {
            let mut d = data.clone();
            d[0] = selector;
            fuzzing::run(&d);
        }
        fuzzing::run_records(&data);
        n += 1;
    }
    assert!(n >= 5);
}

const PIECES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\n",
    b"POST /p HTTP/1.1\r\n",
    b"Host: a\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"\r\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"HTTP/1.0",
    b"\n",
    b" ",
    b"PRI * HTTP/2.0\r\n",
    b"Upgrade: x\r\n",
    b"CONNECT a:1 HTTP/1.1\r\n",
    b"ffffffffffffffffff\r\n",
    b"GET ",
    b"x",
    b"\x00\xff",
];

#[test]
fn pseudo_random_inputs() {
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
        let parts = next() % 40;
        for _ in 0..parts {
            if next() % 4 == 0 {
                let n = next() % 16;
                data.extend((0..n).map(|_| next() as u8));
            } else {
                data.extend_from_slice(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
        }
        fuzzing::run(&data);
        fuzzing::run_records(&data);
    }
}
