//! Pairing on one HTTP/2 (h2c) connection: by stream id, not by order. The server→client
//! bytes go through shadowtap-h2's [`H2ResponseDecoder`] (the server's own HPACK table);
//! each client-initiated stream's final response head, body and trailers become a
//! [`ResponseSummary`], given to the request of the same stream id.
//!
//! Requests and responses may come in either order (a server may answer before a
//! streaming request ends, and the pipeline decodes a request only once it is complete):
//! - a request whose response is not complete waits for it ([`PairingLimits::max_queued`]
//!   per connection; beyond it a mirrored request is unseen, `queue_full`);
//! - a response complete before its request is held, summarised with every header field
//!   and the body hashed (the route's settings, not known yet, select at pairing time), up
//!   to [`PairingLimits::max_queued`] of them and [`MAX_HELD_BYTES`] (the lowest stream
//!   ids go first: a request that never comes was dropped by the request decoder).
//!
//! What ends a mirrored request unseen, by reason: a gap in its DATA (`gap`), a malformed or
//! oversized head (`bad_framing`), the server's RST_STREAM or a GOAWAY below its stream id
//! (`reset`), the connection's end before or during its response (`no_response`,
//! `truncated`). A loss the framing cannot step over — in a frame header or a header block
//! (the dynamic table is then unknown), bytes not copied there, a connection error — stops
//! the pairing: every request waiting and every later one is unseen (`gap`, `elided`,
//! `bad_framing`), so no response is ever given to the wrong stream.
//!
//! Summaries: `:status` (interim 1xx heads skipped), the head's fields then the trailers'
//! (names are lower case on HTTP/2), the DATA's length and, in the body mode, its hash
//! (unhashed when the kernel did not copy all of it), and `grpc-status` from the trailers
//! or a trailers-only head. Latency: from the request's last byte to the capture of the
//! bytes that completed the final head (zero when the server answered before the request
//! ended).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use shadowtap_h2::{H2ResponseDecoder, Limits, ServerEvent, ServerStop, StreamLoss};

use crate::counters::{Counter, Counters};
use crate::digest::{BodyDigest, BodyHasher};
use crate::pairing::{PairingLimits, PrimaryEvent, PrimaryResult, UnseenReason};
use crate::pending::PairId;
use crate::spec::CompareSpec;
use crate::summary::{HeaderField, ResponseSummary};

/// One request of the connection, as the HTTP/2 decoder emitted it.
#[derive(Clone, Debug)]
pub struct H2RequestSeen {
    /// Its stream.
    pub stream_id: u32,
    /// When it was mirrored: its pair and its route's comparison settings.
    pub mirrored: Option<(PairId, Arc<CompareSpec>)>,
    /// Capture time (ns) of its last byte.
    pub end_ns: u64,
}

/// A request waiting for its response.
#[derive(Debug)]
struct Waiting {
    mirrored: Option<(PairId, Arc<CompareSpec>)>,
    end_ns: u64,
}

/// A response being read.
#[derive(Debug)]
struct Reading {
    status: u16,
    head_ns: u64,
    fields: Vec<HeaderField>,
    grpc_status: Option<Box<[u8]>>,
    /// `None` once a byte was not copied, or when the request's route does not hash.
    hasher: Option<BodyHasher>,
    len: u64,
    /// Keep the header fields (the request is not known yet, or compares headers).
    keep_fields: bool,
    /// What `fields` holds, kept as they are added.
    fields_bytes: usize,
    /// What it was last charged in [`H2Pairing`]'s `reading_bytes`.
    charged: usize,
}

/// A complete response: the body's hash finished (a hasher's state is not kept).
#[derive(Debug)]
struct Complete {
    status: u16,
    head_ns: u64,
    fields: Vec<HeaderField>,
    grpc_status: Option<Box<[u8]>>,
    body: BodyDigest,
}

impl Reading {
    /// Bytes held, O(1).
    fn cost(&self) -> usize {
        std::mem::size_of::<Reading>()
            + self.fields_bytes
            + self.hasher.as_ref().map_or(0, BodyHasher::heap_bytes)
    }

