//! The capture core shared by the TC and XDP programs: the endpoint pre-filter,
//! endpoint lookup, own-flow skip, flow pre-sample, and the copy of the TCP payload into the
//! ring buffer.
//!
//! The request direction (client→server) looks the packet's destination up in the
//! endpoint map; the response direction (pod→client, comparing endpoints only) looks its
//! source up, copies what the endpoint's comparison mode needs
//! ([`shadowtap_common::compare_mode::copy_len`]) and flags the record as a response.
//!
//! The record is assembled in this CPU's scratch slot (a map value) from the start: the
//! parser writes the header fields straight into it, because the 512-byte BPF stack cannot
//! hold them next to the parser's own buffers. The slot's first lines stay hot per CPU.
#![allow(unsafe_code)]

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::generated::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
};
use shadowtap_common::{
    compare_mode, flow_hash, flow_hash::is_sampled, record::direction, record::tcp_flags, Counter,
    EndpointKey, OwnFlowKey, RecordHeader, RECORD_HEADER_LEN, RECORD_MAX_PAYLOAD,
};

use crate::{
    counters::Counters,
    maps::{ENDPOINTS, EVENTS, OWN_FLOWS, SCRATCH, SHADOWTAP_WAKEUP_THRESHOLD},
    packet::Packet,
    parse::{self, Payload, Skip},
};

/// What happened to a packet; the entry points log the unusual ones at debug level.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not for us, or recorded: nothing to report.
    Quiet,
    /// Headers were malformed.
    Malformed,
    /// The ring buffer (or the scratch slot) had no room for the record.
    RingFull,
}

/// Examine one packet. Never modifies it; the caller always passes it on. `RESPONSE`
/// selects the direction: false for client→server packets (requests), true for
/// pod→client packets (the responses of comparing endpoints).
#[inline(always)]
pub fn run<P: Packet, const RESPONSE: bool>(p: &P) -> Outcome {
    let Some(ctr) = Counters::this_cpu() else {
        return Outcome::Quiet;
    };
    // Every path below adds one to exactly one outcome counter; `packets_seen` is their
    // sum in user space, not a write here: one counter write on the map-miss path instead
    // of two (README, Performance, Kernel).
    if !crate::prefilter::may_be_captured::<P, RESPONSE>(p) {
        ctr.inc(if RESPONSE {
            Counter::ResponsesNotMatched
        } else {
            Counter::NotMatched
        });
        return Outcome::Quiet;
    }
    // SAFETY: a helper without arguments.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let Some(slot) = SCRATCH.get_ptr_mut(cpu) else {
        // The scratch map is sized to the possible CPUs at load time; count rather than hide.
        ctr.inc(Counter::RingFull);
        return Outcome::RingFull;
    };
    // SAFETY: `slot` is a valid, 8-byte aligned map value of RECORD_HEADER_LEN +
    // RECORD_MAX_PAYLOAD bytes that only this CPU uses while the program runs.
    let base = unsafe { (*slot).bytes.as_mut_ptr() };
    // SAFETY: the slot's first RECORD_HEADER_LEN bytes, 8-byte aligned; every bit pattern
    // is a valid RecordHeader.
    let f = unsafe { &mut *base.cast::<RecordHeader>() };
    let payload = match parse::parse(p, f) {
        Ok(payload) => payload,
        Err(Skip::NotTcp) => {
            ctr.inc(Counter::NotTcp);
            return Outcome::Quiet;
        }
        Err(Skip::Ipv6ExtTooLong) => {
            ctr.inc(Counter::Ipv6ExtSkipped);
            return Outcome::Quiet;
        }
        Err(Skip::Malformed) => {
            ctr.inc(Counter::ParseError);
            return Outcome::Malformed;
        }
    };
    let key = if RESPONSE {
        EndpointKey {
            addr: f.saddr,
            port: f.sport,
            _pad: [0; 2],
        }
    } else {
        EndpointKey {
            addr: f.daddr,
            port: f.dport,
            _pad: [0; 2],
        }
    };
    let Some(endpoint) = ENDPOINTS.get_ptr(&key) else {
        ctr.inc(if RESPONSE {
            Counter::ResponsesNotMatched
        } else {
            Counter::NotMatched
        });
        return Outcome::Quiet;
    };
    // SAFETY: a non-null pointer to a map value returned by the lookup helper.
    let (threshold, compare) = unsafe { ((*endpoint).threshold, (*endpoint).compare) };
    if RESPONSE {
        if compare == compare_mode::OFF {
            ctr.inc(Counter::ResponsesNotMatched);
            return Outcome::Quiet;
        }
        ctr.inc(Counter::ResponsesMatched);
    }
    // The own-flow map is keyed client→server: a response packet's addresses swap.
    let own = if RESPONSE {
        OwnFlowKey {
            saddr: f.daddr,
            daddr: f.saddr,
            sport: f.dport,
            dport: f.sport,
        }
    } else {
        OwnFlowKey {
            saddr: f.saddr,
            daddr: f.daddr,
            sport: f.sport,
            dport: f.dport,
        }
    };
    if OWN_FLOWS.get_ptr(&own).is_some() {
        ctr.inc(Counter::OwnFlow);
        return Outcome::Quiet;
    }
    if !is_sampled(
        flow_hash(&f.saddr, f.src_port(), &f.daddr, f.dst_port()),
        threshold,
    ) {
        ctr.inc(Counter::PresampledOut);
        return Outcome::Quiet;
    }
    let events = tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST;
    if payload.len == 0 && f.tcp_flags & events == 0 {
        ctr.inc(Counter::PureAck);
        return Outcome::Quiet;
    }
    f.ifindex = p.ifindex();
    let (copy, dir) = if RESPONSE {
        (
            compare_mode::copy_len(compare, payload.len),
            direction::RESPONSE,
        )
    } else {
        (payload.len, direction::REQUEST)
    };
    record(p, &ctr, base, f, &payload, copy, dir)
}

