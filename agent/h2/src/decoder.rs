//! The incremental decoder of the client side of one cleartext HTTP/2 connection.

use bytes::{Bytes, BytesMut};

use crate::config::Limits;
use crate::counters::{Counter, Counters};
use crate::frame::{
    unpad, FrameHeader, FrameType, FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED,
    FLAG_PRIORITY, HEADER_LEN, PREFACE,
};
use crate::hpack::HpackDecoder;
use crate::request::{check_trailers, content_length, parse_head, H2Request};
use crate::stop::{ProtocolError, StopReason};
use crate::streams::{OpenStream, StreamTable};

/// Largest SETTINGS payload held to be read; a larger one (legal, but 170+ repeated
/// parameters) is skipped unread. The client's settings never change how its header blocks
/// decode.
const MAX_SETTINGS_LEN: u32 = 1024;

/// How the connection's client bytes begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// At the start of the connection, with prior knowledge: the preface comes first. Any
    /// other first bytes mean the connection started before capture (`h2_midstream`).
    PriorKnowledge,
    /// Right after an HTTP/1.1 request with `Upgrade: h2c` (listed in `Connection`). A
    /// client sends the preface only once it has read the server's `101`, so a preface here
    /// means the upgrade was accepted; anything else means it was declined
    /// (`h2c_upgrade_declined`) and the bytes are an HTTP/1.1 request, handed back by
    /// [`H2Decoder::take_declined_bytes`]. Stream 1 is the upgrade request itself (already
    /// decoded as HTTP/1.1), so the client's streams here start at 3.
    AfterH2cUpgrade,
}

/// Where the decoder is in the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Matching the client preface; `buf` holds the bytes matched so far.
    Preface,
    /// Reading a frame header into `buf`.
    Header,
    /// Streaming a DATA payload.
    Data(DataFrame),
    /// Reading a whole payload into `buf` (HEADERS, CONTINUATION, SETTINGS).
    Payload(FrameHeader),
    /// Skipping a payload whose content does not matter.
    Skip { remaining: u32 },
    /// No longer decoding.
    Stopped(StopReason),
    /// `finish` was called.
    Finished,
}

/// Progress through one DATA payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DataFrame {
    stream_id: u32,
    end_stream: bool,
    /// The pad length byte is still to come.
    pad_len_pending: bool,
    /// Data bytes left (while `pad_len_pending`: the rest of the payload).
    data_left: u32,
    /// Padding bytes left.
    pad_left: u32,
    /// Total payload length, for the padding check.
    length: u32,
}

impl DataFrame {
    fn remaining(&self) -> u64 {
        u64::from(self.pad_len_pending) + u64::from(self.data_left) + u64::from(self.pad_left)
    }
}

/// A header block waiting for its CONTINUATION frames.
#[derive(Debug)]
struct PendingBlock {
    stream_id: u32,
    end_stream: bool,
    fragments: BytesMut,
}

/// Decodes the client→server bytes of one h2c connection into complete requests.
///
/// Feed it the reassembled bytes in order with [`push`](Self::push), report lost bytes with
/// [`gap`](Self::gap), and call [`finish`](Self::finish) when the connection ends. Nothing
/// it is given makes it panic or grow past its [`Limits`].
#[derive(Debug)]
pub struct H2Decoder {
    limits: Limits,
    start: Start,
    phase: Phase,
    /// The partial preface, frame header or buffered payload.
    buf: BytesMut,
    hpack: HpackDecoder,
    streams: StreamTable,
    block: Option<PendingBlock>,
    /// Highest stream id the client has opened.
    last_stream_id: u32,
    settings_seen: bool,
    counters: Counters,
}

impl H2Decoder {
    /// A decoder for a connection whose client bytes begin as `start` says.
    pub fn new(start: Start, limits: Limits) -> H2Decoder {
        H2Decoder {
            hpack: HpackDecoder::new(limits.max_table_size),
            limits,
            start,
            phase: Phase::Preface,
            buf: BytesMut::new(),
            streams: StreamTable::default(),
            block: None,
            last_stream_id: match start {
                Start::PriorKnowledge => 0,
                Start::AfterH2cUpgrade => 1,
            },
            settings_seen: false,
            counters: Counters::default(),
        }
    }