    fn complete(self) -> Complete {
        Complete {
            status: self.status,
            head_ns: self.head_ns,
            fields: self.fields,
            grpc_status: self.grpc_status,
            body: match self.hasher {
                Some(h) => h.finish(),
                None => BodyDigest::unhashed(self.len),
            },
        }
    }
}

impl Complete {
    fn held_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .fields
                .iter()
                .map(|f| f.name.len() + f.value.len() + std::mem::size_of::<HeaderField>())
                .sum::<usize>()
            + self.body.heap_bytes()
            + self.grpc_status.as_ref().map_or(0, |g| g.len())
    }
}

/// A stream's response, complete (or lost) before its request came.
#[derive(Debug)]
enum Done {
    Response(Complete),
    Unseen(UnseenReason),
}

impl Done {
    fn held_bytes(&self) -> usize {
        match self {
            Done::Response(c) => c.held_bytes(),
            Done::Unseen(_) => std::mem::size_of::<Self>(),
        }
    }
}

/// Most bytes the responses held for requests not decoded yet may take on one connection;
/// beyond it the lowest stream ids go first.
pub const MAX_HELD_BYTES: usize = 1 << 20;

/// Pairs the requests and primary responses of one HTTP/2 connection seen from its start
/// (see the module docs). Every method appends the pairs it finishes to `out` and counts
/// into `counters`; nothing panics, whatever the bytes.
#[derive(Debug)]
pub struct H2Pairing {
    limits: PairingLimits,
    decoder: H2ResponseDecoder,
    events: Vec<ServerEvent>,
    waiting: HashMap<u32, Waiting>,
    reading: HashMap<u32, Reading>,
    done: BTreeMap<u32, Done>,
    /// Bytes `done` holds.
    done_bytes: usize,
    /// Bytes `reading` holds (each entry's `charged`).
    reading_bytes: usize,
    goaway: Option<u32>,
    stopped: Option<UnseenReason>,
    /// Capture time of the bytes being decoded.
    at_ns: u64,
}

impl H2Pairing {
    /// A connection whose server side is seen from its first byte.
    pub fn new(limits: PairingLimits) -> H2Pairing {
        H2Pairing {
            limits,
            decoder: H2ResponseDecoder::new(Limits::default()),
            events: Vec::new(),
            waiting: HashMap::new(),
            reading: HashMap::new(),
            done: BTreeMap::new(),
            done_bytes: 0,
            reading_bytes: 0,
            goaway: None,
            stopped: None,
            at_ns: 0,
        }
    }

    /// Why the connection stopped pairing, if it did.
    pub fn stopped(&self) -> Option<UnseenReason> {
        self.stopped
    }

    /// Requests awaiting their response.
    pub fn queued(&self) -> usize {
        self.waiting.len()
    }

