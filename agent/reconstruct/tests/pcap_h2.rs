//! A real gRPC exchange captured with tcpdump (`tests/fixtures/grpc_h2c.pcap`, made by
//! `tests/harness/grpc/capture_fixture.sh`: Python grpcio client and server over h2c on
//! three connections, and one HTTP/1.1 GET in the same file) decodes to exactly the calls
//! the client reported sending (`grpc_h2c.calls.jsonl`): same method, same call id, and the
//! same request messages by SHA-256, recomputed here from the decoded gRPC framing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use shadowtap_reconstruct::pcap::{decode_pcap, decode_pcap_all, Captured};
use shadowtap_reconstruct::{Config, Counter, H2FlowRequest};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// One call as the client reported it.
#[derive(Debug, PartialEq, Eq)]
struct Call {
    call: String,
    method: String,
    messages: u64,
    bytes: u64,
    sha256: String,
}

fn client_calls() -> Vec<Call> {
    std::fs::read_to_string(fixture("grpc_h2c.calls.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Call {
                call: v["call"].as_str().unwrap().to_owned(),
                method: v["method"].as_str().unwrap().to_owned(),
                messages: v["messages"].as_u64().unwrap(),
                bytes: v["bytes"].as_u64().unwrap(),
                sha256: v["sha256"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The call a decoded request carries: its messages split at the gRPC length prefixes
/// (flag byte, 4-byte big-endian length), fingerprinted as the client does (SHA-256 over
/// each message with a 4-byte big-endian length before it). `None` if the body is not a
/// whole sequence of uncompressed gRPC messages.
fn decoded_call(r: &H2FlowRequest) -> Option<Call> {
    let q = &r.request;
    let field = |name: &str| {
        q.header_values(name)
            .next()
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(field("content-type").as_deref(), Some("application/grpc"));
    let path = String::from_utf8_lossy(q.pseudo.path.as_deref()?).into_owned();
    let method = path.strip_prefix("/shadowtap.test.Echo/")?.to_owned();
    let mut body = &q.body[..];
    let (mut h, mut messages, mut bytes) = (Sha256::new(), 0, 0);
    while !body.is_empty() {
        if body.len() < 5 || body[0] != 0 {
            return None;
        }
        let len = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
        let msg = body.get(5..5 + len)?;
        h.update((len as u32).to_be_bytes());
        h.update(msg);
        messages += 1;
        bytes += len as u64;
        body = &body[5 + len..];
    }
    Some(Call {
        call: field("x-call-id")?,
        method,
        messages,
        bytes,
        sha256: hex(&h.finalize()),
    })
}

#[test]
fn a_captured_grpc_exchange_decodes_to_the_calls_sent() {
    let (all, counters) = decode_pcap_all(&fixture("grpc_h2c.pcap"), &Config::default()).unwrap();
    let mut calls = Vec::new();
    let mut http1 = Vec::new();
    for r in &all {
        match r {
            Captured::Http2(r) => calls.push(decoded_call(r).expect("a whole gRPC request")),
            Captured::Http1(r) => http1.push(String::from_utf8_lossy(r.target()).into_owned()),
        }
    }
    assert_eq!(
        calls,
        client_calls(),
        "every call, in order, with its messages"
    );
    assert_eq!(http1, ["/plain"], "the HTTP/1.1 request of the same file");
    let h2 = &counters.h2;
    assert_eq!(h2.get(shadowtap_h2::Counter::H2Connections), 3);
    assert_eq!(h2.get(shadowtap_h2::Counter::H2Midstream), 0);
    assert_eq!(h2.streams_dropped(), 0);
    assert!(h2.check_conservation(0), "{h2:?}");
    let c = &counters.reconstruct;
    assert_eq!(c.get(Counter::Gaps), 0);
    assert!(c.check_conservation(0), "{c:?}");
    // The HTTP/1-only view of the same file is unchanged: its one HTTP/1.1 request.
    let (reqs, _) = decode_pcap(&fixture("grpc_h2c.pcap"), &Config::default()).unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].target(), b"/plain");
}

/// The file cut at every 97th byte (tcpdump killed mid-write): whatever is decoded is a
/// call the client sent, whole — a cut never yields a partial or spliced request.
#[test]
fn a_cut_capture_yields_only_whole_calls() {
    let bytes = std::fs::read(fixture("grpc_h2c.pcap")).unwrap();
    let sent = client_calls();
    let dir = std::env::temp_dir().join(format!("shadowtap-pcap-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut_file = dir.join("cut.pcap");
    let mut seen_partial_files = 0;
    for cut in (24..bytes.len()).step_by(97) {
        std::fs::write(&cut_file, &bytes[..cut]).unwrap();
        let (all, counters) = decode_pcap_all(&cut_file, &Config::default()).unwrap();
        let calls: Vec<Call> = all
            .iter()
            .filter_map(|r| match r {
                Captured::Http2(r) => Some(decoded_call(r).expect("a whole gRPC request")),
                Captured::Http1(_) => None,
            })
            .collect();
        for c in &calls {
            assert!(sent.contains(c), "cut at {cut}: {c:?} is not a call sent");
        }
        if calls.len() < sent.len() {
            seen_partial_files += 1;
        }
        assert!(counters.h2.check_conservation(0), "cut at {cut}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        seen_partial_files > 0,
        "some cuts lost calls (the test can fail)"
    );
}
