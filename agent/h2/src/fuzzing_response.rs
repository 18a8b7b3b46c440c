//! Fuzzing entry point of the server→client decoder ([`H2ResponseDecoder`]), shared by the
//! cargo-fuzz target `fuzz/fuzz_targets/response.rs` and the test suite (which runs it over
//! a committed corpus and pseudo-random inputs).
//!
//! [`response`] (the server bytes of one connection; the first byte seeds where the input
//! is cut and where a loss falls):
//! - pushed whole or in pieces, the events are the same (DATA merged per stream);
//! - the bytes held stay within the header block limit (plus a frame header);
//! - with a gap or an uncopied range, every head, trailer block and reset emitted is one the
//!   lossless run emitted, and no stream that lost bytes is ended as if whole.
//!
//! A panic is a finding: the decoder panicked, or one of these invariants failed.

use bytes::Bytes;

use crate::response::{H2ResponseDecoder, ServerEvent};
use crate::Limits;

fn limits() -> Limits {
    Limits {
        max_header_list_bytes: 512,
        max_header_block_bytes: 256,
        ..Limits::default()
    }
}

/// Events with each stream's consecutive DATA merged and empty DATA left out.
fn merged(events: Vec<ServerEvent>) -> Vec<ServerEvent> {
    let mut out: Vec<ServerEvent> = Vec::new();
    for e in events {
        if let ServerEvent::Data { stream_id, bytes } = &e {
            if bytes.is_empty() {
                continue;
            }
            if let Some(ServerEvent::Data {
                stream_id: last,
                bytes: prev,
            }) = out.last_mut()
            {
                if last == stream_id {
                    let mut v = prev.to_vec();
                    v.extend_from_slice(bytes);
                    *prev = Bytes::from(v);
                    continue;
                }
            }
        }
        out.push(e);
    }
    out
}

fn held_ok(d: &H2ResponseDecoder, limits: &Limits) {
    let bound = limits.max_header_block_bytes * 2 + 64;
    assert!(
        d.held_bytes() <= bound,
        "held {} bytes, bound {bound}",
        d.held_bytes()
    );
}

/// One fuzz input: see the module docs.
pub fn response(data: &[u8]) {
    let Some((&seed, bytes)) = data.split_first() else {
        return;
    };
    let limits = limits();
    let whole = {
        let mut d = H2ResponseDecoder::new(limits.clone());
        let mut out = Vec::new();
        d.push(&Bytes::copy_from_slice(bytes), &mut out);
        held_ok(&d, &limits);
        merged(out)
    };
    // Cut in pieces of 1..=16 bytes, the sizes driven by the seed.
    let mut d = H2ResponseDecoder::new(limits.clone());
    let mut out = Vec::new();
    let mut at = 0;
    let mut s = u32::from(seed) | 1;
    while at < bytes.len() {
        s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = (1 + (s >> 16) as usize % 16).min(bytes.len() - at);
        d.push(&Bytes::copy_from_slice(&bytes[at..at + n]), &mut out);
        held_ok(&d, &limits);
        at += n;
    }
    assert_eq!(merged(out), whole, "cut in pieces");
    if bytes.is_empty() {
        return;
    }
    // A loss at a place and of a length the seed picks.
    let from = usize::from(seed) * 7 % bytes.len();
    let len = (1 + usize::from(seed) % 13).min(bytes.len() - from);
    let mut d = H2ResponseDecoder::new(limits);
    let mut out = Vec::new();
    d.push(&Bytes::copy_from_slice(&bytes[..from]), &mut out);
    if seed & 0x80 == 0 {
        d.push_gap(Some(len as u64), &mut out);
    } else {
        d.push_elided(len as u64, &mut out);
    }
    d.push(&Bytes::copy_from_slice(&bytes[from + len..]), &mut out);
    let mut lost = Vec::new();
    for e in merged(out) {
        match &e {
            ServerEvent::Headers { .. } | ServerEvent::Reset { .. } => {
                assert!(whole.contains(&e), "{e:?} not in the lossless run");
            }
            ServerEvent::StreamLost { stream_id, .. } => lost.push(*stream_id),
            ServerEvent::EndStream { stream_id } => {
                assert!(
                    !lost.contains(stream_id),
                    "stream {stream_id} ended after a loss"
                );
            }
            _ => {}
        }
    }
}
