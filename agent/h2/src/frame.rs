//! The HTTP/2 frame layer (RFC 9113 §4 and §6): the 9-byte frame header, frame types and
//! flags, and the fixed payload sizes that a server enforces as connection errors.

/// The client connection preface (RFC 9113 §3.4); a SETTINGS frame follows it.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of a frame header.
pub const HEADER_LEN: usize = 9;

/// Frame types of RFC 9113 §6. Other values are extension frames, which are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    /// DATA (0x0).
    Data,
    /// HEADERS (0x1).
    Headers,
    /// PRIORITY (0x2).
    Priority,
    /// RST_STREAM (0x3).
    RstStream,
    /// SETTINGS (0x4).
    Settings,
    /// PUSH_PROMISE (0x5); a client never sends it.
    PushPromise,
    /// PING (0x6).
    Ping,
    /// GOAWAY (0x7).
    GoAway,
    /// WINDOW_UPDATE (0x8).
    WindowUpdate,
    /// CONTINUATION (0x9).
    Continuation,
    /// Any other type: an extension, ignored.
    Unknown(u8),
}

impl From<u8> for FrameType {
    fn from(t: u8) -> Self {
        match t {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }
}

/// END_STREAM (DATA, HEADERS).
pub const FLAG_END_STREAM: u8 = 0x1;
/// ACK (SETTINGS, PING).
pub const FLAG_ACK: u8 = 0x1;
/// END_HEADERS (HEADERS, CONTINUATION).
pub const FLAG_END_HEADERS: u8 = 0x4;
/// PADDED (DATA, HEADERS).
pub const FLAG_PADDED: u8 = 0x8;
/// PRIORITY (HEADERS).
pub const FLAG_PRIORITY: u8 = 0x20;

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub length: u32,
    /// Frame type.
    pub kind: FrameType,
    /// Flags byte.
    pub flags: u8,
    /// Stream identifier, reserved bit cleared.
    pub stream_id: u32,
}

impl FrameHeader {
    /// Parse the first [`HEADER_LEN`] bytes of `b`; `None` when `b` is shorter.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let h: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            length: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: FrameType::from(h[3]),
            flags: h[4],
            stream_id: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The payload length a frame of this type must have, where RFC 9113 fixes it (a
    /// FRAME_SIZE_ERROR otherwise): PRIORITY 5, RST_STREAM 4, PING 8, WINDOW_UPDATE 4.
    pub fn fixed_length(&self) -> Option<u32> {
        match self.kind {
            FrameType::Priority => Some(5),
            FrameType::RstStream | FrameType::WindowUpdate => Some(4),
            FrameType::Ping => Some(8),
            _ => None,
        }
    }

    /// Encode this header (for tests and fuzzing).
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let l = self.length.to_be_bytes();
        let s = self.stream_id.to_be_bytes();
        let t = match self.kind {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(t) => t,
        };
        [l[1], l[2], l[3], t, self.flags, s[0], s[1], s[2], s[3]]
    }
}

/// Split a padded payload (DATA or HEADERS with PADDED) into what lies between the pad
/// length byte (and `skip` more bytes, the HEADERS priority fields) and the padding.
/// `None` when the padding (or `skip`) does not fit: a PROTOCOL_ERROR.
pub fn unpad(payload: &[u8], padded: bool, skip: usize) -> Option<&[u8]> {
    let (pad, rest) = if padded {
        let (&p, rest) = payload.split_first()?;
        (usize::from(p), rest)
    } else {
        (0, payload)
    };
    let rest = rest.get(skip..)?;
    let end = rest.len().checked_sub(pad)?;
    rest.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = FrameHeader {
            length: 0x01_0203,
            kind: FrameType::Headers,
            flags: FLAG_END_HEADERS | FLAG_PADDED,
            stream_id: 0x7fff_fffd,
        };
        assert_eq!(FrameHeader::parse(&h.encode()), Some(h));
        assert_eq!(FrameHeader::parse(&h.encode()[..8]), None);
    }

    #[test]
    fn reserved_bit_is_ignored() {
        let mut b = FrameHeader {
            length: 0,
            kind: FrameType::Data,
            flags: 0,
            stream_id: 3,
        }
        .encode();
        b[5] |= 0x80;
        assert_eq!(FrameHeader::parse(&b).map(|h| h.stream_id), Some(3));
    }

    #[test]
    fn unpad_rules() {
        assert_eq!(unpad(b"abc", false, 0), Some(&b"abc"[..]));
        assert_eq!(unpad(b"\x02abcXY", true, 0), Some(&b"abc"[..]));
        assert_eq!(
            unpad(b"\x03ab", true, 0),
            None,
            "padding longer than the rest"
        );
        assert_eq!(unpad(b"", true, 0), None, "no pad length byte");
        assert_eq!(unpad(b"\x01PPPPPhdrZ", true, 5), Some(&b"hdr"[..]));
        assert_eq!(unpad(b"PPPP", false, 5), None, "priority fields cut");
    }
}
