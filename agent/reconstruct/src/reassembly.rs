//! Per-flow TCP stream reassembly by sequence number (never by ACK), with 32-bit
//! wrap-around, out-of-order buffering, retransmission and overlap dedup, and gap detection.
//!
//! Hostile or unlucky input never yields bytes the server did not receive:
//! - bytes that two segments disagree on (while one of them is held out of order) become a
//!   gap (`gap_conflict`), so no request containing them is emitted;
//! - a segment starting further ahead than any receive window allows is ignored
//!   (`segments_out_of_window`);
//! - when a hole times out the stream jumps to the held data; data that later arrives inside
//!   the skipped range takes the flow back there (`gap_reanchor`), so one stray far segment
//!   cannot blind a flow;
//! - a SYN captured after the flow's first data (capture records from several CPUs may be
//!   reordered) is recognised as this connection's, not a new one.
//!
//! Stream positions are 64-bit offsets from the flow's first byte, so wrap-around is handled
//! once, when a segment's sequence number is turned into an offset relative to the next
//! expected byte.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes};

use crate::config::Config;
use crate::counters::{Counter, Counters};
use crate::segment::Segment;
use crate::seq;

/// What reassembly hands to the decoder, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StreamEvent {
    /// The next in-order bytes; `boundary` when they begin a captured segment.
    Data {
        /// The bytes.
        bytes: Bytes,
        /// Whether the first byte is the first byte of a captured segment.
        boundary: bool,
        /// Capture time of that segment.
        ts: u64,
        /// Size of the buffer `bytes` is a slice of (what holding them keeps alive).
        alloc: usize,
    },
    /// Bytes are missing here: `lost` of them, or an unknown number (`None`) when the
    /// stream went back to an earlier position.
    Gap {
        /// How many bytes are missing.
        lost: Option<u64>,
    },
    /// The segment carried `len` more bytes here than the capture copied (the record
    /// limit, or a response copied as a prefix). Counted as a gap (`gap_truncated`); a
    /// request decoder treats it as one, the response framer may skip it inside a body.
    Uncopied {
        /// How many bytes were not copied.
        len: u64,
    },
}

/// How a push left the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PushStatus {
    /// The flow goes on.
    Open,
    /// Everything up to the FIN was delivered.
    Fin,
    /// RST: pending data was delivered (across gaps).
    Rst,
}

/// Budgets and sinks of one reassembly call.
pub(crate) struct ReasmCtx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) counters: &'a mut Counters,
    pub(crate) events: &'a mut Vec<StreamEvent>,
    /// Most out-of-order bytes this flow may hold (global budget left to it).
    pub(crate) available: usize,
}

/// Stream ranges `[start, end)`.
type Ranges = Vec<(u64, u64)>;

#[derive(Debug)]
struct Piece {
    data: Bytes,
    boundary: bool,
    ts: u64,
    /// Bytes the capture truncated right after this piece.
    missing_after: u64,
    /// Two segments disagreed on these bytes: they are delivered as a gap.
    disputed: bool,
    /// Size of the buffer `data` is a slice of; at most twice `data.len()` while held (a
    /// smaller slice is copied out when it is buffered).
    alloc: usize,
}

/// Reassembly state of one flow's client→server direction.
#[derive(Debug)]
pub(crate) struct Reassembler {
    isn: Option<u32>,
    /// Sequence number of stream offset 0.
    base_seq: u32,
    next_off: u64,
    ooo: BTreeMap<u64, Piece>,
    ooo_bytes: usize,
    hole_since: Option<u64>,
    fin_off: Option<u64>,
    /// The stream range the last gap timeout jumped over, while nothing was delivered from
    /// inside it.
    skipped: Option<(u64, u64)>,
}

impl Reassembler {
    /// State for a flow whose first captured segment is `seg`; also tells whether the flow
    /// starts mid-stream (no SYN).
    pub(crate) fn new(seg: &Segment) -> (Self, bool) {
        let syn = seg.syn();
        let r = Self {
            isn: syn.then_some(seg.seq),
            base_seq: if syn {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            },
            next_off: 0,
            ooo: BTreeMap::new(),
            ooo_bytes: 0,
            hole_since: None,
            fin_off: None,
            skipped: None,
        };
        (r, !syn)
    }

    /// Out-of-order bytes held.
    pub(crate) fn ooo_bytes(&self) -> usize {
        self.ooo_bytes
    }

