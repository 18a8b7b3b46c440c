//! Incremental decoder of the chunked transfer coding (RFC 9112 §7.1), extensions and
//! trailers included. It validates and locates chunk data; the bytes stay where they are.
//!
//! Strict: sizes are hexadecimal and fit in 64 bits (leading zeros allowed), optional
//! whitespace may precede `;` and the extensions, extensions and trailer lines hold visible
//! characters, obs-text, SP and HTAB, a trailer line never starts with whitespace or `:`,
//! and every line ends in CRLF.

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
    /// The framing is invalid.
    Failed(ChunkedError),
}

/// Why a chunked body is invalid. `offset` counts bytes from the start of the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A chunk size is missing or holds a byte that is not a hex digit.
    #[error("invalid chunk size at byte {offset}")]
    BadSize {
        /// Where.
        offset: u64,
    },
    /// A chunk size does not fit in 64 bits.
    #[error("chunk size overflows 64 bits at byte {offset}")]
    SizeOverflow {
        /// Where.
        offset: u64,
    },
    /// A chunk extension holds a control character.
    #[error("invalid byte in a chunk extension at byte {offset}")]
    BadExtension {
        /// Where.
        offset: u64,
    },
    /// A line of the chunked framing does not end in CRLF (chunk data included).
    #[error("chunked framing line does not end in CRLF at byte {offset}")]
    BadLineEnd {
        /// Where.
        offset: u64,
    },
    /// A trailer line starts with whitespace, `:` or LF, or holds a control character.
    #[error("invalid trailer line at byte {offset}")]
    BadTrailer {
        /// Where.
        offset: u64,
    },
    /// A chunk-size line (extensions included) is longer than the limit.
    #[error("chunk-size line longer than {max} bytes")]
    SizeLineTooLong {
        /// The limit.
        max: usize,
    },
    /// The trailer section is longer than the limit.
    #[error("trailer section longer than {max} bytes")]
    TrailersTooLong {
        /// The limit.
        max: usize,
    },
}

/// Result of feeding bytes to the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// All bytes consumed; the body continues.
    NeedMore,
    /// The body ends after this many bytes, counted from its start (bytes fed after that
    /// belong to the next message).
    Done(u64),
}

/// Bounds on the parts of a chunked body that carry no data. A body whose total size is
/// bounded elsewhere (the capture decoder's body limit) needs none; a reader that discards
/// data as it goes (the mirror client) bounds them so a peer cannot stream one endless line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// Longest chunk-size line, extensions included, without its CRLF.
    pub max_size_line: usize,
    /// Longest trailer section, line endings included.
    pub max_trailers: usize,
}

impl ChunkedLimits {
    /// No bounds.
    pub const UNLIMITED: ChunkedLimits = ChunkedLimits {
        max_size_line: usize::MAX,
        max_trailers: usize::MAX,
    };
}

/// Incremental chunked-body decoder. Feed it the body bytes in order, in any pieces; the
/// answers do not depend on how the body is cut.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    remaining: u64,
    pos: u64,
    line: usize,
    trailers: usize,
    limits: ChunkedLimits,
    record: bool,
    chunks: Vec<Range<usize>>,
}

