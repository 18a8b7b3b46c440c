//! The endpoint pre-filter (`shadowtap_common::endpoint_filter`) on crafted packets through
//! `BPF_PROG_TEST_RUN`: it only ever turns a certain map miss into an early one. The bitmap
//! is kept by `MapHandles`; these tests program endpoints only through it, as the agent
//! does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shadowtap_common::{addr_from_ip, endpoint_slot, Counter, SAMPLE_ALL};
use shadowtap_harness::{
    packets::{self, Tcp},
    require_privileges,
};

use crate::test_run::Harness;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const PORT: u16 = 8080;
const REQUEST: &[u8] = b"GET /f HTTP/1.1\r\nHost: foo\r\n\r\n";

/// An IPv4 address other than `ip` whose bit (with `PORT`) is `ip`'s.
pub(crate) fn sharing_bit_with(ip: Ipv4Addr) -> Ipv4Addr {
    let slot = |a: Ipv4Addr| endpoint_slot(&addr_from_ip(a.into()), PORT.to_be_bytes());
    (0..1u32 << 20)
        .map(|i| Ipv4Addr::from(0x0a40_0000 | i))
        .find(|a| *a != ip && slot(*a) == slot(ip))
        .expect("an address sharing the bit")
}

fn to(ip: Ipv4Addr) -> Vec<u8> {
    packets::ipv4(CLIENT, ip, &Tcp::new(40000, PORT, 1), REQUEST)
}

#[test]
fn a_destination_sharing_a_bit_is_looked_up_and_missed() {
    if !require_privileges("a_destination_sharing_a_bit_is_looked_up_and_missed") {
        return;
    }
    let mut h = Harness::new();
    h.capture(SERVER.into(), PORT, SAMPLE_ALL);
    let other = sharing_bit_with(SERVER);
    assert!(h.tc(&to(other)).is_empty(), "{other} is no endpoint");
    assert!(h.xdp(&to(other)).is_empty(), "{other} is no endpoint (XDP)");
    assert_eq!(h.tc(&to(SERVER)).len(), 1);
    assert_eq!(h.count(Counter::NotMatched), 2);
    assert_eq!(h.count(Counter::Copied), 1);
    assert_eq!(h.count(Counter::PacketsSeen), 3);
}

#[test]
fn an_endpoint_keeps_its_bit_when_another_on_it_is_removed() {
    if !require_privileges("an_endpoint_keeps_its_bit_when_another_on_it_is_removed") {
        return;
    }
    let mut h = Harness::new();
    let other = sharing_bit_with(SERVER);
    h.capture(SERVER.into(), PORT, SAMPLE_ALL);
    h.capture(other.into(), PORT, SAMPLE_ALL);
    assert_eq!(h.tc(&to(other)).len(), 1);
    h.maps
        .remove_endpoint(other.into(), PORT)
        .expect("remove the other endpoint");
    assert!(h.tc(&to(other)).is_empty(), "removed");
    assert_eq!(h.tc(&to(SERVER)).len(), 1, "still captured: the bit stayed");
    h.maps
        .remove_endpoint(SERVER.into(), PORT)
        .expect("remove the endpoint");
    assert!(h.tc(&to(SERVER)).is_empty(), "removed");
    h.capture(SERVER.into(), PORT, SAMPLE_ALL);
    assert_eq!(h.tc(&to(SERVER)).len(), 1, "captured again once re-added");
    assert_eq!(h.count(Counter::Copied), 3);
}

#[test]
fn uncaptured_destinations_are_not_matched_on_both_families_and_hooks() {
    if !require_privileges("uncaptured_destinations_are_not_matched_on_both_families_and_hooks") {
        return;
    }
    let mut h = Harness::new();
    // One endpoint on another port, so the bitmap is not empty.
    h.capture(SERVER.into(), 80, SAMPLE_ALL);
    let server6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    let v6 = packets::ipv6(CLIENT6, server6, &Tcp::new(40000, PORT, 1), REQUEST, &[]);
    assert!(h.tc(&to(SERVER)).is_empty());
    assert!(h.tc(&v6).is_empty());
    assert!(h.xdp(&to(SERVER)).is_empty());
    assert!(h.xdp(&v6).is_empty());
    assert_eq!(h.count(Counter::NotMatched), 4);
    assert_eq!(h.count(Counter::PacketsSeen), 4);
    // The same IPv6 destination, once captured, is copied: its bit is the one the kernel
    // computes from the packet.
    h.capture(IpAddr::V6(server6), PORT, SAMPLE_ALL);
    assert_eq!(h.tc(&v6).len(), 1);
    assert_eq!(h.xdp(&v6).len(), 1);
}