    /// Stream offset of `s` relative to the next expected byte (may be negative).
    fn offset(&self, s: u32) -> i64 {
        let next_seq = self.base_seq.wrapping_add(self.next_off as u32);
        self.next_off as i64 + seq::diff(s, next_seq)
    }

    /// Whether `seg` is the SYN of another connection on the same 4-tuple. A SYN seen after
    /// this flow's first data is this connection's when its first data byte is at or before
    /// the first captured byte, within a window.
    pub(crate) fn is_reuse(&self, seg: &Segment, max_window: u64) -> bool {
        if !seg.syn() {
            return false;
        }
        match self.isn {
            Some(isn) => isn != seg.seq,
            None => {
                let before_first = seq::diff(self.base_seq, seg.seq.wrapping_add(1));
                !(0..=max_window as i64).contains(&before_first)
            }
        }
    }

    /// Process one segment of this flow (not a reuse: see [`Reassembler::is_reuse`]).
    pub(crate) fn push(&mut self, seg: Segment, ctx: &mut ReasmCtx<'_>) -> PushStatus {
        if seg.syn() && self.isn.is_none() {
            // Before any data this sets the stream's origin; after (a reordered capture) the
            // origin stays at the first captured byte, which `is_reuse` checked is not before
            // the SYN.
            self.isn = Some(seg.seq);
            if self.next_off == 0 && self.ooo.is_empty() {
                self.base_seq = seg.seq.wrapping_add(1);
            }
        }
        let data_seq = seg.seq.wrapping_add(u32::from(seg.syn()));
        let start = self.offset(data_seq);
        if start - self.next_off as i64 > ctx.config.max_window_bytes as i64 {
            ctx.counters.inc(Counter::SegmentsOutOfWindow);
            return self.status();
        }
        let wire_end = start + i64::from(seg.payload_len);
        if seg.fin() && wire_end >= 0 && self.fin_off.is_none() {
            self.fin_off = Some(wire_end as u64);
        }
        let (ts, rst) = (seg.ts_ns, seg.rst());
        if seg.payload_len > 0 {
            let cap_end = start + seg.payload.len() as i64;
            let missing = (wire_end - cap_end.max(self.next_off as i64)).max(0) as u64;
            self.insert(start, seg.payload, missing, ts, ctx);
        }
        self.check_timeout(ts, ctx);
        if rst {
            self.flush(Counter::GapClosed, ctx);
            return PushStatus::Rst;
        }
        self.status()
    }

    /// Whether everything up to the FIN has been delivered.
    fn status(&self) -> PushStatus {
        match self.fin_off {
            Some(f) if self.next_off >= f => PushStatus::Fin,
            _ => PushStatus::Open,
        }
    }

    /// Data at `start` falls inside the range the last gap timeout skipped: the skip went the
    /// wrong way (to a stray segment ahead, say). Go back to `start`, giving up what is held
    /// ahead, with a gap so the decoder resynchronises.
    fn reanchor(&mut self, start: u64, ctx: &mut ReasmCtx<'_>) {
        self.skipped = None;
        for (_, p) in std::mem::take(&mut self.ooo) {
            ctx.counters.add(Counter::BytesLost, p.data.len() as u64);
        }
        self.ooo_bytes = 0;
        self.hole_since = None;
        if self.fin_off.is_some_and(|f| f > start) {
            self.fin_off = None;
        }
        ctx.counters.inc(Counter::Gaps);
        ctx.counters.inc(Counter::GapReanchor);
        self.next_off = start;
        ctx.events.push(StreamEvent::Gap { lost: None });
    }