    /// The counters of this connection.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Requests in progress (header block decoded, END_STREAM not yet seen).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes this connection holds: bodies in progress, header block fragments and the
    /// partial frame (or preface) being read, as buffer capacities. The HPACK dynamic table
    /// is apart: [`H2Decoder::table_bytes`].
    pub fn held_bytes(&self) -> usize {
        self.streams.held()
            + self.block.as_ref().map_or(0, |b| b.fragments.capacity())
            + self.buf.capacity()
    }

    /// Heap bytes of the HPACK dynamic table and the decoder's reused buffers (an upper
    /// bound: each entry's name and value with its allocation and slot overhead — at most
    /// [`Limits::max_table_size`] of entry bytes). Not part of [`H2Decoder::held_bytes`],
    /// whose per-connection limit governs streams and frames, but memory the connection
    /// holds as long as it decodes: a stopped or finished connection frees it.
    pub fn table_bytes(&self) -> usize {
        self.hpack.held_bytes()
    }

    /// Why decoding stopped, if it did.
    pub fn stopped(&self) -> Option<StopReason> {
        match self.phase {
            Phase::Stopped(r) => Some(r),
            _ => None,
        }
    }

    /// Whether the decoder still decodes what it is given.
    pub fn is_decoding(&self) -> bool {
        !matches!(self.phase, Phase::Stopped(_) | Phase::Finished)
    }

    /// After [`StopReason::UpgradeDeclined`]: the bytes pushed since the upgrade request, for
    /// the HTTP/1.1 decoder to resume with. Empty otherwise.
    pub fn take_declined_bytes(&mut self) -> Bytes {
        match self.phase {
            Phase::Stopped(StopReason::UpgradeDeclined) => std::mem::take(&mut self.buf).freeze(),
            _ => Bytes::new(),
        }
    }

