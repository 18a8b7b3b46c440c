//! Keys and values of the hash maps user space programs and the kernel reads.

/// An IPv6 address, or an IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`), as bytes in
/// network order.
pub type Addr = [u8; 16];

/// Map an IPv4 address (network-order bytes) into IPv6 form.
#[inline(always)]
pub const fn ipv4_mapped(v4: [u8; 4]) -> Addr {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3],
    ]
}

/// A server endpoint to capture: the destination address and TCP port of requests.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EndpointKey {
    /// Destination address (IPv4-mapped for IPv4).
    pub addr: Addr,
    /// Destination TCP port, network byte order.
    pub port: [u8; 2],
    /// Explicit padding; always zero.
    pub _pad: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<EndpointKey>() == 20);

impl EndpointKey {
    /// Build a key from an address and a host-order port.
    pub const fn new(addr: Addr, port: u16) -> Self {
        Self {
            addr,
            port: port.to_be_bytes(),
            _pad: [0; 2],
        }
    }
}

/// What the kernel copies of an endpoint's responses (pod→client), in
/// [`EndpointValue::compare`]: the strongest comparison mode of the routes there.
pub mod compare_mode {
    /// No comparison: responses are not copied.
    pub const OFF: u8 = 0;
    /// Status comparison: a prefix of each segment ([`RESPONSE_PREFIX`] bytes, enough for
    /// the heads of most responses); the rest is reported as not copied.
    pub const STATUS: u8 = 1;
    /// Header comparison: the same prefix as [`STATUS`].
    pub const HEADERS: u8 = 2;
    /// Body comparison: every byte, as for requests.
    pub const BODY: u8 = 3;
    /// Bytes of each response segment copied in the status and headers modes.
    pub const RESPONSE_PREFIX: u32 = 4096;

    /// Bytes of a response segment of `payload_len` bytes the kernel copies in `mode`
    /// (before the record limit); 0 when the mode is [`OFF`] or unknown.
    #[inline(always)]
    pub const fn copy_len(mode: u8, payload_len: u32) -> u32 {
        match mode {
            STATUS | HEADERS => {
                if payload_len < RESPONSE_PREFIX {
                    payload_len
                } else {
                    RESPONSE_PREFIX
                }
            }
            BODY => payload_len,
            _ => 0,
        }
    }
}

/// What to do with an endpoint's flows.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct EndpointValue {
    /// Identifies the set of rules user space applies to this endpoint's requests.
    pub route_set: u32,
    /// What to copy of the endpoint's responses ([`compare_mode`]).
    pub compare: u8,
    /// Explicit padding; always zero.
    pub _pad: [u8; 3],
    /// Flow pre-sample threshold: a flow is captured iff `flow_hash < threshold`
    /// (see [`crate::flow_hash`]). [`crate::SAMPLE_NONE`] captures nothing,
    /// [`crate::SAMPLE_ALL`] captures every flow.
    pub threshold: u64,
}
const _: () = assert!(core::mem::size_of::<EndpointValue>() == 16);

/// One of the agent's own TCP connections as seen client→server, never to be captured.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct OwnFlowKey {
    /// Source (agent-side) address.
    pub saddr: Addr,
    /// Destination address.
    pub daddr: Addr,
    /// Source port, network byte order.
    pub sport: [u8; 2],
    /// Destination port, network byte order.
    pub dport: [u8; 2],
}
const _: () = assert!(core::mem::size_of::<OwnFlowKey>() == 36);

impl OwnFlowKey {
    /// Build a key from addresses and host-order ports.
    pub const fn new(saddr: Addr, sport: u16, daddr: Addr, dport: u16) -> Self {
        Self {
            saddr,
            daddr,
            sport: sport.to_be_bytes(),
            dport: dport.to_be_bytes(),
        }
    }
}

/// An IP address in the 16-byte form used in maps and records.
pub fn addr_from_ip(ip: core::net::IpAddr) -> Addr {
    match ip {
        core::net::IpAddr::V4(v4) => ipv4_mapped(v4.octets()),
        core::net::IpAddr::V6(v6) => v6.octets(),
    }
}

/// The IP address of a 16-byte map/record address: IPv4-mapped addresses become IPv4.
pub fn ip_from_addr(addr: Addr) -> core::net::IpAddr {
    let v6 = core::net::Ipv6Addr::from(addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => core::net::IpAddr::V4(v4),
        None => core::net::IpAddr::V6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[test]
    fn response_copy_lengths_per_mode() {
        use compare_mode::*;
        assert_eq!(copy_len(OFF, 10_000), 0);
        assert_eq!(copy_len(9, 10_000), 0);
        assert_eq!(copy_len(STATUS, 100), 100);
        assert_eq!(copy_len(HEADERS, 10_000), RESPONSE_PREFIX);
        assert_eq!(copy_len(BODY, 10_000), 10_000);
        assert_eq!(core::mem::offset_of!(EndpointValue, compare), 4);
        assert_eq!(core::mem::offset_of!(EndpointValue, threshold), 8);
    }

    #[test]
    fn addresses_round_trip() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(addr_from_ip(v4), ipv4_mapped([10, 1, 2, 3]));
        assert_eq!(ip_from_addr(addr_from_ip(v4)), v4);
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
        assert_eq!(ip_from_addr(addr_from_ip(v6)), v6);
    }
}