    fn insert(
        &mut self,
        start: i64,
        mut data: Bytes,
        missing: u64,
        ts: u64,
        ctx: &mut ReasmCtx<'_>,
    ) {
        if let Some((from, to)) = self.skipped {
            if start >= from as i64 && start < to as i64 && !data.is_empty() {
                self.reanchor(start as u64, ctx);
            }
        }
        let next = self.next_off as i64;
        let wire_len = data.len() as u64 + missing;
        if start + wire_len as i64 <= next {
            ctx.counters.inc(Counter::SegmentsDuplicate);
            ctx.counters.add(Counter::BytesDuplicate, data.len() as u64);
            return;
        }
        let alloc = data.len();
        let mut s = start;
        let mut boundary = true;
        if s < next {
            let cut = ((next - s) as usize).min(data.len());
            ctx.counters.add(Counter::BytesDuplicate, cut as u64);
            data.advance(cut);
            s = next;
            boundary = false;
        }
        let s = s as u64;
        if data.is_empty() {
            // Only a truncated tail is left.
            if s == self.next_off && missing > 0 {
                self.gap(Counter::GapTruncated, missing, ctx);
                self.drain(ctx);
            }
            return;
        }
        if s == self.next_off && self.ooo.is_empty() {
            self.deliver(data, boundary, ts, alloc, ctx);
            if missing > 0 {
                self.gap(Counter::GapTruncated, missing, ctx);
            }
            return;
        }
        let e = s + data.len() as u64;
        let (subs, conflicts) = self.uncovered(s, &data, ctx.counters);
        for (a, b) in conflicts {
            self.dispute(a, b);
        }
        if subs.is_empty() {
            ctx.counters.inc(Counter::SegmentsDuplicate);
        }
        for (a, b) in subs {
            let piece = Piece {
                data: data.slice((a - s) as usize..(b - s) as usize),
                boundary: boundary && a == s,
                ts,
                missing_after: if b == e { missing } else { 0 },
                disputed: false,
                alloc,
            };
            self.place(a, piece, ctx);
        }
    }

    /// Sub-ranges of `[s, s + data.len())` not held yet, and the held ranges whose bytes
    /// differ from `data` (conflicts), counting overlaps and conflicts.
    fn uncovered(&self, s: u64, data: &[u8], counters: &mut Counters) -> (Ranges, Ranges) {
        let e = s + data.len() as u64;
        let mut cursor = s;
        let mut out = Vec::new();
        let mut conflicts = Vec::new();
        let first = self.ooo.range(..=s).next_back().map_or(s, |(k, _)| *k);
        for (&ps, p) in self.ooo.range(first..e) {
            let pe = ps + p.data.len() as u64;
            if pe <= cursor {
                continue;
            }
            if ps > cursor {
                out.push((cursor, ps));
            }
            let (os, oe) = (ps.max(cursor), pe.min(e));
            if oe > os {
                counters.add(Counter::BytesDuplicate, oe - os);
                let new = &data[(os - s) as usize..(oe - s) as usize];
                let old = &p.data[(os - ps) as usize..(oe - ps) as usize];
                if new != old && !p.disputed {
                    counters.inc(Counter::OverlapConflicts);
                    conflicts.push((os, oe));
                }
            }
            cursor = cursor.max(pe);
            if cursor >= e {
                break;
            }
        }
        if cursor < e {
            out.push((cursor, e));
        }
        (out, conflicts)
    }

    /// Mark the held bytes `[a, b)` (inside one held piece) as disputed: the piece is split
    /// so that exactly that range is delivered as a gap.
    fn dispute(&mut self, a: u64, b: u64) {
        let Some((&ps, _)) = self.ooo.range(..=a).next_back() else {
            return;
        };
        let Some(p) = self.ooo.remove(&ps) else {
            return;
        };
        let pe = ps + p.data.len() as u64;
        let (a, b) = (a.max(ps), b.min(pe));
        let part = |from: u64, to: u64, disputed: bool, boundary: bool, missing: u64| Piece {
            data: p.data.slice((from - ps) as usize..(to - ps) as usize),
            boundary,
            ts: p.ts,
            missing_after: missing,
            disputed,
            alloc: p.alloc,
        };
        if a > ps {
            self.ooo.insert(ps, part(ps, a, false, p.boundary, 0));
        }
        self.ooo.insert(
            a,
            part(a, b, true, false, if b == pe { p.missing_after } else { 0 }),
        );
        if b < pe {
            self.ooo
                .insert(b, part(b, pe, false, false, p.missing_after));
        }
    }

