//! A deliberately simple, test-only reassembly of captured records by sequence number, used
//! to compare what the kernel copied with what a server received.

use std::{collections::HashMap, net::SocketAddr};

use shadowtap_agent::datapath::CaptureEvent;
use shadowtap_common::{ip_from_addr, record::tcp_flags};

/// Client→server byte streams keyed by the client's address.
pub fn streams(events: &[CaptureEvent]) -> HashMap<SocketAddr, Vec<u8>> {
    let mut isn: HashMap<SocketAddr, u32> = HashMap::new();
    for e in events {
        if e.header.tcp_flags & tcp_flags::SYN != 0 {
            isn.insert(client(e), e.header.seq);
        }
    }
    let mut out: HashMap<SocketAddr, Vec<u8>> = HashMap::new();
    for e in events.iter().filter(|e| !e.payload.is_empty()) {
        let c = client(e);
        let Some(start) = isn.get(&c) else { continue };
        let off = e.header.seq.wrapping_sub(start.wrapping_add(1)) as usize;
        let buf = out.entry(c).or_default();
        if buf.len() < off + e.payload.len() {
            buf.resize(off + e.payload.len(), 0);
        }
        buf[off..off + e.payload.len()].copy_from_slice(&e.payload);
    }
    out
}

fn client(e: &CaptureEvent) -> SocketAddr {
    SocketAddr::new(ip_from_addr(e.header.saddr), e.header.src_port())
}
