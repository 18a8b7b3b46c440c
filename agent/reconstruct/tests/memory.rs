//! What idle flows really hold, measured with a counting global allocator: a flow whose last
//! segment carried a 60 KB request costs about what a flow whose last request was small costs,
//! whatever way the request arrived, and the in-flight budget counts what is held.
//!
//! One test in this binary (the allocator counts every thread's allocations).
#![allow(clippy::unwrap_used)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use shadowtap_reconstruct::{Reconstructor, Request};
use support::*;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

#[allow(unsafe_code)]
// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const FLOWS: u16 = 300;

fn post(body: usize) -> Vec<u8> {
    let mut r =
        format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {body}\r\n\r\n").into_bytes();
    r.resize(r.len() + body, b'b');
    r
}

fn get() -> Vec<u8> {
    b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()
}

/// How each flow's last request reaches the pipeline.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// Segments of `mss` bytes.
    Segments(usize),
    /// One segment holding the request and the first bytes of the next one.
    OneSegmentWithTail,
}

/// Live heap bytes per idle flow after `FLOWS` flows each sent `request` shaped as `shape`;
/// `keep` says which emitted requests the caller still holds, as
/// [`Request::detached_raw`] (the rest are dropped).
fn per_flow(request: &[u8], shape: Shape, keep: impl Fn(&Request) -> bool) -> (isize, usize) {
    let mut r = Reconstructor::new(Default::default());
    // Warm up the flow table's growth and the pipeline's own buffers.
    let _ = r.push(syn(flow(5_000), ISN, 1)).count();
    let mut kept = Vec::new();
    let before = LIVE.load(Ordering::Relaxed);
    for n in 0..FLOWS {
        let f = flow(n);
        kept.extend(
            r.push(syn(f, ISN, 1))
                .filter(&keep)
                .map(|q| q.detached_raw()),
        );
        let mut seq = ISN + 1;
        match shape {
            Shape::Segments(mss) => {
                for c in request.chunks(mss) {
                    kept.extend(
                        r.push(data(f, seq, 2, c))
                            .filter(&keep)
                            .map(|q| q.detached_raw()),
                    );
                    seq = seq.wrapping_add(c.len() as u32);
                }
            }
            Shape::OneSegmentWithTail => {
                let mut seg = request.to_vec();
                seg.extend_from_slice(b"GET /next HTTP/1.1\r\nHo");
                kept.extend(
                    r.push(data(f, seq, 2, &seg))
                        .filter(&keep)
                        .map(|q| q.detached_raw()),
                );
            }
        }
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    let kept_bytes: usize = kept.iter().map(|b: &bytes::Bytes| b.len()).sum();
    let inflight = r.inflight_bytes();
    drop(kept);
    let _ = r.flush().count();
    ((held - kept_bytes as isize) / FLOWS as isize, inflight)
}

#[test]
fn idle_flows_cost_the_same_whatever_their_last_request() {
    let none = |_: &Request| false;
    let (small, _) = per_flow(&get(), Shape::Segments(1448), none);
    assert!(small < 2_048, "an idle flow costs {small} B");
    let big = post(60_000);
    for shape in [Shape::Segments(1448), Shape::Segments(16_384)] {
        let (cost, inflight) = per_flow(&big, shape, none);
        assert!(
            cost < small + 1_024,
            "idle flow after a 60 KB request in {shape:?}: {cost} B against {small} B"
        );
        assert_eq!(inflight, 0, "nothing in progress, nothing charged");
    }
    // The next request's first bytes stay: copied out of the 60 KB segment, and charged.
    let (cost, inflight) = per_flow(&big, Shape::OneSegmentWithTail, none);
    assert!(
        cost < small + 1_024,
        "a 22-byte remainder of a 60 KB segment costs {cost} B per flow"
    );
    assert!(
        inflight >= 22 * usize::from(FLOWS) && inflight <= 2 * 22 * usize::from(FLOWS),
        "remainders charged {inflight} B"
    );
    // A small request kept (queued for replay, say) does not keep its 60 KB segment alive:
    // emitted as a slice that says what it pins, it is copied out when kept.
    let mut pipelined = get();
    pipelined.extend_from_slice(&big);
    let mut r = Reconstructor::new(Default::default());
    let _ = r.push(syn(flow(1), ISN, 1)).count();
    let emitted: Vec<Request> = r.push(data(flow(1), ISN + 1, 2, &pipelined)).collect();
    let the_get = emitted.iter().find(|q| q.len() < 1_000).expect("the GET");
    assert!(
        the_get.pinned() >= pipelined.len(),
        "pins {}",
        the_get.pinned()
    );
    assert_eq!(&the_get.detached_raw()[..], &the_get.raw()[..]);
    drop(emitted);
    let (cost, _) = per_flow(&pipelined, Shape::Segments(70_000), |r| r.len() < 1_000);
    assert!(
        cost < small + 1_024,
        "a kept small request pins {cost} B per flow beyond its own bytes"
    );
}
