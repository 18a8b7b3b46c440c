//! The fuzz entry points (`shadowtap_compare::fuzzing`) over the committed corpus and a few
//! thousand generated inputs, on every `cargo test`: valid pipelined streams with every
//! selector byte, and random bytes.

use std::path::Path;

use shadowtap_compare::fuzzing;

mod support;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
}

#[test]
fn pairing_corpus_with_every_selector() {
    let files = corpus("pairing");
    assert!(!files.is_empty(), "empty corpus");
    for data in files {
        for sel in 0..=255u8 {
            let mut input = vec![sel];
            input.extend_from_slice(data.get(1..).unwrap_or_default());
            fuzzing::pairing(&input);
        }
    }
}

#[test]
fn pairing_generated_streams() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let parts = [
        support::cl(200, "hello"),
        support::chunked(201, "chunked body", 4),
        "HTTP/1.1 100 Continue\r\n\r\n".to_owned(),
        "HTTP/1.1 204 No Content\r\n\r\n".to_owned(),
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n".to_owned(),
        "HTTP/1.1 101 Switching Protocols\r\n\r\n".to_owned(),
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx".to_owned(),
        "HTTP/1.1 200 OK\r\n\r\nuntil close".to_owned(),
        "\r\n".to_owned(),
        "garbage".to_owned(),
    ];
    for _ in 0..3000 {
        let mut input = vec![(next() & 0xff) as u8];
        for _ in 0..next() % 8 {
            let p = &parts[(next() % parts.len() as u64) as usize];
            input.extend_from_slice(p.as_bytes());
        }
        fuzzing::pairing(&input);
        let n = (next() % 200) as usize;
        let random: Vec<u8> = (0..n).map(|_| (next() & 0xff) as u8).collect();
        fuzzing::pairing(&random);
        fuzzing::comparator(&random);
    }
}

#[test]
fn comparator_corpus() {
    for data in corpus("comparator") {
        fuzzing::comparator(&data);
    }
}
