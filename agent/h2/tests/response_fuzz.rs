//! The server→client decoder's fuzz logic (`shadowtap_h2::fuzzing_response`) over the
//! committed corpus (every file with every seed byte) and a few thousand generated
//! sessions with bytes flipped, inserted or removed.

use shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
use shadowtap_h2::frame::FrameType;
use shadowtap_h2::fuzzing_response::response;

#[test]
fn committed_response_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/response");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let mut data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        if data.is_empty() {
            continue;
        }
        for seed in 0..=255u8 {
            data[0] = seed;
            response(&data);
        }
        n += 1;
    }
    assert!(n >= 5, "{n} corpus files");
}

fn session(seed: u64) -> Vec<u8> {
    let mut s = ClientBytes::without_preface();
    s.frame(FrameType::Settings, 0, 0, &[]);
    let n = 1 + (seed % 4) as u32;
    for i in 0..n {
        let id = 2 * i + 1;
        let status = (200 + seed % 300).to_string();
        s.headers(
            id,
            &[(":status", &status), ("x-seed", &seed.to_string())],
            HeadersOpts {
                pad: seed.is_multiple_of(3).then_some(2),
                fragment: seed.is_multiple_of(5).then_some(4),
                ..HeadersOpts::default()
            },
        );
    }
    for i in 0..n {
        let id = 2 * i + 1;
        if (seed + u64::from(i)).is_multiple_of(4) {
            s.rst(id);
        } else {
            s.data(
                id,
                &vec![b'a'; (seed % 40) as usize],
                false,
                seed.is_multiple_of(2).then_some(3),
            );
            s.headers(
                id,
                &[("grpc-status", "0")],
                HeadersOpts {
                    end_stream: true,
                    ..HeadersOpts::default()
                },
            );
        }
    }
    s.bytes
}

#[test]
fn mutated_sessions() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..3_000u64 {
        let mut data = vec![(next() & 0xff) as u8];
        data.extend(session(i));
        match next() % 4 {
            0 => {}
            1 => {
                let at = 1 + (next() as usize) % (data.len() - 1);
                data[at] ^= 1 << (next() % 8);
            }
            2 => {
                let at = 1 + (next() as usize) % (data.len() - 1);
                data.insert(at, (next() & 0xff) as u8);
            }
            _ => {
                let at = 1 + (next() as usize) % (data.len() - 1);
                data.remove(at);
            }
        }
        response(&data);
    }
}