fn hex(b: u8) -> Option<u64> {
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

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body, without limits, not recording chunks.
    pub fn new() -> Self {
        Self::with_limits(ChunkedLimits::UNLIMITED)
    }

    /// A decoder at the start of a chunked body, with `limits`.
    pub fn with_limits(limits: ChunkedLimits) -> Self {
        Self {
            state: State::Size { digits: 0 },
            size: 0,
            remaining: 0,
            pos: 0,
            line: 0,
            trailers: 0,
            limits,
            record: false,
            chunks: Vec::new(),
        }
    }

    /// Keep the ranges of chunk data (relative to the body start) for
    /// [`ChunkedDecoder::take_chunks`].
    pub fn recording(mut self) -> Self {
        self.record = true;
        self
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

    /// Whether the whole body has been seen.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The recorded chunk-data ranges, relative to the body start.
    pub fn take_chunks(&mut self) -> Vec<Range<usize>> {
        std::mem::take(&mut self.chunks)
    }

    /// Feed the next bytes of the body. Once the body is done or invalid, the same answer
    /// comes back whatever is fed.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, ChunkedError> {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            let at = self.pos + i as u64;
            match self.state {
                State::Done => return Ok(Progress::Done(self.pos)),
                State::Failed(e) => return Err(e),
                State::Data => {
                    let take = self.remaining.min((data.len() - i) as u64) as usize;
                    if self.record {
                        let start = at as usize;
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
                State::Size { .. } | State::AfterSize | State::Ext | State::SizeLf => {
                    if b != b'\r' && !matches!(self.state, State::SizeLf) {
                        self.line += 1;
                        if self.line > self.limits.max_size_line {
                            return self.fail(ChunkedError::SizeLineTooLong {
                                max: self.limits.max_size_line,
                            });
                        }
                    }
                    self.size_line(b, at)?;
                }
                State::DataCr | State::DataLf => self.data_end(b, at)?,
                State::TrailerStart | State::TrailerLine | State::TrailerLf { .. } => {
                    self.trailers += 1;
                    if self.trailers > self.limits.max_trailers {
                        return self.fail(ChunkedError::TrailersTooLong {
                            max: self.limits.max_trailers,
                        });
                    }
                    if self.trailer(b, at)? {
                        self.pos += i as u64 + 1;
                        return Ok(Progress::Done(self.pos));
                    }
                }
            }
            i += 1;
        }
        self.pos += data.len() as u64;
        match self.state {
            State::Done => Ok(Progress::Done(self.pos)),
            State::Failed(e) => Err(e),
            _ => Ok(Progress::NeedMore),
        }
    }

    #[cold]
    fn fail<T>(&mut self, e: ChunkedError) -> Result<T, ChunkedError> {
        self.state = State::Failed(e);
        Err(e)
    }

    /// One byte of a chunk-size line.
    #[inline]
    fn size_line(&mut self, b: u8, at: u64) -> Result<(), ChunkedError> {
        match self.state {
            State::Size { digits } => match hex(b) {
                Some(v) => {
                    if self.size > (u64::MAX >> 4) {
                        return self.fail(ChunkedError::SizeOverflow { offset: at });
                    }
                    self.size = (self.size << 4) | v;
                    self.state = State::Size {
                        digits: digits.saturating_add(1),
                    };
                }
                None if digits == 0 => return self.fail(ChunkedError::BadSize { offset: at }),
                None => match b {
                    b' ' | b'\t' => self.state = State::AfterSize,
                    b';' => self.state = State::Ext,
                    b'\r' => self.state = State::SizeLf,
                    _ => return self.fail(ChunkedError::BadSize { offset: at }),
                },
            },
            State::AfterSize => match b {
                b' ' | b'\t' => {}
                b';' => self.state = State::Ext,
                b'\r' => self.state = State::SizeLf,
                _ => return self.fail(ChunkedError::BadSize { offset: at }),
            },
            State::Ext => match b {
                b'\r' => self.state = State::SizeLf,
                b if is_line_byte(b) => {}
                _ => return self.fail(ChunkedError::BadExtension { offset: at }),
            },
            _ => {
                // State::SizeLf
                if b != b'\n' {
                    return self.fail(ChunkedError::BadLineEnd { offset: at });
                }
                if self.size == 0 {
                    self.state = State::TrailerStart;
                } else {
                    self.remaining = self.size;
                    self.state = State::Data;
                }
                self.size = 0;
                self.line = 0;
            }
        }
        Ok(())
    }

    /// One byte of the CRLF after chunk data.
    #[inline]
    fn data_end(&mut self, b: u8, at: u64) -> Result<(), ChunkedError> {
        let cr = matches!(self.state, State::DataCr);
        let want = if cr { b'\r' } else { b'\n' };
        if b != want {
            return self.fail(ChunkedError::BadLineEnd { offset: at });
        }
        self.state = if cr {
            State::DataLf
        } else {
            State::Size { digits: 0 }
        };
        Ok(())
    }

    /// One byte of the trailer section; true when it ends the body.
    #[inline]
    fn trailer(&mut self, b: u8, at: u64) -> Result<bool, ChunkedError> {
        match self.state {
            State::TrailerStart => match b {
                b'\r' => self.state = State::TrailerLf { empty: true },
                // A trailer line may not start with whitespace (obs-fold) or be bare LF.
                b' ' | b'\t' | b'\n' | b':' => {
                    return self.fail(ChunkedError::BadTrailer { offset: at })
                }
                b if is_line_byte(b) => self.state = State::TrailerLine,
                _ => return self.fail(ChunkedError::BadTrailer { offset: at }),
            },
            State::TrailerLine => match b {
                b'\r' => self.state = State::TrailerLf { empty: false },
                b if is_line_byte(b) => {}
                _ => return self.fail(ChunkedError::BadTrailer { offset: at }),
            },
            State::TrailerLf { empty } => {
                if b != b'\n' {
                    return self.fail(ChunkedError::BadLineEnd { offset: at });
                }
                if empty {
                    self.state = State::Done;
                    return Ok(true);
                }
                self.state = State::TrailerStart;
            }
            _ => {}
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(body: &[u8]) -> (Result<Progress, ChunkedError>, Vec<Range<usize>>) {
        let mut p = ChunkedDecoder::new().recording();
        let r = p.feed(body);
        (r, p.take_chunks())
    }

    #[test]
    fn simple_and_split() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nGET";
        let (r, chunks) = whole(body);
        assert_eq!(r, Ok(Progress::Done(body.len() as u64 - 3)));
        let data: Vec<u8> = chunks
            .iter()
            .flat_map(|c| body[c.clone()].to_vec())
            .collect();
        assert_eq!(data, b"Wikipedia");
        // Byte by byte.
        let mut p = ChunkedDecoder::new().recording();
        let mut done = None;
        for (i, b) in body.iter().enumerate() {
            if let Ok(Progress::Done(n)) = p.feed(std::slice::from_ref(b)) {
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
        assert!(p.is_done());
        assert_eq!(p.feed(b"more"), Ok(Progress::Done(body.len() as u64 - 3)));
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
            b"3\nabc\n0\n\n",
            b"0\r\n\rx",
        ] {
            assert!(whole(bad).0.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Sixteen hex digits is the most that fits.
        assert_eq!(whole(b"ffffffffffffffff\r\nab").0, Ok(Progress::NeedMore));
        assert_eq!(
            whole(b"0000000000000000000001\r\na\r\n0\r\n\r\n").0,
            Ok(Progress::Done(32))
        );
    }

    #[test]
    fn typed_errors_and_stickiness() {
        assert_eq!(whole(b"4x\r\n").0, Err(ChunkedError::BadSize { offset: 1 }));
        assert_eq!(
            whole(b"10000000000000000\r\n").0,
            Err(ChunkedError::SizeOverflow { offset: 16 })
        );
        assert_eq!(
            whole(b"1;\x7f").0,
            Err(ChunkedError::BadExtension { offset: 2 })
        );
        assert_eq!(
            whole(b"1\r\nab").0,
            Err(ChunkedError::BadLineEnd { offset: 4 })
        );
        assert_eq!(
            whole(b"0\r\n:x\r\n\r\n").0,
            Err(ChunkedError::BadTrailer { offset: 3 })
        );
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"zz").is_err());
        assert_eq!(
            d.feed(b"0\r\n\r\n"),
            Err(ChunkedError::BadSize { offset: 0 })
        );
    }

    #[test]
    fn limits() {
        let limits = ChunkedLimits {
            max_size_line: 8,
            max_trailers: 10,
        };
        let feed = |body: &[u8]| ChunkedDecoder::with_limits(limits).feed(body);
        assert_eq!(feed(b"1;abcdef\r\nx\r\n"), Ok(Progress::NeedMore));
        assert_eq!(
            feed(b"1;abcdefg\r\n"),
            Err(ChunkedError::SizeLineTooLong { max: 8 })
        );
        assert_eq!(feed(b"0\r\nA: 123\r\n\r\n"), Ok(Progress::Done(13)));
        assert_eq!(
            feed(b"0\r\nA: 1234\r\n\r\n"),
            Err(ChunkedError::TrailersTooLong { max: 10 })
        );
        let long = [b'1', b';']
            .into_iter()
            .chain(std::iter::repeat_n(b'a', 5000))
            .collect::<Vec<u8>>();
        assert_eq!(
            ChunkedDecoder::with_limits(ChunkedLimits {
                max_size_line: 4096,
                max_trailers: 65536
            })
            .feed(&long),
            Err(ChunkedError::SizeLineTooLong { max: 4096 })
        );
    }
}
