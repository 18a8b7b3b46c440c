//! Capture-file input: pcap and pcapng, with Ethernet (VLAN tags included), Linux cooked
//! capture v1 and v2, raw IP and BSD loopback link types, IPv4 and IPv6.
//!
//! A capture holds both directions of each connection; only the client→server direction is
//! fed to reassembly, as the kernel programs capture it. The client of a connection is:
//! - the sender of a SYN without ACK (or the receiver of a SYN+ACK), when the handshake was
//!   captured;
//! - otherwise, the sender of the first payload that begins with an HTTP/1.x request line
//!   (method, target, `HTTP/1.x`) or with the HTTP/2 client connection preface. Payload seen
//!   before the direction is known is not fed (counted under `pcap_undirected`): such a flow
//!   would have to resynchronise anyway (an HTTP/2 one cannot: its HPACK state is unknown).
//!
//! HTTP/1.x and cleartext HTTP/2 (prior knowledge and `Upgrade: h2c`) connections are both
//! decoded, exactly as from the kernel's records: [`decode_reader`] hands each request over
//! as a [`Captured`] in completion order.
//!
//! Timestamps are the packets' capture times. A file cut short (e.g. tcpdump killed) ends the
//! input: what came before is decoded and the broken record is counted as `pcap_malformed`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use bytes::Bytes;
use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use shadowtap_common::record::tcp_flags;

use crate::config::Config;
use crate::counters::{Counter, Counters};
use crate::error::PcapError;
use crate::http::request::Request;
use crate::http2::H2FlowRequest;
use crate::reconstructor::Reconstructor;
use crate::resync::looks_like_request_line;
use crate::segment::{FlowKey, Segment};

/// One TCP packet of a capture, either direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpPacket<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Flags as [`tcp_flags`] bits.
    pub flags: u8,
    /// TCP payload.
    pub payload: &'a [u8],
}

/// Why a packet was not a TCP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Parsed, but not TCP over IP (or an IP fragment).
    NotTcp,
    /// Could not be parsed, or an unsupported link type.
    Malformed,
}

/// Parse one link-layer frame of type `link`.
pub fn parse_packet(link: DataLink, data: &[u8]) -> Result<TcpPacket<'_>, Skip> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data),
        DataLink::LINUX_SLL2 => {
            if data.len() < 20 {
                return Err(Skip::Malformed);
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            SlicedPacket::from_ether_type(EtherType(proto), &data[20..])
        }
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data),
        DataLink::NULL | DataLink::LOOP => match data.get(4..) {
            Some(ip) => SlicedPacket::from_ip(ip),
            None => return Err(Skip::Malformed),
        },
        _ => return Err(Skip::Malformed),
    }
    .map_err(|_| Skip::Malformed)?;
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        None => return Err(Skip::NotTcp),
    };
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return Err(Skip::NotTcp);
    };
    let mut flags = 0;
    for (set, bit) in [
        (tcp.fin(), tcp_flags::FIN),
        (tcp.syn(), tcp_flags::SYN),
        (tcp.rst(), tcp_flags::RST),
        (tcp.psh(), tcp_flags::PSH),
        (tcp.ack(), tcp_flags::ACK),
    ] {
        if set {
            flags |= bit;
        }
    }
    Ok(TcpPacket {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        flags,
        payload: tcp.payload(),
    })
}

/// Turns both-direction packets into client→server [`Segment`]s (see the module docs).
#[derive(Debug, Default)]
pub struct DirectionFilter {
    /// Connection (endpoints in sorted order) → (client, server), once known.
    conns: HashMap<(SocketAddr, SocketAddr), (SocketAddr, SocketAddr)>,
}

impl DirectionFilter {
    /// The segment to feed for this packet, if it is client→server and carries payload, SYN,
    /// FIN or RST.
    pub fn segment(
        &mut self,
        p: &TcpPacket<'_>,
        ts_ns: u64,
        counters: &mut Counters,
    ) -> Option<Segment> {
        let key = if p.src <= p.dst {
            (p.src, p.dst)
        } else {
            (p.dst, p.src)
        };
        let syn = p.flags & tcp_flags::SYN != 0;
        let ack = p.flags & tcp_flags::ACK != 0;
        if syn {
            let dir = if ack { (p.dst, p.src) } else { (p.src, p.dst) };
            self.conns.insert(key, dir);
        }
        let dir = match self.conns.get(&key) {
            Some(d) => *d,
            None if looks_like_request_line(p.payload)
                || p.payload.starts_with(shadowtap_h2::frame::PREFACE) =>
            {
                self.conns.insert(key, (p.src, p.dst));
                (p.src, p.dst)
            }
            None => {
                counters.inc(Counter::PcapUndirected);
                return None;
            }
        };
        if dir != (p.src, p.dst) {
            counters.inc(Counter::PcapServerToClient);
            return None;
        }
        let control = tcp_flags::SYN | tcp_flags::FIN | tcp_flags::RST;
        if p.payload.is_empty() && p.flags & control == 0 {
            return None;
        }
        Some(Segment::new(
            FlowKey::new(p.src, p.dst),
            p.seq,
            p.flags,
            ts_ns,
            Bytes::copy_from_slice(p.payload),
        ))
    }
}