    /// Bytes held (the decoder's buffers, requests waiting, responses read or held). O(1):
    /// the responses' sizes are kept as they change.
    pub fn held_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.decoder.held_bytes()
            + self.waiting.len() * (std::mem::size_of::<Waiting>() + 8)
            + self.reading_bytes
            + self.done_bytes
    }

    /// Stops pairing to release what the connection holds (the node's pairings are over
    /// their budget): every waiting mirrored request, and every later one, is unseen
    /// (`unseen_over_budget`). Nothing if it had stopped already.
    pub fn stop_over_budget(&mut self, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        self.stop(UnseenReason::OverBudget, out, counters);
    }

    /// Starts reading a stream's response (replacing any other of the same stream).
    fn reading_insert(&mut self, id: u32, mut r: Reading) {
        r.charged = r.cost();
        self.reading_bytes += r.charged;
        if let Some(old) = self.reading.insert(id, r) {
            self.reading_bytes = self.reading_bytes.saturating_sub(old.charged);
        }
    }

    /// Stops reading a stream's response.
    fn reading_remove(&mut self, id: u32) -> Option<Reading> {
        let r = self.reading.remove(&id)?;
        self.reading_bytes = self.reading_bytes.saturating_sub(r.charged);
        Some(r)
    }

    /// Changes a stream's response being read, keeping `reading_bytes` exact.
    fn reading_update(&mut self, id: u32, f: impl FnOnce(&mut Reading)) {
        if let Some(r) = self.reading.get_mut(&id) {
            f(r);
            let cost = r.cost();
            self.reading_bytes = self.reading_bytes.saturating_sub(r.charged) + cost;
            r.charged = cost;
        }
    }

    /// A request of the connection (every one the decoder emitted, mirrored or not).
    pub fn push_request(
        &mut self,
        req: H2RequestSeen,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        let id = req.stream_id;
        if let Some(reason) = self.stopped {
            return unseen(req.mirrored.as_ref(), reason, out, counters);
        }
        if self.goaway.is_some_and(|last| id > last) {
            return unseen(req.mirrored.as_ref(), UnseenReason::Reset, out, counters);
        }
        if let Some(done) = self.done.remove(&id) {
            self.done_bytes = self.done_bytes.saturating_sub(done.held_bytes());
            match done {
                Done::Response(c) => finish(c, req.mirrored, req.end_ns, out, counters),
                Done::Unseen(reason) => unseen(req.mirrored.as_ref(), reason, out, counters),
            }
            return;
        }
        if self.waiting.len() >= self.limits.max_queued || self.waiting.contains_key(&id) {
            return unseen(
                req.mirrored.as_ref(),
                UnseenReason::QueueFull,
                out,
                counters,
            );
        }
        // The response started first: hash only if the route compares bodies, keep
        // fields only if it compares them.
        let hash = req.mirrored.as_ref().is_some_and(|(_, s)| s.mode().body());
        let keep_fields = req
            .mirrored
            .as_ref()
            .is_some_and(|(_, s)| s.mode().headers());
        self.reading_update(id, |r| {
            if !hash {
                r.hasher = None;
            }
            if !keep_fields {
                r.keep_fields = false;
                r.fields = Vec::new();
                r.fields_bytes = 0;
            }
        });
        self.waiting.insert(
            id,
            Waiting {
                mirrored: req.mirrored,
                end_ns: req.end_ns,
            },
        );
    }

    /// The next bytes of the response stream, captured at `at_ns`.
    pub fn push_bytes(
        &mut self,
        data: &Bytes,
        at_ns: u64,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        if self.stopped.is_some() {
            counters.add(Counter::BytesIgnored, data.len() as u64);
            return;
        }
        self.at_ns = at_ns;
        self.decoder.push(data, &mut self.events);
        self.apply(out, counters);
    }

    /// `lost` bytes (or an unknown number) of the response stream are lost.
    pub fn push_gap(
        &mut self,
        lost: Option<u64>,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        if self.stopped.is_none() {
            self.decoder.push_gap(lost, &mut self.events);
            self.apply(out, counters);
        }
    }

    /// `len` bytes of the response stream were not copied by the kernel.
    pub fn push_elided(&mut self, len: u64, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.stopped.is_none() {
            self.decoder.push_elided(len, &mut self.events);
            self.apply(out, counters);
        }
    }

    /// The connection ended: requests still waiting are unseen (`truncated` when their
    /// response had started, else `no_response`).
    pub fn end(&mut self, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.stopped.is_some() {
            return;
        }
        let mut ids: Vec<u32> = self.waiting.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(w) = self.waiting.remove(&id) {
                let reason = if self.reading.contains_key(&id) {
                    UnseenReason::Truncated
                } else {
                    UnseenReason::NoResponse
                };
                unseen(w.mirrored.as_ref(), reason, out, counters);
            }
        }
        self.stop(UnseenReason::NoResponse, out, counters);
    }

    fn apply(&mut self, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.stopped.is_some() {
                break;
            }
            self.event(ev, out, counters);
        }
        self.events = events;
        self.events.clear();
    }

    fn event(&mut self, ev: &ServerEvent, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        match ev {
            // Server-initiated (pushed) streams answer no client request.
            ServerEvent::Headers { stream_id, .. }
            | ServerEvent::Data { stream_id, .. }
            | ServerEvent::DataElided { stream_id, .. }
            | ServerEvent::EndStream { stream_id }
                if stream_id % 2 == 0 => {}
            ServerEvent::Headers {
                stream_id,
                status: Some(status),
                fields,
                end_stream,
            } => {
                if (100..200).contains(status) {
                    if *end_stream {
                        self.lost(*stream_id, UnseenReason::BadFraming, out, counters);
                    }
                    return;
                }
                if self.reading.contains_key(stream_id) {
                    // A second final head: malformed.
                    self.reading_remove(*stream_id);
                    return self.lost(*stream_id, UnseenReason::BadFraming, out, counters);
                }
                // What the request's route compares, when it is known (else everything).
                let (hash, keep_fields) = match self.waiting.get(stream_id) {
                    Some(w) => match &w.mirrored {
                        Some((_, s)) => (s.mode().body(), s.mode().headers()),
                        None => (false, false),
                    },
                    None => (true, true),
                };
                let mut r = Reading {
                    status: *status,
                    head_ns: self.at_ns,
                    fields: Vec::new(),
                    grpc_status: None,
                    hasher: hash.then(BodyHasher::new),
                    len: 0,
                    keep_fields,
                    fields_bytes: 0,
                    charged: 0,
                };
                add_fields(&mut r, fields);
                if *end_stream {
                    self.complete(*stream_id, r, out, counters);
                } else {
                    self.reading_insert(*stream_id, r);
                }
            }
            ServerEvent::Headers {
                stream_id,
                status: None,
                fields,
                ..
            } => {
                // Trailers (the decoder checked END_STREAM).
                if let Some(mut r) = self.reading_remove(*stream_id) {
                    add_fields(&mut r, fields);
                    self.complete(*stream_id, r, out, counters);
                }
            }
            ServerEvent::Data { stream_id, bytes } => {
                self.reading_update(*stream_id, |r| {
                    r.len += bytes.len() as u64;
                    if let Some(h) = &mut r.hasher {
                        h.update(bytes);
                    }
                });
            }
            ServerEvent::DataElided { stream_id, len } => {
                self.reading_update(*stream_id, |r| {
                    r.len += len;
                    r.hasher = None;
                });
            }
            ServerEvent::EndStream { stream_id } => {
                if let Some(r) = self.reading_remove(*stream_id) {
                    self.complete(*stream_id, r, out, counters);
                }
            }
            ServerEvent::Reset { stream_id, .. } => {
                self.reading_remove(*stream_id);
                self.lost(*stream_id, UnseenReason::Reset, out, counters);
            }
            ServerEvent::StreamLost { stream_id, loss } => {
                self.reading_remove(*stream_id);
                let reason = match loss {
                    StreamLoss::Gap | StreamLoss::ResetUnseen => UnseenReason::Gap,
                    StreamLoss::HeaderListTooLarge | StreamLoss::Malformed => {
                        UnseenReason::BadFraming
                    }
                };
                self.lost(*stream_id, reason, out, counters);
            }
            ServerEvent::GoAway { last_stream_id, .. } => {
                let last = *last_stream_id;
                self.goaway = Some(self.goaway.map_or(last, |g| g.min(last)));
                let above: Vec<u32> = self
                    .waiting
                    .keys()
                    .copied()
                    .filter(|id| *id > last)
                    .collect();
                for id in above {
                    self.reading_remove(id);
                    self.lost(id, UnseenReason::Reset, out, counters);
                }
            }
            ServerEvent::Stopped(stop) => {
                let reason = match stop {
                    ServerStop::GapInFraming | ServerStop::GapInHeaderBlock => UnseenReason::Gap,
                    ServerStop::Elided => UnseenReason::Elided,
                    ServerStop::NoServerPreface
                    | ServerStop::Hpack
                    | ServerStop::HeaderBlockTooLarge
                    | ServerStop::Protocol => UnseenReason::BadFraming,
                };
                self.stop(reason, out, counters);
            }
        }
    }

    /// A stream's response is complete: to its request, or held for it.
    fn complete(
        &mut self,
        id: u32,
        r: Reading,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        match self.waiting.remove(&id) {
            Some(w) => finish(r.complete(), w.mirrored, w.end_ns, out, counters),
            None => self.hold(id, Done::Response(r.complete()), counters),
        }
    }

    /// A stream's response will not be seen: its request is unseen now, or when it comes.
    fn lost(
        &mut self,
        id: u32,
        reason: UnseenReason,
        out: &mut Vec<PrimaryEvent>,
        counters: &mut Counters,
    ) {
        match self.waiting.remove(&id) {
            Some(w) => unseen(w.mirrored.as_ref(), reason, out, counters),
            None => self.hold(id, Done::Unseen(reason), counters),
        }
    }

    fn hold(&mut self, id: u32, done: Done, counters: &mut Counters) {
        self.done_bytes += done.held_bytes();
        if let Some(old) = self.done.insert(id, done) {
            self.done_bytes = self.done_bytes.saturating_sub(old.held_bytes());
        }
        while self.done.len() > self.limits.max_queued || self.done_bytes > MAX_HELD_BYTES {
            // The lowest stream id: its request was dropped by the request decoder, or
            // the one most overdue.
            let Some((_, gone)) = self.done.pop_first() else {
                break;
            };
            self.done_bytes = self.done_bytes.saturating_sub(gone.held_bytes());
            if let Done::Response(_) = gone {
                counters.inc(Counter::ResponsesFramed);
                counters.inc(Counter::ResponsesUnmirrored);
            }
        }
    }

    /// Stops pairing: every waiting mirrored request, and every later one, is unseen.
    fn stop(&mut self, reason: UnseenReason, out: &mut Vec<PrimaryEvent>, counters: &mut Counters) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(reason);
        counters.inc(Counter::ConnectionsStopped);
        let mut waiting: Vec<(u32, Waiting)> = self.waiting.drain().collect();
        waiting.sort_unstable_by_key(|(id, _)| *id);
        for (_, w) in waiting {
            unseen(w.mirrored.as_ref(), reason, out, counters);
        }
        self.waiting = HashMap::new();
        self.reading = HashMap::new();
        self.reading_bytes = 0;
        self.done = BTreeMap::new();
        self.done_bytes = 0;
        // Its bytes are never read again: release its buffers too.
        self.decoder = H2ResponseDecoder::new(Limits::default());
        self.events = Vec::new();
    }
}

