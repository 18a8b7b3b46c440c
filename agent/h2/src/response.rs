//! The server→client direction of one cleartext HTTP/2 connection: frames in (cut anywhere),
//! per stream the response's header blocks, DATA, resets and the connection's GOAWAY out
//! ([`ServerEvent`]). This is what shadow comparison needs of a primary's HTTP/2 responses;
//! pairing them with requests by stream id, and summarising them, is shadowtap-compare's.
//!
//! The server's header blocks are encoded against the server's own HPACK dynamic table, so
//! this direction has its own [`HpackDecoder`], never the request direction's. The table
//! starts at the protocol's 4 096 bytes and follows the size updates in the blocks (the
//! client's SETTINGS_HEADER_TABLE_SIZE, which bounds it, is in the other direction).
//!
//! Losses, and what they cost:
//! - A gap, or bytes the kernel did not copy, inside a DATA payload whose frame header was
//!   seen: the frame's length is known, so framing goes on. A gap loses that stream
//!   ([`ServerEvent::StreamLost`]: nothing more of it is reported, its end included);
//!   uncopied bytes only count towards the body's length ([`ServerEvent::DataElided`]), the
//!   body is then not hashable.
//! - The same inside the payload of a frame that carries no header block: nothing is lost,
//!   except the stream a RST_STREAM names (its reset is unknown) and, for GOAWAY, the
//!   connection.
//! - Anywhere in a frame header, a header block (HEADERS, CONTINUATION, PUSH_PROMISE), or a
//!   gap of unknown length: the framing or the dynamic table is unknown, the decoder stops
//!   ([`ServerEvent::Stopped`]) and reads nothing more. Later responses cannot be decoded,
//!   so none is ever attributed to the wrong stream.
//!
//! No input makes it panic; memory is bounded by [`Limits`] (the header block being
//! gathered, at most [`Limits::max_header_block_bytes`]; DATA is never held).

use bytes::Bytes;

use crate::config::Limits;
use crate::frame::{
    FrameHeader, FrameType, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY,
    HEADER_LEN,
};
use crate::hpack::{Field, HpackDecoder};

/// Why a stream's response cannot be summarised (the connection goes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamLoss {
    /// Bytes of its DATA were lost (or its padding length was not copied).
    Gap,
    /// A header list over [`Limits::max_header_list_bytes`].
    HeaderListTooLarge,
    /// A header block without a valid `:status`, or trailers without END_STREAM.
    Malformed,
    /// The RST_STREAM frame naming it was not seen whole.
    ResetUnseen,
}

/// Why the decoder stopped: nothing after it is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerStop {
    /// The first frame was not the server's SETTINGS (not HTTP/2, or started mid-stream).
    NoServerPreface,
    /// A gap in a frame header, or of unknown length.
    GapInFraming,
    /// A gap in a header block: the dynamic table is unknown.
    GapInHeaderBlock,
    /// Bytes the kernel did not copy fell on a frame header or a header block.
    Elided,
    /// A header block the HPACK decoder rejected.
    Hpack,
    /// A header block larger than [`Limits::max_header_block_bytes`].
    HeaderBlockTooLarge,
    /// A connection error of RFC 9113 (CONTINUATION out of order, frames on the wrong
    /// stream, bad padding).
    Protocol,
}

/// What the server's bytes said, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A header block on a client-initiated stream: a response head (`status` set; 1xx
    /// for an interim one) or trailers (`status` `None`). Fields in wire order, without
    /// the pseudo-headers.
    Headers {
        /// The stream.
        stream_id: u32,
        /// `:status`, or `None` for trailers.
        status: Option<u16>,
        /// The fields (pseudo-headers removed).
        fields: Vec<Field>,
        /// END_STREAM was set.
        end_stream: bool,
    },
    /// The next bytes of a stream's body (padding removed).
    Data {
        /// The stream.
        stream_id: u32,
        /// The bytes.
        bytes: Bytes,
    },
    /// Body bytes that were sent but not copied.
    DataElided {
        /// The stream.
        stream_id: u32,
        /// How many.
        len: u64,
    },
    /// A DATA frame with END_STREAM ended (its bytes were reported before).
    EndStream {
        /// The stream.
        stream_id: u32,
    },
    /// The server reset the stream (RST_STREAM).
    Reset {
        /// The stream.
        stream_id: u32,
        /// Its error code.
        error_code: u32,
    },
    /// The stream's response cannot be summarised.
    StreamLost {
        /// The stream.
        stream_id: u32,
        /// Why.
        loss: StreamLoss,
    },
    /// GOAWAY: streams above `last_stream_id` were not processed.
    GoAway {
        /// The last stream the server processed (or may still process).
        last_stream_id: u32,
        /// Its error code.
        error_code: u32,
    },
    /// The decoder stopped (emitted once).
    Stopped(ServerStop),
}