    /// Deliver or buffer one piece that overlaps nothing held.
    fn place(&mut self, mut at: u64, mut piece: Piece, ctx: &mut ReasmCtx<'_>) {
        loop {
            if at < self.next_off {
                let cut = ((self.next_off - at) as usize).min(piece.data.len());
                piece.data.advance(cut);
                piece.boundary = false;
                at = self.next_off;
                if piece.data.is_empty() {
                    return;
                }
            }
            if at == self.next_off {
                let missing = piece.missing_after;
                self.deliver(piece.data, piece.boundary, piece.ts, piece.alloc, ctx);
                if missing > 0 {
                    self.gap(Counter::GapTruncated, missing, ctx);
                }
                self.drain(ctx);
                return;
            }
            let b = &ctx.config.budgets;
            let len = piece.data.len();
            let reason = if self.ooo.len() >= b.flow_reassembly_segments
                || self.ooo_bytes + len > b.flow_reassembly_bytes
            {
                Some(Counter::GapFlowCap)
            } else if self.ooo_bytes + len > ctx.available {
                Some(Counter::GapBudget)
            } else {
                None
            };
            match reason {
                None => {
                    if self.ooo.is_empty() {
                        self.hole_since = Some(piece.ts);
                    }
                    ctx.counters.inc(Counter::SegmentsOutOfOrder);
                    if len.saturating_mul(2) < piece.alloc {
                        // A small part of a larger segment: held alone, it would keep the
                        // whole segment alive while the budget counts only its length.
                        piece.data = Bytes::copy_from_slice(&piece.data);
                        piece.alloc = len;
                    }
                    self.ooo_bytes += len;
                    self.ooo.insert(at, piece);
                    return;
                }
                Some(r) => {
                    // Give up the first hole; with nothing held, the hole before this piece.
                    let to = self.ooo.keys().next().copied().unwrap_or(at).min(at);
                    self.gap(r, to - self.next_off, ctx);
                    self.drain(ctx);
                }
            }
        }
    }

    fn deliver(
        &mut self,
        data: Bytes,
        boundary: bool,
        ts: u64,
        alloc: usize,
        ctx: &mut ReasmCtx<'_>,
    ) {
        self.next_off += data.len() as u64;
        ctx.counters.add(Counter::BytesDelivered, data.len() as u64);
        ctx.events.push(StreamEvent::Data {
            bytes: data,
            boundary,
            ts,
            alloc,
        });
    }

    fn gap(&mut self, reason: Counter, lost: u64, ctx: &mut ReasmCtx<'_>) {
        ctx.counters.inc(Counter::Gaps);
        ctx.counters.inc(reason);
        ctx.counters.add(Counter::BytesLost, lost);
        self.next_off += lost;
        ctx.events.push(if reason == Counter::GapTruncated {
            StreamEvent::Uncopied { len: lost }
        } else {
            StreamEvent::Gap { lost: Some(lost) }
        });
    }

    /// Deliver the held pieces that are now in order.
    fn drain(&mut self, ctx: &mut ReasmCtx<'_>) {
        while let Some(entry) = self.ooo.first_entry() {
            let at = *entry.key();
            if at > self.next_off {
                break;
            }
            let mut p = entry.remove();
            self.ooo_bytes -= p.data.len();
            let orig_end = at + p.data.len() as u64;
            let cut = ((self.next_off - at) as usize).min(p.data.len());
            if cut > 0 {
                ctx.counters.add(Counter::BytesDuplicate, cut as u64);
                p.data.advance(cut);
                p.boundary = false;
            }
            if p.disputed {
                if !p.data.is_empty() {
                    self.gap(Counter::GapConflict, p.data.len() as u64, ctx);
                }
            } else if !p.data.is_empty() {
                self.deliver(p.data, p.boundary, p.ts, p.alloc, ctx);
            }
            let tail_end = orig_end + p.missing_after;
            if p.missing_after > 0 && tail_end > self.next_off {
                self.gap(Counter::GapTruncated, tail_end - self.next_off, ctx);
            }
        }
        self.hole_since = self.ooo.values().map(|p| p.ts).min();
    }

    /// Give up the first hole (counted under `reason`) and deliver what follows it.
    fn skip_hole(&mut self, reason: Counter, ctx: &mut ReasmCtx<'_>) -> bool {
        let Some(&first) = self.ooo.keys().next() else {
            return false;
        };
        let from = self.next_off;
        self.gap(reason, first.saturating_sub(from), ctx);
        self.skipped = (reason == Counter::GapTimeout && first > from).then_some((from, first));
        self.drain(ctx);
        true
    }

    /// Declare a gap for holes that waited longer than the gap timeout at capture time `now`.
    pub(crate) fn check_timeout(&mut self, now: u64, ctx: &mut ReasmCtx<'_>) {
        let limit = ctx.config.timeouts.gap_ns;
        while let Some(since) = self.hole_since {
            if now.saturating_sub(since) < limit || !self.skip_hole(Counter::GapTimeout, ctx) {
                break;
            }
        }
    }

    /// Deliver everything held, giving up every hole (the flow is ending).
    pub(crate) fn flush(&mut self, reason: Counter, ctx: &mut ReasmCtx<'_>) {
        while self.skip_hole(reason, ctx) {}
    }
}