fn add_fields(r: &mut Reading, fields: &[shadowtap_h2::Field]) {
    for f in fields {
        if f.name.eq_ignore_ascii_case(crate::summary::GRPC_STATUS) {
            r.grpc_status = Some(shadowtap_wire::http1::token::trim_ows(&f.value).into());
        }
        if !r.keep_fields {
            continue;
        }
        let field = HeaderField {
            name: f.name.to_ascii_lowercase().into_boxed_slice(),
            value: shadowtap_wire::http1::token::trim_ows(&f.value).into(),
        };
        r.fields_bytes += field.name.len() + field.value.len() + std::mem::size_of::<HeaderField>();
        r.fields.push(field);
    }
}

/// The response of a request: summarised with its route's settings when it was mirrored.
fn finish(
    c: Complete,
    mirrored: Option<(PairId, Arc<CompareSpec>)>,
    end_ns: u64,
    out: &mut Vec<PrimaryEvent>,
    counters: &mut Counters,
) {
    counters.inc(Counter::ResponsesFramed);
    let Some((pair, spec)) = mirrored else {
        counters.inc(Counter::ResponsesUnmirrored);
        return;
    };
    counters.inc(Counter::ResponsesSummarised);
    let mode = spec.mode();
    let body = if mode.body() {
        c.body
    } else {
        BodyDigest::unhashed(c.body.len)
    };
    let headers = if mode.headers() {
        c.fields
            .into_iter()
            .filter(|f| spec.compares_header(&f.name))
            .collect()
    } else {
        Vec::new()
    };
    out.push(PrimaryEvent {
        pair,
        result: PrimaryResult::Response(ResponseSummary {
            status: c.status,
            headers,
            body,
            grpc_status: c.grpc_status,
            latency: std::time::Duration::from_nanos(c.head_ns.saturating_sub(end_ns)),
        }),
    });
}

