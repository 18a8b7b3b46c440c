//! shadowtap's kernel programs.
//!
//! Two thin entry points share one parsing and capture core:
//!
//! * `shadowtap_tc` — a TC classifier, attached where requests are delivered to a pod (egress of
//!   the pod's host-side veth, or ingress of the pod's own interface in its namespace);
//! * `shadowtap_tc_response` — a TC classifier for the pod→client direction of comparing
//!   endpoints (ingress of the pod's host-side veth, or egress of the pod's own interface);
//! * `shadowtap_xdp` — for interfaces where requests arrive from the wire (a node uplink).
//!
//! Both only observe: every path returns `TC_ACT_UNSPEC` / `XDP_PASS` and no packet byte is
//! ever written.
#![no_std]
#![no_main]
#![allow(
    missing_docs,
    reason = "the program macros generate undocumented wrapper functions"
)]

mod capture;
mod counters;
mod maps;
mod packet;
mod parse;
mod prefilter;

use aya_ebpf::{
    bindings::{xdp_action::XDP_PASS, TC_ACT_UNSPEC},
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use aya_log_ebpf::debug;

use crate::{
    capture::Outcome,
    packet::{Packet, SkbPacket, XdpPacket},
};

/// TC classifier entry point. Always lets the packet continue unchanged (`TC_ACT_UNSPEC`:
/// the next program in the TCX chain, or the default action).
#[classifier]
pub fn shadowtap_tc(ctx: TcContext) -> i32 {
    let packet = SkbPacket::new(&ctx);
    match capture::run::<_, false>(&packet) {
        Outcome::Quiet => {}
        Outcome::Malformed => debug!(&ctx, "malformed packet, ifindex {}", packet.ifindex()),
        Outcome::RingFull => debug!(&ctx, "ring full, ifindex {}", packet.ifindex()),
    }
    TC_ACT_UNSPEC
}

/// TC classifier of the response direction: copies what comparing endpoints' comparison
/// modes need of the packets they send. Always lets the packet continue unchanged.
#[classifier]
pub fn shadowtap_tc_response(ctx: TcContext) -> i32 {
    let packet = SkbPacket::new(&ctx);
    match capture::run::<_, true>(&packet) {
        Outcome::Quiet => {}
        Outcome::Malformed => debug!(&ctx, "malformed response, ifindex {}", packet.ifindex()),
        Outcome::RingFull => debug!(&ctx, "ring full, ifindex {}", packet.ifindex()),
    }
    TC_ACT_UNSPEC
}

/// XDP entry point. Always passes the packet on unchanged.
#[xdp]
pub fn shadowtap_xdp(ctx: XdpContext) -> u32 {
    let packet = XdpPacket::new(&ctx);
    match capture::run::<_, false>(&packet) {
        Outcome::Quiet => {}
        Outcome::Malformed => debug!(&ctx, "malformed packet, ifindex {}", packet.ifindex()),
        Outcome::RingFull => debug!(&ctx, "ring full, ifindex {}", packet.ifindex()),
    }
    XDP_PASS
}

/// A TC program that does nothing: the baseline the kernel benchmark measures the capture
/// program against (`cargo xtask bench kernel`). Never attached by the agent.
#[classifier]
pub fn shadowtap_tc_noop(_ctx: TcContext) -> i32 {
    TC_ACT_UNSPEC
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // Unreachable in a verified program: the verifier rejects any path that could get here.
    loop {}
}

/// License of the object; GPL-compatible, as the ring-buffer and load-bytes helpers need it.
#[allow(unsafe_code, reason = "the loader finds the license by section name")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