/// Nanoseconds from a pcapng timestamp of `ticks` units of `if_tsresol`.
fn ticks_to_ns(ticks: u128, tsresol: u8) -> u64 {
    let ns = if tsresol & 0x80 == 0 {
        let e = u32::from(tsresol);
        if e <= 9 {
            ticks.saturating_mul(10u128.pow(9 - e))
        } else {
            ticks / 10u128.saturating_pow(e - 9)
        }
    } else {
        let shift = u32::from(tsresol & 0x7f).min(127);
        ticks.saturating_mul(1_000_000_000) >> shift
    };
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// One request decoded from a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Captured {
    /// An HTTP/1.x request.
    Http1(Request),
    /// An HTTP/2 request (a stream of an h2c connection).
    Http2(H2FlowRequest),
}

/// What [`decode_reader`] counted.
#[derive(Clone, Debug, Default)]
pub struct PcapCounters {
    /// Reassembly, HTTP/1 decoding and capture-file counters.
    pub reconstruct: Counters,
    /// The HTTP/2 decoders' counters, all connections together.
    pub h2: shadowtap_h2::Counters,
}

struct Feeder<'s, F: FnMut(Captured)> {
    recon: Reconstructor,
    dirs: DirectionFilter,
    sink: &'s mut F,
}

impl<F: FnMut(Captured)> Feeder<'_, F> {
    fn packet(&mut self, link: DataLink, data: &[u8], ts_ns: u64) {
        let counters = self.recon.counters_mut();
        counters.inc(Counter::PcapPackets);
        let seg = match parse_packet(link, data) {
            Ok(p) => self.dirs.segment(&p, ts_ns, counters),
            Err(Skip::NotTcp) => {
                counters.inc(Counter::PcapNotTcp);
                None
            }
            Err(Skip::Malformed) => {
                counters.inc(Counter::PcapMalformed);
                None
            }
        };
        if let Some(seg) = seg {
            self.recon
                .push(seg)
                .for_each(|r| (self.sink)(Captured::Http1(r)));
            self.drain_h2();
        }
    }

    /// The HTTP/2 requests the last reconstructor call completed (each call discards what
    /// the previous one left).
    fn drain_h2(&mut self) {
        self.recon
            .drain_h2()
            .for_each(|r| (self.sink)(Captured::Http2(r)));
    }

    fn finish(mut self) -> PcapCounters {
        self.recon
            .flush()
            .for_each(|r| (self.sink)(Captured::Http1(r)));
        self.drain_h2();
        PcapCounters {
            reconstruct: self.recon.counters().clone(),
            h2: self.recon.h2_counters(),
        }
    }
}

/// Decode a pcap or pcapng stream, calling `sink` for each request (HTTP/1.x or HTTP/2) as
/// it completes; returns the counters. `name` is used in errors.
pub fn decode_reader<R: Read>(
    reader: R,
    name: &Path,
    config: &Config,
    mut sink: impl FnMut(Captured),
) -> Result<PcapCounters, PcapError> {
    let mut reader = BufReader::new(reader);
    let magic = reader.fill_buf().map_err(|source| PcapError::Io {
        path: name.to_path_buf(),
        source,
    })?;
    let pcapng = magic.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]);
    let format = |source| PcapError::Format {
        path: name.to_path_buf(),
        source,
    };
    let mut feeder = Feeder {
        recon: Reconstructor::new(config.clone()),
        dirs: DirectionFilter::default(),
        sink: &mut sink,
    };
    if pcapng {
        let mut r = PcapNgReader::new(reader).map_err(format)?;
        while let Some(block) = r.next_block() {
            let Ok(block) = block.map(|b| b.into_owned()) else {
                feeder.recon.counters_mut().inc(Counter::PcapMalformed);
                break;
            };
            let (iface, ticks, data) = match &block {
                Block::EnhancedPacket(p) => {
                    (p.interface_id as usize, p.timestamp.as_nanos(), &p.data)
                }
                Block::SimplePacket(p) => (0, 0, &p.data),
                _ => continue,
            };
            let Some(idb) = r.interfaces().get(iface) else {
                feeder.recon.counters_mut().inc(Counter::PcapMalformed);
                continue;
            };
            let tsresol = idb
                .options
                .iter()
                .find_map(|o| match o {
                    InterfaceDescriptionOption::IfTsResol(v) => Some(*v),
                    _ => None,
                })
                .unwrap_or(6);
            feeder.packet(idb.linktype, data, ticks_to_ns(ticks, tsresol));
        }
    } else {
        let mut r = PcapReader::new(reader).map_err(format)?;
        let link = r.header().datalink;
        while let Some(packet) = r.next_packet() {
            let Ok(p) = packet else {
                feeder.recon.counters_mut().inc(Counter::PcapMalformed);
                break;
            };
            let ts = u64::try_from(p.timestamp.as_nanos()).unwrap_or(u64::MAX);
            feeder.packet(link, &p.data, ts);
        }
    }
    Ok(feeder.finish())
}