fn unseen(
    mirrored: Option<&(PairId, Arc<CompareSpec>)>,
    reason: UnseenReason,
    out: &mut Vec<PrimaryEvent>,
    counters: &mut Counters,
) {
    if let Some((pair, _)) = mirrored {
        counters.inc(reason.counter());
        out.push(PrimaryEvent {
            pair: *pair,
            result: PrimaryResult::Unseen(reason),
        });
    }
}

#[cfg(test)]
mod tests {
    //! The sizes kept incrementally ([`H2Pairing::held_bytes`] is O(1)) agree with a walk
    //! over the streams at every step, however the bytes are cut.

    use shadowtap_h2::client_bytes::{ClientBytes, HeadersOpts};
    use shadowtap_h2::frame::FrameType;

    use super::*;
    use crate::spec::CompareMode;

    fn walked(p: &H2Pairing) -> usize {
        p.reading.values().map(Reading::cost).sum()
    }

    fn check(p: &H2Pairing, step: &str) {
        for (id, r) in &p.reading {
            assert_eq!(r.charged, r.cost(), "{step}: stream {id} charged stale");
            let fields: usize = r
                .fields
                .iter()
                .map(|f| f.name.len() + f.value.len() + std::mem::size_of::<HeaderField>())
                .sum();
            assert_eq!(r.fields_bytes, fields, "{step}: stream {id} fields");
        }
        assert_eq!(p.reading_bytes, walked(p), "{step}: reading bytes drifted");
        let done: usize = p.done.values().map(Done::held_bytes).sum();
        assert_eq!(p.done_bytes, done, "{step}: done bytes drifted");
    }

