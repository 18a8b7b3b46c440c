//! Writing the client side of an HTTP/2 connection as bytes, for the tests and fuzz targets of
//! shadowtap's decoders (this crate's, the reconstructor's, the agent's pipeline): the preface,
//! any frame, header blocks HPACK-encoded with the connection's own encoder state (split into
//! CONTINUATION frames, padded, with priority), DATA and the frames a decoder must step over.

use crate::frame::{
    FrameHeader, FrameType, FLAG_END_HEADERS, FLAG_END_STREAM, FLAG_PADDED, FLAG_PRIORITY, PREFACE,
};

/// Writes the client side of one connection: frames, and header blocks encoded with this
/// connection's own HPACK encoder state.
pub struct ClientBytes {
    /// Everything written so far.
    pub bytes: Vec<u8>,
    enc: loona_hpack::Encoder<'static>,
}

/// How a HEADERS frame is written.
#[derive(Clone, Copy, Default)]
pub struct HeadersOpts {
    /// END_STREAM on the HEADERS frame.
    pub end_stream: bool,
    /// PADDED with this many bytes of padding.
    pub pad: Option<u8>,
    /// PRIORITY flag with 5 bytes of priority fields.
    pub priority: bool,
    /// Split the block into a HEADERS frame of at most this many bytes and CONTINUATION
    /// frames of at most this many bytes each.
    pub fragment: Option<usize>,
}

impl Default for ClientBytes {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBytes {
    /// The preface and an empty SETTINGS frame.
    pub fn new() -> ClientBytes {
        let mut c = ClientBytes::without_preface();
        c.bytes.extend_from_slice(PREFACE);
        c.frame(FrameType::Settings, 0, 0, &[]);
        c
    }

    /// Nothing written yet.
    pub fn without_preface() -> ClientBytes {
        ClientBytes {
            bytes: Vec::new(),
            enc: loona_hpack::Encoder::new(),
        }
    }

    /// One frame with this header and payload.
    pub fn frame(&mut self, kind: FrameType, flags: u8, stream_id: u32, payload: &[u8]) {
        let h = FrameHeader {
            length: payload.len() as u32,
            kind,
            flags,
            stream_id,
        };
        self.bytes.extend_from_slice(&h.encode());
        self.bytes.extend_from_slice(payload);
    }

    /// HPACK-encode `fields` with this connection's encoder.
    pub fn encode(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        self.enc
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    /// A header block (encoded here) as HEADERS (+ CONTINUATION) frames.
    pub fn headers(&mut self, stream_id: u32, fields: &[(&str, &str)], o: HeadersOpts) {
        let block = self.encode(fields);
        self.raw_headers(stream_id, &block, o);
    }

    /// An already encoded header block as HEADERS (+ CONTINUATION) frames.
    pub fn raw_headers(&mut self, stream_id: u32, block: &[u8], o: HeadersOpts) {
        let size = o.fragment.unwrap_or(usize::MAX).max(1);
        let mut parts: Vec<&[u8]> = block.chunks(size).collect();
        if parts.is_empty() {
            parts.push(&[]);
        }
        let last = parts.len() - 1;
        let mut flags = 0;
        if o.end_stream {
            flags |= FLAG_END_STREAM;
        }
        if last == 0 {
            flags |= FLAG_END_HEADERS;
        }
        let mut payload = Vec::new();
        if let Some(p) = o.pad {
            flags |= FLAG_PADDED;
            payload.push(p);
        }
        if o.priority {
            flags |= FLAG_PRIORITY;
            payload.extend_from_slice(&[0x80, 0, 0, 1, 15]);
        }
        payload.extend_from_slice(parts[0]);
        payload.extend(std::iter::repeat_n(0u8, o.pad.unwrap_or(0) as usize));
        self.frame(FrameType::Headers, flags, stream_id, &payload);
        for (i, part) in parts.iter().enumerate().skip(1) {
            let f = if i == last { FLAG_END_HEADERS } else { 0 };
            self.frame(FrameType::Continuation, f, stream_id, part);
        }
    }

    /// A GET-like request head.
    pub fn request(&mut self, stream_id: u32, method: &str, path: &str, end_stream: bool) {
        self.headers(
            stream_id,
            &[
                (":method", method),
                (":scheme", "http"),
                (":authority", "svc.example"),
                (":path", path),
                ("user-agent", "shadowtap-test"),
            ],
            HeadersOpts {
                end_stream,
                ..HeadersOpts::default()
            },
        );
    }

    /// A DATA frame, padded with `pad` bytes when given.
    pub fn data(&mut self, stream_id: u32, data: &[u8], end_stream: bool, pad: Option<u8>) {
        let mut flags = if end_stream { FLAG_END_STREAM } else { 0 };
        let mut payload = Vec::new();
        if let Some(p) = pad {
            flags |= FLAG_PADDED;
            payload.push(p);
        }
        payload.extend_from_slice(data);
        payload.extend(std::iter::repeat_n(0u8, pad.unwrap_or(0) as usize));
        self.frame(FrameType::Data, flags, stream_id, &payload);
    }

    /// RST_STREAM (CANCEL) for `stream_id`.
    pub fn rst(&mut self, stream_id: u32) {
        self.frame(FrameType::RstStream, 0, stream_id, &8u32.to_be_bytes());
    }

    /// PING, WINDOW_UPDATE (connection and stream), PRIORITY, SETTINGS ACK and an unknown
    /// extension frame: everything the decoder must step over.
    pub fn noise(&mut self, stream_id: u32) {
        self.frame(FrameType::Ping, 0, 0, b"12345678");
        self.frame(FrameType::WindowUpdate, 0, 0, &65_535u32.to_be_bytes());
        self.frame(
            FrameType::WindowUpdate,
            0,
            stream_id,
            &1_000u32.to_be_bytes(),
        );
        self.frame(FrameType::Priority, 0, stream_id, &[0, 0, 0, 0, 16]);
        self.frame(FrameType::Settings, 0x1, 0, &[]);
        self.frame(FrameType::Unknown(0xbb), 0x5, stream_id, b"extension");
    }
}