const _: () = assert!(RECORD_MAX_PAYLOAD.is_power_of_two());

/// `n` (1 ≤ n ≤ RECORD_MAX_PAYLOAD) in a form whose bounds every verifier can see. The
/// load-bytes helpers reject a length that may be 0. LLVM checks `n > 0` on one register
/// and passes another; Linux 6.1's verifier does not carry the bound across (6.18's does)
/// and rejected the program. `((n - 1) & (MAX - 1)) + 1` equals `n` in that range and is
/// provably in [1, MAX] by itself; the volatile read keeps LLVM from folding it back to `n`.
#[inline(always)]
fn helper_len(n: u32) -> u32 {
    let below = n.wrapping_sub(1);
    // SAFETY: a volatile read of a local.
    let opaque = unsafe { core::ptr::read_volatile(&below) };
    (opaque & (RECORD_MAX_PAYLOAD as u32 - 1)) + 1
}

/// Assemble header + payload in this CPU's scratch slot, then copy the record to the ring:
/// the first `copy` payload bytes (at most the record limit), the rest reported as not
/// copied (`payload_len` > `captured_len`, flagged `truncated`).
#[inline(always)]
fn record<P: Packet>(
    p: &P,
    ctr: &Counters,
    base: *mut u8,
    h: &mut RecordHeader,
    payload: &Payload,
    copy: u32,
    dir: u8,
) -> Outcome {
    let over_limit = copy as usize > RECORD_MAX_PAYLOAD;
    let mut n = copy;
    if n > RECORD_MAX_PAYLOAD as u32 {
        n = RECORD_MAX_PAYLOAD as u32;
    }
    if n > payload.len {
        n = payload.len;
    }
    let truncated = n < payload.len;
    if n > 0 {
        let len = helper_len(n);
        // SAFETY: 1 <= len == n <= RECORD_MAX_PAYLOAD, the room after the header in the slot.
        let ok = unsafe { p.load_raw(payload.off, base.add(RECORD_HEADER_LEN), len) };
        if !ok {
            ctr.inc(Counter::ParseError);
            return Outcome::Malformed;
        }
    }
    // SAFETY: a helper without arguments.
    h.ts_ns = unsafe { bpf_ktime_get_ns() };
    h.payload_len = payload.len;
    h.captured_len = n;
    h.truncated = truncated as u8;
    h.direction = dir;
    h._pad = [0; 4];
    let size = RECORD_HEADER_LEN + n as usize;
    let pending = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    let wake = if pending + size as u64 >= SHADOWTAP_WAKEUP_THRESHOLD.load() {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    // SAFETY: `size` <= the slot's length, and the slot is written up to `size`.
    let bytes = unsafe { core::slice::from_raw_parts(base, size) };
    if EVENTS.output::<[u8]>(bytes, wake as u64).is_err() {
        ctr.inc(Counter::RingFull);
        return Outcome::RingFull;
    }
    ctr.inc(Counter::Copied);
    ctr.add(Counter::BytesCopied, n as u64);
    if over_limit {
        ctr.inc(Counter::Truncated);
    } else if truncated {
        ctr.inc(Counter::ResponsesPrefixOnly);
    }
    Outcome::Quiet
}
