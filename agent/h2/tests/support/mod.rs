//! Helpers shared by shadowtap-h2's tests: a client-side frame writer (with its own HPACK
//! encoder state) and one-shot / split decoding.
#![allow(dead_code)]

use shadowtap_h2::{Counters, H2Decoder, H2Request, Limits, Start};

pub use shadowtap_h2::client_bytes::{ClientBytes as Client, HeadersOpts};

/// Decode `bytes` in one push, then finish.
pub fn one_shot(bytes: &[u8], start: Start, limits: Limits) -> (Vec<H2Request>, Counters) {
    split(bytes, &[], start, limits)
}

/// Decode `bytes` cut at `cuts` (ascending offsets), then finish.
pub fn split(
    bytes: &[u8],
    cuts: &[usize],
    start: Start,
    limits: Limits,
) -> (Vec<H2Request>, Counters) {
    let mut d = H2Decoder::new(start, limits);
    let mut out = Vec::new();
    let mut at = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        let c = c.clamp(at, bytes.len());
        d.push(&bytes[at..c], &mut out);
        at = c;
    }
    let open = d.open_streams() as u64;
    assert!(
        d.counters().check_conservation(open),
        "conservation: {:?} with {open} open",
        d.counters()
    );
    d.finish();
    assert!(d.counters().check_conservation(0));
    (out, d.counters().clone())
}

/// Default limits, prior knowledge, one push.
pub fn decode(bytes: &[u8]) -> (Vec<H2Request>, Counters) {
    one_shot(bytes, Start::PriorKnowledge, Limits::default())
}
