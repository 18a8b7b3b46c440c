//! Incremental parser of the chunked transfer coding (RFC 9112 §7.1), extensions and trailers
//! included. It only validates and locates chunk data; the raw bytes stay as received.

use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the hex chunk size; `digits` read so far.
    Size { digits: u8 },
    /// After the size: optional whitespace, then `;` or CR.
    AfterSize,
    /// Inside a chunk extension, until CR.
    Ext,
    /// CR of the size line seen, LF expected.
    SizeLf,
    /// Chunk data, `remaining` bytes left.
    Data,
    /// CR after chunk data expected.
    DataCr,
    /// LF after chunk data expected.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line, until CR.
    TrailerLine,
    /// CR of a trailer line seen, LF expected; `empty` when the line was empty (end).
    TrailerLf { empty: bool },
    /// The whole body has been seen.
    Done,
}

/// Result of feeding bytes to the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// All bytes consumed; the body continues.
    NeedMore,
    /// The body ends after this many bytes of the chunk stream (counted from its start).
    Done(u64),
    /// The framing is invalid.
    Invalid,
}

/// Incremental chunked-body parser. Feed it the body bytes in order, in any pieces.
#[derive(Clone, Debug)]
pub struct ChunkedParser {
    state: State,
    size: u64,
    remaining: u64,
    pos: u64,
    record: bool,
    chunks: Vec<Range<usize>>,
}

fn is_hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Bytes allowed inside extension and trailer lines: visible ASCII, obs-text, SP and HTAB.
fn is_line_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

impl ChunkedParser {
    /// A parser at the start of a chunked body. With `record`, the ranges of chunk data
    /// (relative to the body start) are kept for [`ChunkedParser::take_chunks`].
    pub fn new(record: bool) -> Self {
        Self {
            state: State::Size { digits: 0 },
            size: 0,
            remaining: 0,
            pos: 0,
            record,
            chunks: Vec::new(),
        }
    }

    /// Stop recording chunk ranges (the body is being skipped).
    pub fn stop_recording(&mut self) {
        self.record = false;
        self.chunks = Vec::new();
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The recorded chunk-data ranges, relative to the body start.
    pub fn take_chunks(&mut self) -> Vec<Range<usize>> {
        std::mem::take(&mut self.chunks)
    }

    /// Feed the next bytes of the body. After `Done` or `Invalid` the parser must not be fed
    /// again (it keeps returning the same answer).
    pub fn feed(&mut self, data: &[u8]) -> Progress {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            match self.state {
                State::Done => return Progress::Done(self.pos),
                State::Data => {
                    let take = self.remaining.min((data.len() - i) as u64) as usize;
                    if self.record {
                        let start = (self.pos + i as u64) as usize;
                        match self.chunks.last_mut() {
                            Some(r) if r.end == start => r.end += take,
                            _ => self.chunks.push(start..start + take),
                        }
                    }
                    self.remaining -= take as u64;
                    i += take;
                    if self.remaining == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Size { digits } => match is_hex(b) {
                    Some(v) => {
                        if self.size > (u64::MAX >> 4) {
                            return self.invalid();
                        }
                        self.size = (self.size << 4) | v;
                        self.state = State::Size {
                            digits: digits.saturating_add(1),
                        };
                    }
                    None if digits == 0 => return self.invalid(),
                    None => match b {
                        b' ' | b'\t' => self.state = State::AfterSize,
                        b';' => self.state = State::Ext,
                        b'\r' => self.state = State::SizeLf,
                        _ => return self.invalid(),
                    },
                },
                State::AfterSize => match b {
                    b' ' | b'\t' => {}
                    b';' => self.state = State::Ext,
                    b'\r' => self.state = State::SizeLf,
                    _ => return self.invalid(),
                },
                State::Ext => match b {
                    b'\r' => self.state = State::SizeLf,
                    b if is_line_byte(b) => {}
                    _ => return self.invalid(),
                },
                State::SizeLf => {
                    if b != b'\n' {
                        return self.invalid();
                    }
                    if self.size == 0 {
                        self.state = State::TrailerStart;
                    } else {
                        self.remaining = self.size;
                        self.state = State::Data;
                    }
                    self.size = 0;
                }
                State::DataCr => {
                    if b != b'\r' {
                        return self.invalid();
                    }
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if b != b'\n' {
                        return self.invalid();
                    }
                    self.state = State::Size { digits: 0 };
                }
                State::TrailerStart => match b {
                    b'\r' => self.state = State::TrailerLf { empty: true },
                    // A trailer line may not start with whitespace (obs-fold) or be bare LF.
                    b' ' | b'\t' | b'\n' | b':' => return self.invalid(),
                    b if is_line_byte(b) => self.state = State::TrailerLine,
                    _ => return self.invalid(),
                },
                State::TrailerLine => match b {
                    b'\r' => self.state = State::TrailerLf { empty: false },
                    b if is_line_byte(b) => {}
                    _ => return self.invalid(),
                },
                State::TrailerLf { empty } => {
                    if b != b'\n' {
                        return self.invalid();
                    }
                    if empty {
                        self.state = State::Done;
                        self.pos += i as u64 + 1;
                        return Progress::Done(self.pos);
                    }
                    self.state = State::TrailerStart;
                }
            }
            i += 1;
        }
        self.pos += data.len() as u64;
        if self.state == State::Done {
            Progress::Done(self.pos)
        } else {
            Progress::NeedMore
        }
    }

    fn invalid(&mut self) -> Progress {
        Progress::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(body: &[u8]) -> (Progress, Vec<Range<usize>>) {
        let mut p = ChunkedParser::new(true);
        let r = p.feed(body);
        (r, p.take_chunks())
    }

    #[test]
    fn simple_and_split() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nGET";
        let (r, chunks) = whole(body);
        assert_eq!(r, Progress::Done(body.len() as u64 - 3));
        let data: Vec<u8> = chunks
            .iter()
            .flat_map(|c| body[c.clone()].to_vec())
            .collect();
        assert_eq!(data, b"Wikipedia");
        // Byte by byte.
        let mut p = ChunkedParser::new(true);
        let mut done = None;
        for (i, b) in body.iter().enumerate() {
            if let Progress::Done(n) = p.feed(std::slice::from_ref(b)) {
                done = Some((i, n));
                break;
            }
        }
        assert_eq!(done, Some((body.len() - 4, body.len() as u64 - 3)));
        let data: Vec<u8> = p
            .take_chunks()
            .iter()
            .flat_map(|c| body[c.clone()].to_vec())
            .collect();
        assert_eq!(data, b"Wikipedia");
    }

    #[test]
    fn invalid_framings() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"4\nWiki\r\n0\r\n\r\n",
            b"4\r\nWikiX\r\n",
            b"4\r\nWiki\r\n0\r\n\n",
            b"4\r\nWiki\r\n0\r\n folded\r\n\r\n",
            b"4 x\r\n",
            b"-1\r\n",
            b"10000000000000000\r\n",
            b"1;a\x01\r\n",
            b"4\rX",
        ] {
            assert_eq!(
                whole(bad).0,
                Progress::Invalid,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Sixteen hex digits is the most that fits.
        assert_eq!(whole(b"ffffffffffffffff\r\nab").0, Progress::NeedMore);
        assert_eq!(
            whole(b"0000000000000000000001\r\na\r\n0\r\n\r\n").0,
            Progress::Done(32)
        );
    }
}