/// Where the decoder is inside the current frame.
#[derive(Clone, Copy, Debug)]
enum Payload {
    /// DATA: `pad` not read yet when `pad_pending`; then `data` bytes, then `pad` bytes.
    Data {
        pad_pending: bool,
        data: u64,
        pad: u64,
        /// The stream lost bytes in this frame.
        lost: bool,
    },
    /// A payload gathered whole (header block frames, RST_STREAM, GOAWAY), `left` to read.
    Gather { left: u64 },
    /// A payload skipped (SETTINGS, PING, WINDOW_UPDATE, PRIORITY, unknown), `left` to skip.
    Skip { left: u64 },
}

/// The header block being gathered across HEADERS/PUSH_PROMISE and CONTINUATION frames.
#[derive(Debug)]
struct Block {
    stream_id: u32,
    end_stream: bool,
    /// PUSH_PROMISE: decoded for the table, then dropped.
    promise: bool,
    bytes: Vec<u8>,
}

/// Decodes the server→client bytes of one HTTP/2 connection seen from its first byte.
#[derive(Debug)]
pub struct H2ResponseDecoder {
    limits: Limits,
    hpack: HpackDecoder,
    /// A partial frame header, or a gathered payload.
    buf: Vec<u8>,
    frame: Option<(FrameHeader, Payload)>,
    block: Option<Block>,
    /// Streams that lost bytes and have not ended: their later DATA, header blocks and end
    /// are not reported (at most `max_open_streams`, the lowest ids forgotten first).
    lost: std::collections::BTreeSet<u32>,
    seen_settings: bool,
    stopped: Option<ServerStop>,
}

impl H2ResponseDecoder {
    /// A decoder for a connection whose server side starts here (its SETTINGS frame first).
    pub fn new(limits: Limits) -> H2ResponseDecoder {
        H2ResponseDecoder {
            hpack: HpackDecoder::new(limits.max_table_size),
            limits,
            buf: Vec::new(),
            frame: None,
            block: None,
            lost: std::collections::BTreeSet::new(),
            seen_settings: false,
            stopped: None,
        }
    }

    /// Why it stopped, if it did.
    pub fn stopped(&self) -> Option<ServerStop> {
        self.stopped
    }

    /// Bytes held (a partial frame header, a payload or a header block being gathered).
    pub fn held_bytes(&self) -> usize {
        self.buf.capacity()
            + self.block.as_ref().map_or(0, |b| b.bytes.capacity())
            + self.hpack.held_bytes()
    }

    /// The next bytes of the stream; events go to `out`.
    pub fn push(&mut self, data: &Bytes, out: &mut Vec<ServerEvent>) {
        let mut at = 0;
        while at < data.len() && self.stopped.is_none() {
            at += self.step(data, at, out);
        }
    }

    /// `len` bytes (or an unknown number) of the stream are lost.
    pub fn push_gap(&mut self, len: Option<u64>, out: &mut Vec<ServerEvent>) {
        if self.stopped.is_some() {
            return;
        }
        let Some(len) = len else {
            return self.stop(ServerStop::GapInFraming, out);
        };
        self.skip(len, false, out);
    }

    /// `len` bytes of the stream were sent but not copied by the kernel.
    pub fn push_elided(&mut self, len: u64, out: &mut Vec<ServerEvent>) {
        if self.stopped.is_some() || len == 0 {
            return;
        }
        self.skip(len, true, out);
    }

    /// Skips `len` unknown bytes: possible only inside the current frame's payload.
    fn skip(&mut self, len: u64, elided: bool, out: &mut Vec<ServerEvent>) {
        let before = out.len();
        self.skip_inner(len, elided, out);
        self.note_lost(&out[before..]);
    }

    /// Remembers the streams `events` report lost.
    fn note_lost(&mut self, events: &[ServerEvent]) {
        for e in events {
            // A stream whose reset was not seen sends nothing more to suppress.
            if let ServerEvent::StreamLost { stream_id, loss } = e {
                if *loss != StreamLoss::ResetUnseen {
                    self.lost.insert(*stream_id);
                }
            }
        }
        while self.lost.len() > self.limits.max_open_streams.max(1) {
            self.lost.pop_first();
        }
    }

