//! Capture files written in the test (pcap and pcapng; Ethernet, VLAN, Linux cooked v1 and
//! v2, raw IP; IPv4 and IPv6) decode to the requests of the client direction.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use etherparse::{PacketBuilder, PacketBuilderStep, VlanId};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use shadowtap_reconstruct::pcap::decode_pcap;
use shadowtap_reconstruct::{render, Config, Counter};

#[derive(Clone, Debug)]
struct Pkt {
    ts: u64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    syn: bool,
    fin: bool,
    has_ack: bool,
    payload: Vec<u8>,
}

const GET: &[u8] = b"GET /one HTTP/1.1\r\nHost: svc\r\n\r\n";
const POST: &[u8] = b"POST /two HTTP/1.1\r\nHost: svc\r\nContent-Length: 11\r\n\r\nhello world";
const CHUNKED: &[u8] = b"PUT /three HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

/// One keep-alive connection: handshake, each request (in `mss` pieces) answered by the
/// server, then FIN. With `handshake == false` the capture starts mid-connection.
fn conversation(
    client: SocketAddr,
    server: SocketAddr,
    reqs: &[&[u8]],
    mss: usize,
    handshake: bool,
) -> Vec<Pkt> {
    let mut out = Vec::new();
    let mut ts = 1_000_000_000u64;
    let (mut cseq, mut sseq) = (5000u32, 9000u32);
    let mut p = |src, dst, seq, ack, syn, fin, payload: &[u8], ts: &mut u64| {
        *ts += 1_000;
        out.push(Pkt {
            ts: *ts,
            src,
            dst,
            seq,
            ack,
            syn,
            fin,
            has_ack: !syn || src == server,
            payload: payload.to_vec(),
        });
    };
    if handshake {
        p(client, server, cseq, 0, true, false, b"", &mut ts);
        p(server, client, sseq, cseq + 1, true, false, b"", &mut ts);
        p(
            client,
            server,
            cseq + 1,
            sseq + 1,
            false,
            false,
            b"",
            &mut ts,
        );
    }
    cseq += 1;
    sseq += 1;
    for r in reqs {
        for c in r.chunks(mss) {
            p(client, server, cseq, sseq, false, false, c, &mut ts);
            cseq += c.len() as u32;
        }
        p(server, client, sseq, cseq, false, false, RESP, &mut ts);
        sseq += RESP.len() as u32;
    }
    p(client, server, cseq, sseq, false, true, b"", &mut ts);
    out
}

#[derive(Clone, Copy, Debug)]
enum Link {
    Ethernet,
    Vlan,
    Sll,
    Sll2,
    Raw,
}