/// Decode a capture file: every request of its client→server streams (HTTP/1.x and HTTP/2,
/// in completion order), and the counters.
pub fn decode_pcap_all(
    path: &Path,
    config: &Config,
) -> Result<(Vec<Captured>, PcapCounters), PcapError> {
    let file = std::fs::File::open(path).map_err(|source| PcapError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    let counters = decode_reader(file, path, config, |r| out.push(r))?;
    Ok((out, counters))
}

/// Decode a capture file's HTTP/1.x requests, and the reassembly counters. HTTP/2 requests
/// are decoded too (and counted by the HTTP/2 counters) but left out: [`decode_pcap_all`]
/// returns them.
pub fn decode_pcap(path: &Path, config: &Config) -> Result<(Vec<Request>, Counters), PcapError> {
    let (all, counters) = decode_pcap_all(path, config)?;
    let http1 = all
        .into_iter()
        .filter_map(|r| match r {
            Captured::Http1(r) => Some(r),
            Captured::Http2(_) => None,
        })
        .collect();
    Ok((http1, counters.reconstruct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsresol() {
        assert_eq!(ticks_to_ns(5, 6), 5_000);
        assert_eq!(ticks_to_ns(5, 9), 5);
        assert_eq!(ticks_to_ns(5_000, 12), 5);
        assert_eq!(ticks_to_ns(1 << 20, 0x80 | 20), 1_000_000_000);
        assert_eq!(ticks_to_ns(u128::MAX, 0), u64::MAX);
    }

    /// Without the handshake, the HTTP/2 client preface tells the client, as a request line
    /// does; the server's first frames (a SETTINGS frame) tell nothing.
    #[test]
    fn the_http2_preface_tells_the_client() {
        let client: SocketAddr = "10.0.0.1:40000".parse().expect("addr");
        let server: SocketAddr = "10.0.0.2:50051".parse().expect("addr");
        let packet = |src, dst, payload| TcpPacket {
            src,
            dst,
            seq: 1,
            flags: tcp_flags::ACK,
            payload,
        };
        let settings = [0, 0, 0, 4, 0, 0, 0, 0, 0];
        let mut counters = Counters::default();
        let mut dirs = DirectionFilter::default();
        assert!(dirs
            .segment(&packet(server, client, &settings), 1, &mut counters)
            .is_none());
        assert_eq!(counters.get(Counter::PcapUndirected), 1);
        let seg = dirs
            .segment(
                &packet(client, server, shadowtap_h2::frame::PREFACE),
                2,
                &mut counters,
            )
            .expect("the client's segment");
        assert_eq!(seg.flow, FlowKey::new(client, server));
        assert!(dirs
            .segment(&packet(server, client, &settings), 3, &mut counters)
            .is_none());
        assert_eq!(counters.get(Counter::PcapServerToClient), 1);
    }

    #[test]
    fn garbage_is_not_a_packet() {
        for link in [
            DataLink::ETHERNET,
            DataLink::LINUX_SLL,
            DataLink::LINUX_SLL2,
            DataLink::RAW,
            DataLink::NULL,
        ] {
            assert!(parse_packet(link, &[0xff; 3]).is_err());
            assert!(parse_packet(link, &[]).is_err());
        }
        assert_eq!(
            parse_packet(DataLink::USER0, &[0; 64]),
            Err(Skip::Malformed)
        );
    }
}