    fn skip_inner(&mut self, mut len: u64, elided: bool, out: &mut Vec<ServerEvent>) {
        while len > 0 && self.stopped.is_none() {
            let Some((h, payload)) = self.frame.as_mut() else {
                let reason = match (elided, self.block.is_some()) {
                    (true, _) => ServerStop::Elided,
                    (false, true) => ServerStop::GapInHeaderBlock,
                    (false, false) => ServerStop::GapInFraming,
                };
                return self.stop(reason, out);
            };
            let h = *h;
            match payload {
                Payload::Data {
                    pad_pending,
                    data,
                    pad,
                    lost,
                } => {
                    if *pad_pending {
                        // The padding length is unknown, so is the body's length: what is
                        // left of the frame is skipped whole, as data.
                        *pad_pending = false;
                        len -= 1;
                        if !*lost && !self.lost.contains(&h.stream_id) {
                            *lost = true;
                            out.push(ServerEvent::StreamLost {
                                stream_id: h.stream_id,
                                loss: StreamLoss::Gap,
                            });
                        }
                        continue;
                    }
                    let n = len.min(*data);
                    if n > 0 {
                        *data -= n;
                        len -= n;
                        if !*lost && !self.lost.contains(&h.stream_id) {
                            if elided {
                                out.push(ServerEvent::DataElided {
                                    stream_id: h.stream_id,
                                    len: n,
                                });
                            } else {
                                *lost = true;
                                out.push(ServerEvent::StreamLost {
                                    stream_id: h.stream_id,
                                    loss: StreamLoss::Gap,
                                });
                            }
                        }
                    }
                    let p = len.min(*pad);
                    *pad -= p;
                    len -= p;
                }
                Payload::Skip { left } => {
                    let n = len.min(*left);
                    *left -= n;
                    len -= n;
                }
                Payload::Gather { left } => {
                    let n = len.min(*left);
                    let rest = *left - n;
                    len -= n;
                    match h.kind {
                        FrameType::RstStream => {
                            out.push(ServerEvent::StreamLost {
                                stream_id: h.stream_id,
                                loss: StreamLoss::ResetUnseen,
                            });
                            self.buf.clear();
                            self.frame = Some((h, Payload::Skip { left: rest }));
                        }
                        FrameType::GoAway => {
                            let reason = if elided {
                                ServerStop::Elided
                            } else {
                                ServerStop::GapInFraming
                            };
                            return self.stop(reason, out);
                        }
                        _ => {
                            let reason = if elided {
                                ServerStop::Elided
                            } else {
                                ServerStop::GapInHeaderBlock
                            };
                            return self.stop(reason, out);
                        }
                    }
                }
            }
            self.finish_frame_if_done(out);
        }
    }

