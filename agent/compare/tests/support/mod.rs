//! Helpers shared by the integration tests: a connection driven from request lists and
//! response bytes, and compact views of what its pairing produced.
// Each test binary uses a different part of the helpers.
#![allow(dead_code)]

use std::sync::Arc;

use shadowtap_compare::{
    CompareMode, CompareSpec, Counters, Http1Pairing, PairId, PairingLimits, PrimaryEvent,
    PrimaryResult, RequestSeen, UnseenReason,
};
use shadowtap_wire::http1::Method;

/// A comparing route's settings with the default ignore list.
pub fn spec(mode: CompareMode) -> Arc<CompareSpec> {
    Arc::new(CompareSpec::new(mode))
}

/// What one mirrored request got: `Ok((status, body length))` or why it was unseen.
pub type Got = (u64, Result<(u16, u64), UnseenReason>);

/// One connection under test.
pub struct Conn {
    /// The pairing under test.
    pub pairing: Http1Pairing,
    /// Everything it produced, in order.
    pub out: Vec<PrimaryEvent>,
    /// Its counters.
    pub counters: Counters,
    /// The mode of mirrored requests.
    pub spec: Arc<CompareSpec>,
}

impl Conn {
    /// A connection whose mirrored requests compare in `mode`.
    pub fn new(mode: CompareMode) -> Conn {
        Conn::with_limits(mode, PairingLimits::default())
    }

    /// Same, with limits.
    pub fn with_limits(mode: CompareMode, limits: PairingLimits) -> Conn {
        Conn {
            pairing: Http1Pairing::new(limits),
            out: Vec::new(),
            counters: Counters::default(),
            spec: spec(mode),
        }
    }

    /// A request; mirrored as pair `id` when `id` is `Some`.
    pub fn req(&mut self, method: Method, id: Option<u64>) {
        self.req_at(method, id, 0);
    }

    /// A request whose last byte was captured at `end_ns`.
    pub fn req_at(&mut self, method: Method, id: Option<u64>, end_ns: u64) {
        let mirrored = id.map(|i| (PairId(i), self.spec.clone()));
        self.pairing.push_request(
            RequestSeen {
                method,
                mirrored,
                end_ns,
            },
            &mut self.out,
            &mut self.counters,
        );
    }

    /// Response bytes, captured at time 0.
    pub fn bytes(&mut self, data: &[u8]) {
        self.bytes_at(data, 0);
    }

    /// Response bytes captured at `at_ns`.
    pub fn bytes_at(&mut self, data: &[u8], at_ns: u64) {
        self.pairing
            .push_bytes(data, at_ns, &mut self.out, &mut self.counters);
    }

    /// Response bytes cut at `cuts` (offsets, any order, out-of-range ignored).
    pub fn bytes_cut(&mut self, data: &[u8], cuts: &[usize]) {
        let mut cuts: Vec<usize> = cuts.iter().copied().filter(|c| *c <= data.len()).collect();
        cuts.sort_unstable();
        let mut at = 0;
        for c in cuts.into_iter().chain([data.len()]) {
            self.bytes(&data[at..c]);
            at = c;
        }
    }

    /// A gap of `len` bytes.
    pub fn gap(&mut self, len: u64) {
        self.pairing
            .push_gap(len, &mut self.out, &mut self.counters);
    }

    /// `len` bytes not copied.
    pub fn elided(&mut self, len: u64) {
        self.pairing
            .push_elided(len, &mut self.out, &mut self.counters);
    }

    /// The connection ends (FIN when `graceful`).
    pub fn end(&mut self, graceful: bool) {
        self.pairing
            .end(graceful, &mut self.out, &mut self.counters);
    }

    /// What each mirrored request got, in order of the events.
    pub fn got(&self) -> Vec<Got> {
        got(&self.out)
    }
}

/// Compact view of events.
pub fn got(out: &[PrimaryEvent]) -> Vec<Got> {
    out.iter()
        .map(|e| {
            (
                e.pair.0,
                match &e.result {
                    PrimaryResult::Response(s) => Ok((s.status, s.body.len)),
                    PrimaryResult::Unseen(r) => Err(*r),
                },
            )
        })
        .collect()
}

/// The summary an event carries (panics on an unseen one).
pub fn summary(e: &PrimaryEvent) -> &shadowtap_compare::ResponseSummary {
    match &e.result {
        PrimaryResult::Response(s) => s,
        PrimaryResult::Unseen(r) => panic!("pair {} unseen: {r:?}", e.pair.0),
    }
}

/// A response with a Content-Length body.
pub fn cl(status: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A response with a chunked body, cut in chunks of `size` bytes.
pub fn chunked(status: u16, body: &str, size: usize) -> String {
    let mut s = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    for c in body.as_bytes().chunks(size.max(1)) {
        s.push_str(&format!(
            "{:x}\r\n{}\r\n",
            c.len(),
            String::from_utf8_lossy(c)
        ));
    }
    s.push_str("0\r\n\r\n");
    s
}