    /// Three interleaved streams: heads with long fields, DATA in pieces, one reset, one
    /// with trailers; stream 3's request comes while its response is read (its route
    /// compares the status only, so fields and hasher go).
    fn session() -> Vec<u8> {
        let mut s = ClientBytes::without_preface();
        s.frame(FrameType::Settings, 0, 0, &[]);
        let pad = "v".repeat(700);
        let h = HeadersOpts::default();
        for id in [1, 3, 5] {
            s.headers(id, &[(":status", "200"), ("x-pad", pad.as_str())], h);
        }
        for round in 0..20 {
            for id in [1, 3, 5] {
                s.data(id, &[b'a' + round; 5000], false, None);
            }
        }
        s.rst(5);
        s.headers(
            1,
            &[("grpc-status", "0")],
            HeadersOpts {
                end_stream: true,
                ..h
            },
        );
        s.data(3, b"end", true, None);
        s.bytes
    }

    #[test]
    fn held_bytes_kept_incrementally_match_a_walk() {
        let bytes = session();
        let spec = Arc::new(CompareSpec::new(CompareMode::Status));
        for cut in [1, 7, 100, 4096, bytes.len()] {
            let mut p = H2Pairing::new(PairingLimits::default());
            let (mut out, mut counters) = (Vec::new(), Counters::default());
            let mut asked = false;
            for (i, piece) in bytes.chunks(cut).enumerate() {
                p.push_bytes(
                    &Bytes::copy_from_slice(piece),
                    i as u64,
                    &mut out,
                    &mut counters,
                );
                check(&p, &format!("cut {cut}, piece {i}"));
                if !asked && p.reading.contains_key(&3) && p.reading.len() == 3 {
                    asked = true;
                    let charged = p.reading_bytes;
                    p.push_request(
                        H2RequestSeen {
                            stream_id: 3,
                            mirrored: Some((PairId(3), spec.clone())),
                            end_ns: 0,
                        },
                        &mut out,
                        &mut counters,
                    );
                    check(&p, "stream 3's request");
                    assert!(p.reading_bytes < charged, "its fields were released");
                }
            }
            if cut < bytes.len() {
                assert!(
                    asked,
                    "cut {cut}: stream 3's request came while it was read"
                );
            } else {
                // In one piece: the response was held for its request.
                assert!(!asked && p.done.contains_key(&3));
                p.push_request(
                    H2RequestSeen {
                        stream_id: 3,
                        mirrored: Some((PairId(3), spec.clone())),
                        end_ns: 0,
                    },
                    &mut out,
                    &mut counters,
                );
                check(&p, "stream 3's request after its response");
            }
            assert!(p.reading.is_empty(), "cut {cut}: every stream ended");
            assert_eq!(p.reading_bytes, 0);
            assert_eq!(out.len(), 1, "stream 3 paired");
            p.stop_over_budget(&mut out, &mut counters);
            check(&p, "stopped");
            assert_eq!(p.held_bytes(), std::mem::size_of::<H2Pairing>());
        }
    }
}