    /// Reads from `data[at..]`; returns the bytes consumed (at least one).
    fn step(&mut self, data: &Bytes, at: usize, out: &mut Vec<ServerEvent>) -> usize {
        let rest = &data[at..];
        let Some((h, payload)) = self.frame.as_mut() else {
            // A frame header, possibly cut.
            let need = HEADER_LEN - self.buf.len();
            let take = need.min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            if self.buf.len() == HEADER_LEN {
                let header = FrameHeader::parse(&self.buf);
                self.buf.clear();
                if let Some(header) = header {
                    self.start_frame(header, out);
                }
            }
            return take;
        };
        let h = *h;
        let used = match payload {
            Payload::Data {
                pad_pending,
                data: left,
                pad,
                lost,
            } => {
                if *pad_pending {
                    *pad_pending = false;
                    let p = u64::from(rest[0]);
                    if p > *left {
                        return self.stop_at(ServerStop::Protocol, out);
                    }
                    *left -= p;
                    *pad = p;
                    1
                } else if *left > 0 {
                    let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                    *left -= n as u64;
                    if !*lost && !self.lost.contains(&h.stream_id) {
                        out.push(ServerEvent::Data {
                            stream_id: h.stream_id,
                            bytes: data.slice(at..at + n),
                        });
                    }
                    n
                } else {
                    let n = usize::try_from(*pad).unwrap_or(usize::MAX).min(rest.len());
                    *pad -= n as u64;
                    n
                }
            }
            Payload::Skip { left } => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                *left -= n as u64;
                n
            }
            Payload::Gather { left } => {
                let n = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                *left -= n as u64;
                self.buf.extend_from_slice(&rest[..n]);
                n
            }
        };
        self.finish_frame_if_done(out);
        used.max(1)
    }

    fn stop_at(&mut self, reason: ServerStop, out: &mut Vec<ServerEvent>) -> usize {
        self.stop(reason, out);
        1
    }

    /// A frame header was read: check it and set up its payload.
    fn start_frame(&mut self, h: FrameHeader, out: &mut Vec<ServerEvent>) {
        if !self.seen_settings {
            if h.kind != FrameType::Settings || h.stream_id != 0 || h.has(crate::frame::FLAG_ACK) {
                return self.stop(ServerStop::NoServerPreface, out);
            }
            self.seen_settings = true;
        }
        let len = u64::from(h.length);
        // Inside a header block only its CONTINUATION may come (RFC 9113 §6.10).
        if let Some(b) = &self.block {
            if h.kind != FrameType::Continuation || h.stream_id != b.stream_id {
                return self.stop(ServerStop::Protocol, out);
            }
        }
        let connection_level = matches!(
            h.kind,
            FrameType::Settings | FrameType::Ping | FrameType::GoAway
        );
        let stream_level = matches!(
            h.kind,
            FrameType::Data
                | FrameType::Headers
                | FrameType::Priority
                | FrameType::RstStream
                | FrameType::PushPromise
                | FrameType::Continuation
        );
        if (connection_level && h.stream_id != 0) || (stream_level && h.stream_id == 0) {
            return self.stop(ServerStop::Protocol, out);
        }
        if h.fixed_length().is_some_and(|n| n != h.length) {
            return self.stop(ServerStop::Protocol, out);
        }
        let payload = match h.kind {
            FrameType::Data => {
                let padded = h.has(FLAG_PADDED);
                if padded && len == 0 {
                    return self.stop(ServerStop::Protocol, out);
                }
                Payload::Data {
                    pad_pending: padded,
                    data: len - u64::from(padded),
                    pad: 0,
                    lost: false,
                }
            }
            FrameType::Headers | FrameType::PushPromise | FrameType::Continuation => {
                let held = self.block.as_ref().map_or(0, |b| b.bytes.len());
                if held as u64 + len > self.limits.max_header_block_bytes as u64 {
                    return self.stop(ServerStop::HeaderBlockTooLarge, out);
                }
                if h.kind == FrameType::Continuation && self.block.is_none() {
                    return self.stop(ServerStop::Protocol, out);
                }
                Payload::Gather { left: len }
            }
            FrameType::RstStream => Payload::Gather { left: 4 },
            FrameType::GoAway => {
                if len < 8 {
                    return self.stop(ServerStop::Protocol, out);
                }
                Payload::Gather { left: 8 }
            }
            _ => Payload::Skip { left: len },
        };
        self.buf.clear();
        self.frame = Some((h, payload));
        // A GOAWAY's debug data is skipped after its first 8 bytes.
        self.finish_frame_if_done(out);
    }

    /// When the current frame's payload is read whole, acts on it.
    fn finish_frame_if_done(&mut self, out: &mut Vec<ServerEvent>) {
        let Some((h, payload)) = self.frame else {
            return;
        };
        let done = match payload {
            Payload::Data {
                pad_pending,
                data,
                pad,
                ..
            } => !pad_pending && data == 0 && pad == 0,
            Payload::Skip { left } | Payload::Gather { left } => left == 0,
        };
        if !done {
            return;
        }
        self.frame = None;
        let payload_bytes = std::mem::take(&mut self.buf);
        match (h.kind, payload) {
            (FrameType::Data, Payload::Data { lost, .. }) if h.has(FLAG_END_STREAM) => {
                // A stream that lost bytes ends unreported (and is forgotten).
                let known_lost = self.lost.remove(&h.stream_id);
                if !(known_lost || lost) {
                    out.push(ServerEvent::EndStream {
                        stream_id: h.stream_id,
                    });
                }
            }
            (FrameType::RstStream, Payload::Gather { .. }) => {
                let code = payload_bytes
                    .get(..4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                self.lost.remove(&h.stream_id);
                out.push(ServerEvent::Reset {
                    stream_id: h.stream_id,
                    error_code: code,
                });
            }
            (FrameType::GoAway, Payload::Gather { .. }) => {
                if let Some(b) = payload_bytes.get(..8) {
                    out.push(ServerEvent::GoAway {
                        last_stream_id: u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff,
                        error_code: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    });
                }
                let rest = u64::from(h.length).saturating_sub(8);
                if rest > 0 {
                    self.frame = Some((h, Payload::Skip { left: rest }));
                }
            }
            (FrameType::Headers, _) => {
                let skip = if h.has(FLAG_PRIORITY) { 5 } else { 0 };
                let Some(fragment) = crate::frame::unpad(&payload_bytes, h.has(FLAG_PADDED), skip)
                else {
                    return self.stop(ServerStop::Protocol, out);
                };
                self.block = Some(Block {
                    stream_id: h.stream_id,
                    end_stream: h.has(FLAG_END_STREAM),
                    promise: false,
                    bytes: fragment.to_vec(),
                });
                if h.has(FLAG_END_HEADERS) {
                    self.decode_block(out);
                }
            }
            (FrameType::PushPromise, _) => {
                // The promised stream id (4 bytes) precedes the block.
                let Some(fragment) = crate::frame::unpad(&payload_bytes, h.has(FLAG_PADDED), 4)
                else {
                    return self.stop(ServerStop::Protocol, out);
                };
                self.block = Some(Block {
                    stream_id: h.stream_id,
                    end_stream: false,
                    promise: true,
                    bytes: fragment.to_vec(),
                });
                if h.has(FLAG_END_HEADERS) {
                    self.decode_block(out);
                }
            }
            (FrameType::Continuation, _) => {
                if let Some(b) = &mut self.block {
                    b.bytes.extend_from_slice(&payload_bytes);
                }
                if h.has(FLAG_END_HEADERS) {
                    self.decode_block(out);
                }
            }
            _ => {}
        }
        self.buf = payload_bytes;
        self.buf.clear();
        if self.buf.capacity() > 4 * HEADER_LEN {
            self.buf = Vec::new();
        }
    }

    /// The header block is complete: decode it with the server's table.
    fn decode_block(&mut self, out: &mut Vec<ServerEvent>) {
        let Some(block) = self.block.take() else {
            return;
        };
        let decoded = match self
            .hpack
            .decode(&block.bytes, self.limits.max_header_list_bytes)
        {
            Ok(d) => d,
            Err(_) => return self.stop(ServerStop::Hpack, out),
        };
        if block.promise {
            return;
        }
        let stream_id = block.stream_id;
        if self.lost.contains(&stream_id) {
            // The table follows the block; the stream's response is already lost.
            if block.end_stream {
                self.lost.remove(&stream_id);
            }
            return;
        }
        if decoded.over_limit {
            return self.lose(
                stream_id,
                StreamLoss::HeaderListTooLarge,
                block.end_stream,
                out,
            );
        }
        let mut status = None;
        let mut bad = false;
        let mut fields = Vec::with_capacity(decoded.fields.len());
        for f in decoded.fields {
            if f.name.first() == Some(&b':') {
                if &f.name[..] == b":status" && status.is_none() && fields.is_empty() {
                    status = parse_status(&f.value);
                    bad |= status.is_none();
                } else {
                    bad = true;
                }
            } else {
                fields.push(f);
            }
        }
        // Trailers (no :status) must end the stream.
        if bad || (status.is_none() && !block.end_stream) {
            return self.lose(stream_id, StreamLoss::Malformed, block.end_stream, out);
        }
        out.push(ServerEvent::Headers {
            stream_id,
            status,
            fields,
            end_stream: block.end_stream,
        });
    }

    /// Reports `stream_id` lost, and remembers it unless the header block ended it.
    fn lose(&mut self, stream_id: u32, loss: StreamLoss, ended: bool, out: &mut Vec<ServerEvent>) {
        out.push(ServerEvent::StreamLost { stream_id, loss });
        if !ended {
            self.note_lost(&out[out.len() - 1..]);
        }
    }

    fn stop(&mut self, reason: ServerStop, out: &mut Vec<ServerEvent>) {
        if self.stopped.is_none() {
            self.stopped = Some(reason);
            self.frame = None;
            self.block = None;
            self.buf = Vec::new();
            out.push(ServerEvent::Stopped(reason));
        }
    }
}

/// `:status`: exactly three digits, 100–999.
fn parse_status(v: &[u8]) -> Option<u16> {
    if v.len() != 3 || !v.iter().all(u8::is_ascii_digit) || v[0] == b'0' {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}