fn frame(link: Link, p: &Pkt) -> Vec<u8> {
    let ip = |b: PacketBuilderStep<etherparse::Ethernet2Header>| -> PacketBuilderStep<etherparse::IpHeaders> {
        match (p.src.ip(), p.dst.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b2)) => b.ipv4(a.octets(), b2.octets(), 64),
            (IpAddr::V6(a), IpAddr::V6(b2)) => b.ipv6(a.octets(), b2.octets(), 64),
            _ => panic!("mixed families"),
        }
    };
    let bare = || -> PacketBuilderStep<etherparse::IpHeaders> {
        match (p.src.ip(), p.dst.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b2)) => PacketBuilder::ipv4(a.octets(), b2.octets(), 64),
            (IpAddr::V6(a), IpAddr::V6(b2)) => PacketBuilder::ipv6(a.octets(), b2.octets(), 64),
            _ => panic!("mixed families"),
        }
    };
    let (prefix, step) = match link {
        Link::Ethernet => (vec![], ip(PacketBuilder::ethernet2([1; 6], [2; 6]))),
        Link::Vlan => (vec![], {
            let b =
                PacketBuilder::ethernet2([1; 6], [2; 6]).single_vlan(VlanId::try_new(42).unwrap());
            match (p.src.ip(), p.dst.ip()) {
                (IpAddr::V4(a), IpAddr::V4(b2)) => b.ipv4(a.octets(), b2.octets(), 64),
                (IpAddr::V6(a), IpAddr::V6(b2)) => b.ipv6(a.octets(), b2.octets(), 64),
                _ => panic!("mixed families"),
            }
        }),
        Link::Sll | Link::Sll2 => {
            let proto: u16 = if p.src.is_ipv4() { 0x0800 } else { 0x86dd };
            let mut h = Vec::new();
            if let Link::Sll = link {
                h.extend_from_slice(&[0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
                h.extend_from_slice(&proto.to_be_bytes());
            } else {
                h.extend_from_slice(&proto.to_be_bytes());
                h.extend_from_slice(&[0, 0, 0, 0, 0, 7, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
            }
            (h, bare())
        }
        Link::Raw => (vec![], bare()),
    };
    let mut t = step.tcp(p.src.port(), p.dst.port(), p.seq, 65535);
    if p.syn {
        t = t.syn();
    }
    if p.has_ack {
        t = t.ack(p.ack);
    }
    if p.fin {
        t = t.fin();
    }
    if !p.payload.is_empty() {
        t = t.psh();
    }
    let mut out = prefix;
    t.write(&mut out, &p.payload).unwrap();
    out
}

fn datalink(link: Link) -> DataLink {
    match link {
        Link::Ethernet | Link::Vlan => DataLink::ETHERNET,
        Link::Sll => DataLink::LINUX_SLL,
        Link::Sll2 => DataLink::LINUX_SLL2,
        Link::Raw => DataLink::RAW,
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pcap-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write_pcap(name: &str, link: Link, pkts: &[Pkt]) -> PathBuf {
    let path = temp(name);
    let file = std::fs::File::create(&path).unwrap();
    let header = PcapHeader {
        datalink: datalink(link),
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(file, header).unwrap();
    for p in pkts {
        let data = frame(link, p);
        w.write_packet(&PcapPacket::new(
            Duration::from_nanos(p.ts),
            data.len() as u32,
            &data,
        ))
        .unwrap();
    }
    path
}

/// pcapng with nanosecond (`if_tsresol` 9) or default microsecond timestamps.
fn write_pcapng(name: &str, link: Link, pkts: &[Pkt], nanos: bool) -> PathBuf {
    let path = temp(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut w = PcapNgWriter::new(file).unwrap();
    let options = if nanos {
        vec![InterfaceDescriptionOption::IfTsResol(9)]
    } else {
        vec![]
    };
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: datalink(link),
        snaplen: 0,
        options,
    })
    .unwrap();
    for p in pkts {
        let data = frame(link, p);
        let ticks = if nanos { p.ts } else { p.ts / 1000 };
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_nanos(ticks),
            original_len: data.len() as u32,
            data: Cow::Borrowed(&data),
            options: vec![],
        })
        .unwrap();
    }
    path
}

fn v4() -> (SocketAddr, SocketAddr) {
    (
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:8080".parse().unwrap(),
    )
}

fn v6() -> (SocketAddr, SocketAddr) {
    (
        "[fd00::1]:40000".parse().unwrap(),
        "[fd00::2]:80".parse().unwrap(),
    )
}

fn raws(reqs: &[shadowtap_reconstruct::Request]) -> Vec<Vec<u8>> {
    reqs.iter().map(|r| r.raw().to_vec()).collect()
}

#[test]
fn every_link_type_and_format() {
    let all: Vec<Vec<u8>> = [GET, POST, CHUNKED].iter().map(|r| r.to_vec()).collect();
    for (i, link) in [Link::Ethernet, Link::Vlan, Link::Sll, Link::Sll2, Link::Raw]
        .into_iter()
        .enumerate()
    {
        for (j, (c, s)) in [v4(), v6()].into_iter().enumerate() {
            let pkts = conversation(c, s, &[GET, POST, CHUNKED], 16, true);
            for (k, path) in [
                write_pcap(&format!("t{i}{j}.pcap"), link, &pkts),
                write_pcapng(&format!("t{i}{j}n.pcapng"), link, &pkts, true),
                write_pcapng(&format!("t{i}{j}u.pcapng"), link, &pkts, false),
            ]
            .into_iter()
            .enumerate()
            {
                let (reqs, counters) = decode_pcap(&path, &Config::default()).unwrap();
                assert_eq!(raws(&reqs), all, "{link:?} {c} file {k}");
                assert_eq!(reqs[0].flow().client(), c);
                assert_eq!(reqs[0].flow().server(), s);
                assert_eq!(
                    reqs[0].first_ts_ns(),
                    1_000_000_000 + 4_000,
                    "{link:?} file {k}"
                );
                assert_eq!(
                    counters.get(Counter::PcapServerToClient),
                    4,
                    "SYN-ACK and 3 responses"
                );
                assert_eq!(counters.get(Counter::EvictedFin), 1);
                assert!(counters.check_conservation(0));
                let line = render::json_line(&reqs[1]);
                assert!(line.contains("\"method\":\"POST\""), "{line}");
            }
        }
    }
}

#[test]
fn reordered_duplicated_and_dropped_packets() {
    let (c, s) = v4();
    let pkts = conversation(c, s, &[GET, POST, CHUNKED, GET], 10, true);
    // Reorder pairs and duplicate every fifth packet.
    let mut messy = Vec::new();
    for (i, pair) in pkts.chunks(2).enumerate() {
        for p in pair.iter().rev() {
            messy.push(p.clone());
            if i % 5 == 0 {
                messy.push(p.clone());
            }
        }
    }
    let path = write_pcap("messy.pcap", Link::Ethernet, &messy);
    let (reqs, counters) = decode_pcap(&path, &Config::default()).unwrap();
    assert_eq!(
        raws(&reqs),
        vec![GET.to_vec(), POST.to_vec(), CHUNKED.to_vec(), GET.to_vec()]
    );
    assert!(counters.get(Counter::SegmentsOutOfOrder) > 0);
    assert!(counters.get(Counter::BytesDuplicate) > 0);

    // Drop a client packet inside the POST: the POST is lost, never spliced; the rest comes.
    let post_start = pkts
        .iter()
        .position(|p| p.payload.starts_with(b"POST"))
        .unwrap();
    let mut lossy = pkts.clone();
    lossy.remove(post_start + 2);
    let path = write_pcap("lossy.pcap", Link::Ethernet, &lossy);
    let (reqs, counters) = decode_pcap(&path, &Config::default()).unwrap();
    assert_eq!(
        raws(&reqs),
        vec![GET.to_vec(), CHUNKED.to_vec(), GET.to_vec()]
    );
    assert_eq!(counters.get(Counter::DroppedGap), 1);
    assert!(counters.check_conservation(0));
}

#[test]
fn midstream_capture_finds_the_client_by_its_request_line() {
    let (c, s) = v6();
    let pkts = conversation(c, s, &[POST, GET, GET], 1000, false);
    // Start the capture with a server packet to make the direction non-obvious.
    let mut pkts = pkts;
    pkts.insert(
        0,
        Pkt {
            src: s,
            dst: c,
            payload: RESP.to_vec(),
            ..pkts[1].clone()
        },
    );
    let path = write_pcapng("mid.pcapng", Link::Sll2, &pkts, true);
    let (reqs, counters) = decode_pcap(&path, &Config::default()).unwrap();
    assert_eq!(raws(&reqs), vec![POST.to_vec(), GET.to_vec(), GET.to_vec()]);
    assert_eq!(counters.get(Counter::FlowsMidstream), 1);
    assert_eq!(counters.get(Counter::PcapUndirected), 1);
}

#[test]
fn bad_files_are_errors_or_counted() {
    let path = temp("garbage.pcap");
    std::fs::write(&path, b"this is not a capture file at all").unwrap();
    assert!(decode_pcap(&path, &Config::default()).is_err());
    assert!(decode_pcap(&temp("missing.pcap"), &Config::default()).is_err());
    // A file cut in the middle of a packet keeps what came before.
    let (c, s) = v4();
    let full = write_pcap(
        "cut.pcap",
        Link::Ethernet,
        &conversation(c, s, &[GET, GET], 1000, true),
    );
    let bytes = std::fs::read(&full).unwrap();
    let cut = temp("cut2.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let (reqs, counters) = decode_pcap(&cut, &Config::default()).unwrap();
    assert_eq!(raws(&reqs), vec![GET.to_vec(), GET.to_vec()]);
    assert_eq!(counters.get(Counter::PcapMalformed), 1);
}
