//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use bytes::Bytes;
use shadowtap_common::record::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use shadowtap_reconstruct::{Config, Counter, FlowKey, Reconstructor, Request, Segment};

pub const ISN: u32 = 1000;

pub fn flow(n: u16) -> FlowKey {
    FlowKey::new(
        format!("10.0.{}.{}:{}", n >> 8, n & 0xff, 30000 + n)
            .parse()
            .unwrap(),
        "10.1.0.1:8080".parse().unwrap(),
    )
}

pub fn syn(f: FlowKey, isn: u32, ts: u64) -> Segment {
    Segment::new(f, isn, SYN, ts, Bytes::new())
}

pub fn data(f: FlowKey, seq: u32, ts: u64, payload: &[u8]) -> Segment {
    Segment::new(f, seq, ACK | PSH, ts, Bytes::copy_from_slice(payload))
}

pub fn fin(f: FlowKey, seq: u32, ts: u64) -> Segment {
    Segment::new(f, seq, ACK | FIN, ts, Bytes::new())
}

pub fn rst(f: FlowKey, seq: u32, ts: u64) -> Segment {
    Segment::new(f, seq, RST, ts, Bytes::new())
}

/// A pipeline plus everything it emitted.
pub struct Harness {
    pub r: Reconstructor,
    pub out: Vec<Request>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(Config::default())
    }

    pub fn with(config: Config) -> Self {
        Self {
            r: Reconstructor::new(config),
            out: Vec::new(),
        }
    }

    pub fn push(&mut self, s: Segment) -> usize {
        let before = self.out.len();
        self.out.extend(self.r.push(s));
        self.out.len() - before
    }

    pub fn advance(&mut self, ts: u64) {
        self.out.extend(self.r.advance_time(ts));
    }

    pub fn flush(&mut self) {
        self.out.extend(self.r.flush());
        assert!(
            self.r.counters().check_conservation(0),
            "{:?}",
            self.r.counters()
        );
        assert_eq!(self.r.reassembly_bytes(), 0);
        assert_eq!(self.r.inflight_bytes(), 0);
    }

    pub fn c(&self, c: Counter) -> u64 {
        self.r.counters().get(c)
    }

    pub fn raws(&self) -> Vec<Vec<u8>> {
        self.out.iter().map(|r| r.raw().to_vec()).collect()
    }

    /// A full connection: SYN, then `stream` in segments of `mss` bytes, then FIN.
    pub fn connection(&mut self, f: FlowKey, stream: &[u8], mss: usize) {
        self.push(syn(f, ISN, 1));
        let mut seq = ISN + 1;
        for (i, c) in stream.chunks(mss.max(1)).enumerate() {
            self.push(data(f, seq, 2 + i as u64, c));
            seq = seq.wrapping_add(c.len() as u32);
        }
        self.push(fin(f, seq, 1_000));
    }
}

/// Decode one connection carrying `stream` (one segment per `mss` bytes) and flush.
pub fn decode(stream: &[u8], mss: usize) -> Harness {
    let mut h = Harness::new();
    h.connection(flow(1), stream, mss);
    h.flush();
    h
}