    /// Decode the next bytes of the stream; complete requests are appended to `out`.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<H2Request>) {
        self.counters.add(Counter::BytesIn, input.len() as u64);
        while !input.is_empty() {
            match self.phase {
                Phase::Preface => self.read_preface(&mut input),
                Phase::Header => {
                    if self.fill(&mut input, HEADER_LEN) {
                        let header = FrameHeader::parse(&self.buf);
                        self.buf.clear();
                        if let Some(h) = header {
                            self.on_frame_header(h, out);
                        }
                    }
                }
                Phase::Data(d) => self.read_data(d, &mut input, out),
                Phase::Payload(h) => {
                    if self.fill(&mut input, h.length as usize) {
                        let payload = std::mem::take(&mut self.buf);
                        self.phase = Phase::Header;
                        self.on_payload(h, &payload, out);
                        self.recycle(payload);
                    }
                }
                Phase::Skip { remaining } => {
                    let n = remaining.min(u32::try_from(input.len()).unwrap_or(u32::MAX));
                    input = &input[n as usize..];
                    self.counters.add(Counter::BytesSkipped, u64::from(n));
                    self.phase = match remaining - n {
                        0 => Phase::Header,
                        r => Phase::Skip { remaining: r },
                    };
                }
                Phase::Stopped(StopReason::UpgradeDeclined) => {
                    // Kept for `take_declined_bytes`, up to the bound of one request head.
                    let room = self
                        .limits
                        .max_header_block_bytes
                        .saturating_sub(self.buf.len());
                    let n = room.min(input.len());
                    self.buf.extend_from_slice(&input[..n]);
                    self.counters
                        .add(Counter::BytesSkipped, (input.len() - n) as u64);
                    input = &[];
                }
                Phase::Stopped(_) | Phase::Finished => {
                    self.counters.add(Counter::BytesSkipped, input.len() as u64);
                    input = &[];
                }
            }
        }
    }

    /// `n` bytes were lost at the current position. Inside a DATA payload whose frame header
    /// was seen (or any other payload of known length but a header block's), the stream that
    /// owned the bytes is dropped and decoding goes on at the next frame; anywhere else the
    /// framing or the HPACK state is unknown and the connection stops. A request can only
    /// complete here when the bytes lost were the padding at the end of its last DATA
    /// frame; it is then appended to `out`.
    pub fn gap(&mut self, n: u64, out: &mut Vec<H2Request>) {
        if n == 0 || !self.is_decoding() {
            return;
        }
        self.counters.inc(Counter::Gaps);
        self.counters.add(Counter::BytesLost, n);
        match self.phase {
            Phase::Data(mut d) => {
                let lost_data = d.pad_len_pending || d.data_left > 0;
                if n > d.remaining() {
                    self.stop(StopReason::GapInFraming);
                    return;
                }
                if lost_data {
                    self.drop_stream(d.stream_id, Counter::DroppedGap);
                }
                let mut left = n;
                if d.pad_len_pending {
                    // The pad length is lost: the rest of the payload is skipped whole.
                    d.pad_len_pending = false;
                    left -= 1;
                }
                let from_data = left.min(u64::from(d.data_left));
                d.data_left -= from_data as u32;
                d.pad_left -= (left - from_data) as u32;
                if d.remaining() == 0 {
                    self.phase = Phase::Header;
                    self.end_data(d, out);
                } else {
                    self.phase = Phase::Data(d);
                }
            }
            Phase::Payload(h)
                if !matches!(h.kind, FrameType::Headers | FrameType::Continuation) =>
            {
                let remaining = u64::from(h.length) - self.buf.len() as u64;
                self.buf.clear();
                if n > remaining {
                    self.stop(StopReason::GapInFraming);
                } else {
                    self.phase = match remaining - n {
                        0 => Phase::Header,
                        r => Phase::Skip {
                            remaining: r as u32,
                        },
                    };
                }
            }
            Phase::Skip { remaining } => {
                if n > u64::from(remaining) {
                    self.stop(StopReason::GapInFraming);
                } else {
                    self.phase = match remaining - n as u32 {
                        0 => Phase::Header,
                        r => Phase::Skip { remaining: r },
                    };
                }
            }
            Phase::Payload(_) => self.stop(StopReason::GapInHeaderBlock),
            Phase::Header if self.block.is_some() => self.stop(StopReason::GapInHeaderBlock),
            Phase::Preface => match self.start {
                Start::PriorKnowledge => self.stop(StopReason::Midstream),
                Start::AfterH2cUpgrade => self.stop(StopReason::GapInFraming),
            },
            Phase::Header => self.stop(StopReason::GapInFraming),
            Phase::Stopped(_) | Phase::Finished => {}
        }
    }

    /// The connection ended: requests still open are dropped (`dropped_incomplete`).
    pub fn finish(&mut self) {
        if self.is_decoding() {
            let (n, bytes) = self.streams.clear();
            self.counters.add(Counter::DroppedIncomplete, n as u64);
            self.counters.add(Counter::BytesSkipped, bytes as u64);
            self.block = None;
            self.buf = BytesMut::new();
            self.hpack = HpackDecoder::new(self.limits.max_table_size);
            self.phase = Phase::Finished;
        }
    }

    /// Append input to `buf` until it holds `need` bytes; whether it does.
    fn fill(&mut self, input: &mut &[u8], need: usize) -> bool {
        let n = need.saturating_sub(self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..n]);
        *input = &input[n..];
        self.buf.len() >= need
    }

    /// Keep a small buffer for the next frame; let a large one go.
    fn recycle(&mut self, mut payload: BytesMut) {
        if self.is_decoding() && payload.capacity() <= 4096 {
            payload.clear();
            self.buf = payload;
        }
    }

    fn read_preface(&mut self, input: &mut &[u8]) {
        let matched = self.buf.len();
        let n = (PREFACE.len() - matched).min(input.len());
        let ok = input[..n] == PREFACE[matched..matched + n];
        if !ok {
            let reason = match self.start {
                Start::PriorKnowledge => StopReason::Midstream,
                Start::AfterH2cUpgrade => StopReason::UpgradeDeclined,
            };
            // The declined bytes are handed back whole: what matched, then this input.
            self.stop(reason);
            if reason == StopReason::UpgradeDeclined {
                // Up to the bound of one request head.
                let max = self.limits.max_header_block_bytes;
                let mut held = BytesMut::from(&PREFACE[..matched.min(max)]);
                held.extend_from_slice(&input[..input.len().min(max.saturating_sub(matched))]);
                let kept = held.len();
                self.counters
                    .add(Counter::BytesSkipped, (matched + input.len() - kept) as u64);
                self.buf = held;
            } else {
                self.counters
                    .add(Counter::BytesSkipped, (matched + input.len()) as u64);
            }
            *input = &[];
            return;
        }
        self.buf.extend_from_slice(&input[..n]);
        *input = &input[n..];
        if self.buf.len() == PREFACE.len() {
            self.buf.clear();
            self.counters.inc(Counter::H2Connections);
            self.phase = Phase::Header;
        }
    }

    fn on_frame_header(&mut self, h: FrameHeader, out: &mut Vec<H2Request>) {
        self.counters.inc(Counter::Frames);
        if let Err(e) = self.check_frame_header(&h) {
            self.stop(e);
            return;
        }
        self.settings_seen = true;
        self.phase = Phase::Header;
        match h.kind {
            FrameType::Data => {
                if !self.streams.contains(h.stream_id) {
                    self.counters.inc(Counter::FramesOnClosedStream);
                }
                let padded = h.has(FLAG_PADDED);
                let d = DataFrame {
                    stream_id: h.stream_id,
                    end_stream: h.has(FLAG_END_STREAM),
                    pad_len_pending: padded,
                    data_left: h.length - u32::from(padded),
                    pad_left: 0,
                    length: h.length,
                };
                if d.remaining() == 0 {
                    self.end_data(d, out);
                } else {
                    self.phase = Phase::Data(d);
                }
            }
            FrameType::Headers | FrameType::Continuation => {
                let held = self.block.as_ref().map_or(0, |b| b.fragments.len());
                // A block plus at most 255 bytes of padding, its length byte and 5 of priority.
                if held + h.length as usize > self.limits.max_header_block_bytes + 261 {
                    self.stop(StopReason::HeaderBlockTooLarge);
                    return;
                }
                self.phase = Phase::Payload(h);
                if h.length == 0 {
                    self.phase = Phase::Header;
                    self.on_payload(h, &[], out);
                }
            }
            FrameType::Settings if h.length <= MAX_SETTINGS_LEN => {
                self.counters.inc(Counter::FramesIgnored);
                self.phase = Phase::Payload(h);
                if h.length == 0 {
                    self.phase = Phase::Header;
                }
            }
            FrameType::RstStream => {
                // The stream id is all that matters; the error code is skipped.
                if self.streams.contains(h.stream_id) {
                    self.drop_stream(h.stream_id, Counter::DroppedReset);
                } else {
                    self.counters.inc(Counter::FramesOnClosedStream);
                }
                self.phase = Phase::Skip {
                    remaining: h.length,
                };
            }
            FrameType::PushPromise => self.stop(ProtocolError::PushPromise.into()),
            _ => {
                self.counters.inc(Counter::FramesIgnored);
                if h.length > 0 {
                    self.phase = Phase::Skip {
                        remaining: h.length,
                    };
                }
            }
        }
    }

    /// The connection errors a server finds in a frame header (RFC 9113 §4–6).
    fn check_frame_header(&self, h: &FrameHeader) -> Result<(), StopReason> {
        use ProtocolError as E;
        if !self.settings_seen && h.kind != FrameType::Settings {
            return Err(E::NoInitialSettings.into());
        }
        if let Some(b) = &self.block {
            if h.kind != FrameType::Continuation || h.stream_id != b.stream_id {
                return Err(E::Continuation.into());
            }
        } else if h.kind == FrameType::Continuation {
            return Err(E::Continuation.into());
        }
        if h.fixed_length().is_some_and(|n| n != h.length) {
            return Err(E::FrameSize.into());
        }
        let connection_level = matches!(
            h.kind,
            FrameType::Settings | FrameType::Ping | FrameType::GoAway
        );
        let stream_level = matches!(
            h.kind,
            FrameType::Headers | FrameType::Data | FrameType::RstStream | FrameType::Priority
        );
        if (connection_level && h.stream_id != 0) || (stream_level && h.stream_id == 0) {
            return Err(E::WrongStream.into());
        }
        let even = h.stream_id.is_multiple_of(2);
        let error = match h.kind {
            FrameType::Settings
                if !h.length.is_multiple_of(6) || (h.has(FLAG_ACK) && h.length != 0) =>
            {
                Some(E::FrameSize)
            }
            FrameType::GoAway if h.length < 8 => Some(E::FrameSize),
            FrameType::Headers if even => Some(E::EvenStreamId),
            FrameType::Data | FrameType::RstStream if h.stream_id > self.last_stream_id || even => {
                Some(E::IdleStream)
            }
            FrameType::Data if h.has(FLAG_PADDED) && h.length == 0 => Some(E::FrameSize),
            _ => None,
        };
        error.map_or(Ok(()), |e| Err(e.into()))
    }

    fn read_data(&mut self, mut d: DataFrame, input: &mut &[u8], out: &mut Vec<H2Request>) {
        if d.pad_len_pending {
            let pad = u32::from(input[0]);
            *input = &input[1..];
            if pad > d.length - 1 {
                self.stop(ProtocolError::Padding.into());
                return;
            }
            d.pad_len_pending = false;
            d.data_left = d.length - 1 - pad;
            d.pad_left = pad;
            self.counters.add(Counter::BytesSkipped, 1);
        }
        let n = d
            .data_left
            .min(u32::try_from(input.len()).unwrap_or(u32::MAX));
        if n > 0 {
            let (data, rest) = input.split_at(n as usize);
            *input = rest;
            d.data_left -= n;
            if self.streams.contains(d.stream_id) {
                let others = self.held_bytes() - self.streams.held();
                if let Err(reason) = self.streams.append(
                    d.stream_id,
                    data,
                    self.limits.max_body_bytes,
                    self.limits.max_connection_bytes,
                    others,
                ) {
                    let (reason, discarded) = reason;
                    self.counters.inc(reason);
                    self.counters.add(Counter::BytesSkipped, discarded as u64);
                }
            } else {
                self.counters.add(Counter::BytesSkipped, u64::from(n));
            }
        }
        if d.data_left == 0 {
            let p = d
                .pad_left
                .min(u32::try_from(input.len()).unwrap_or(u32::MAX));
            *input = &input[p as usize..];
            d.pad_left -= p;
            self.counters.add(Counter::BytesSkipped, u64::from(p));
        }
        if d.remaining() == 0 {
            self.phase = Phase::Header;
            self.end_data(d, out);
        } else {
            self.phase = Phase::Data(d);
        }
    }

    fn end_data(&mut self, d: DataFrame, out: &mut Vec<H2Request>) {
        if d.end_stream {
            if let Some(s) = self.streams.remove(d.stream_id) {
                self.emit(d.stream_id, s, Vec::new(), out);
            }
        }
    }

    fn on_payload(&mut self, h: FrameHeader, payload: &[u8], out: &mut Vec<H2Request>) {
        match h.kind {
            FrameType::Headers => {
                let skip = if h.has(FLAG_PRIORITY) { 5 } else { 0 };
                let Some(fragment) = unpad(payload, h.has(FLAG_PADDED), skip) else {
                    self.stop(ProtocolError::Padding.into());
                    return;
                };
                if fragment.len() > self.limits.max_header_block_bytes {
                    self.stop(StopReason::HeaderBlockTooLarge);
                    return;
                }
                let block = PendingBlock {
                    stream_id: h.stream_id,
                    end_stream: h.has(FLAG_END_STREAM),
                    fragments: BytesMut::from(fragment),
                };
                if h.has(FLAG_END_HEADERS) {
                    self.end_block(block, out);
                } else {
                    self.block = Some(block);
                }
            }
            FrameType::Continuation => {
                let Some(mut block) = self.block.take() else {
                    self.stop(ProtocolError::Continuation.into());
                    return;
                };
                if block.fragments.len() + payload.len() > self.limits.max_header_block_bytes {
                    self.stop(StopReason::HeaderBlockTooLarge);
                    return;
                }
                block.fragments.extend_from_slice(payload);
                if h.has(FLAG_END_HEADERS) {
                    self.end_block(block, out);
                } else {
                    self.block = Some(block);
                }
            }
            // SETTINGS: the client's parameters govern the server's side (its HPACK encoder
            // table included), not how the client's blocks decode.
            _ => {}
        }
    }

    /// A complete header block: decode it (always, to keep the dynamic table) and open,
    /// complete or ignore its stream.
    fn end_block(&mut self, block: PendingBlock, out: &mut Vec<H2Request>) {
        let decoded = match self
            .hpack
            .decode(&block.fragments, self.limits.max_header_list_bytes)
        {
            Ok(d) => d,
            Err(e) => {
                self.stop(StopReason::from(&e));
                return;
            }
        };
        self.counters.inc(Counter::HeaderBlocks);
        self.counters
            .add(Counter::TableSizeUpdates, u64::from(decoded.size_updates));
        let id = block.stream_id;
        if id > self.last_stream_id {
            self.last_stream_id = id;
            self.counters.inc(Counter::StreamsStarted);
            if decoded.over_limit {
                self.counters.inc(Counter::DroppedHeaderListTooLarge);
                return;
            }
            if self.streams.len() >= self.limits.max_open_streams {
                self.counters.inc(Counter::DroppedTooManyStreams);
                return;
            }
            let head = parse_head(decoded.fields)
                .and_then(|(p, h)| content_length(&h).map(|cl| (p, h, cl)));
            let Ok((pseudo, headers, cl)) = head else {
                self.counters.inc(Counter::DroppedMalformed);
                return;
            };
            let s = OpenStream::new(pseudo, headers, cl);
            if block.end_stream {
                self.emit(id, s, Vec::new(), out);
            } else {
                self.streams.insert(id, s);
            }
        } else if self.streams.contains(id) {
            if decoded.over_limit {
                self.drop_stream(id, Counter::DroppedHeaderListTooLarge);
            } else if !block.end_stream || check_trailers(&decoded.fields).is_err() {
                self.drop_stream(id, Counter::DroppedMalformed);
            } else if let Some(s) = self.streams.remove(id) {
                self.emit(id, s, decoded.fields, out);
            }
        } else {
            self.counters.inc(Counter::FramesOnClosedStream);
        }
    }

    fn emit(
        &mut self,
        id: u32,
        s: OpenStream,
        trailers: Vec<crate::Field>,
        out: &mut Vec<H2Request>,
    ) {
        let body = s.body_len() as u64;
        match s.into_request(id, trailers) {
            Ok(r) => {
                self.counters.inc(Counter::RequestsEmitted);
                out.push(r);
            }
            Err(_) => {
                self.counters.inc(Counter::DroppedMalformed);
                self.counters.add(Counter::BytesSkipped, body);
            }
        }
    }

    fn drop_stream(&mut self, id: u32, reason: Counter) {
        if let Some(s) = self.streams.remove(id) {
            self.counters.inc(reason);
            self.counters
                .add(Counter::BytesSkipped, s.body_len() as u64);
        }
    }

    fn stop(&mut self, reason: StopReason) {
        self.counters.inc(reason.counter());
        let (n, bytes) = self.streams.clear();
        self.counters
            .add(Counter::DroppedConnectionStopped, n as u64);
        self.counters.add(Counter::BytesSkipped, bytes as u64);
        self.block = None;
        self.buf = BytesMut::new();
        self.hpack = HpackDecoder::new(self.limits.max_table_size);
        self.phase = Phase::Stopped(reason);
    }
}
