//! Runs both fuzz targets' logic over the committed corpus (every file with every selector
//! byte) and a few thousand pseudo-random inputs: generated conversations with bytes
//! flipped, inserted or removed.

mod support;

use shadowtap_h2::fuzzing;
use support::{Client, HeadersOpts};

fn corpus(dir: &str, run: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(dir);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        if data.is_empty() {
            continue;
        }
        for selector in 0..=15u8 {
            let mut d = data.clone();
            d[0] = selector;
            run(&d);
        }
        n += 1;
    }
    n
}

#[test]
fn committed_connection_corpus() {
    assert!(corpus("connection", fuzzing::connection) >= 4);
}

#[test]
fn committed_hpack_corpus() {
    assert!(corpus("hpack", fuzzing::hpack) >= 4);
}

#[test]
fn committed_huffman_corpus() {
    assert!(corpus("huffman", fuzzing::huffman) >= 4);
}

fn sample_conversation(seed: u64) -> Vec<u8> {
    let mut c = Client::new();
    let n = 1 + (seed % 4) as u32;
    for i in 0..n {
        let id = 2 * i + 1;
        c.headers(
            id,
            &[
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", "a.example"),
                (":path", "/p"),
                ("x-seed", &seed.to_string()),
            ],
            HeadersOpts {
                pad: seed.is_multiple_of(3).then_some(2),
                fragment: seed.is_multiple_of(5).then_some(4),
                ..HeadersOpts::default()
            },
        );
    }
    for i in 0..n {
        c.data(
            2 * i + 1,
            b"payload",
            i % 2 == 0,
            seed.is_multiple_of(2).then_some(1),
        );
    }
    for i in (0..n).filter(|i| i % 2 == 1) {
        c.headers(
            2 * i + 1,
            &[("t", "1")],
            HeadersOpts {
                end_stream: true,
                ..HeadersOpts::default()
            },
        );
    }
    c.bytes
}

#[test]
fn mutated_conversations() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..3000u64 {
        let mut bytes = sample_conversation(round);
        let edits = next() % 4;
        for _ in 0..edits {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] ^= 1 << (next() % 8),
                1 => bytes.insert(at, next() as u8),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let selector = (round % 16) as u8;
        let input = [&[selector][..], &bytes].concat();
        fuzzing::connection(&input);
        fuzzing::hpack(&[&[selector][..], &bytes[24..]].concat());
    }
}
