//! An incremental decoder that finds the end of a chunked response body (trailers
//! included) without keeping its data.

/// Longest chunk-size line (extensions included) and largest trailer section accepted.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 64 * 1024;

/// Framing errors of a chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkedError {
    /// A chunk size is missing, not hexadecimal, or too large.
    BadSize,
    /// A chunk's data is not followed by a line ending.
    BadDataEnd,
    /// A chunk-size line or the trailer section is too long.
    TooLong,
}

impl ChunkedError {
    /// A short description for logs.
    pub fn detail(self) -> &'static str {
        match self {
            ChunkedError::BadSize => "bad chunk size",
            ChunkedError::BadDataEnd => "chunk data not followed by CRLF",
            ChunkedError::TooLong => "chunk-size line or trailers too long",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the hexadecimal size; `digits` seen so far.
    Size { digits: u8 },
    /// Skipping a chunk extension up to the end of the line.
    Ext,
    /// After CR at the end of the size line.
    SizeCr,
    /// Inside chunk data: bytes left.
    Data(u64),
    /// After chunk data: expecting CRLF (or LF).
    DataEnd,
    /// After CR that follows chunk data.
    DataEndCr,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
    /// After CR at the start of a line: the final empty line.
    FinalCr,
    /// The body is complete.
    Done,
}

/// Finds where a chunked body ends.
#[derive(Clone, Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    size: u64,
    line: usize,
    trailers: usize,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
            line: 0,
            trailers: 0,
        }
    }

    /// Consumes body bytes; returns how many belong to the body and whether it is complete.
    /// Bytes after the end of the body are not consumed.
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, bool), ChunkedError> {
        let mut i = 0;
        while i < data.len() {
            if let State::Data(left) = self.state {
                let take = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - i);
                i += take;
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataEnd
                } else {
                    State::Data(left)
                };
                continue;
            }
            if self.state == State::Done {
                return Ok((i, true));
            }
            self.byte(data[i])?;
            i += 1;
        }
        Ok((i, self.state == State::Done))
    }

    fn end_size_line(&mut self) {
        self.state = if self.size == 0 {
            State::TrailerStart
        } else {
            State::Data(self.size)
        };
        self.size = 0;
        self.line = 0;
    }

    fn byte(&mut self, b: u8) -> Result<(), ChunkedError> {
        self.line += 1;
        if self.line > MAX_LINE {
            return Err(ChunkedError::TooLong);
        }
        match self.state {
            State::Size { digits } => match (b as char).to_digit(16) {
                Some(d) if digits < 16 => {
                    self.size = (self.size << 4) | u64::from(d);
                    self.state = State::Size { digits: digits + 1 };
                }
                Some(_) => return Err(ChunkedError::BadSize),
                None if digits == 0 => return Err(ChunkedError::BadSize),
                None => match b {
                    b';' | b' ' | b'\t' => self.state = State::Ext,
                    b'\r' => self.state = State::SizeCr,
                    b'\n' => self.end_size_line(),
                    _ => return Err(ChunkedError::BadSize),
                },
            },
            State::Ext => {
                if b == b'\n' {
                    self.end_size_line();
                }
            }
            State::SizeCr => {
                if b != b'\n' {
                    return Err(ChunkedError::BadSize);
                }
                self.end_size_line();
            }
            State::DataEnd => match b {
                b'\r' => self.state = State::DataEndCr,
                b'\n' => self.next_chunk(),
                _ => return Err(ChunkedError::BadDataEnd),
            },
            State::DataEndCr => {
                if b != b'\n' {
                    return Err(ChunkedError::BadDataEnd);
                }
                self.next_chunk();
            }
            State::TrailerStart | State::Trailer | State::FinalCr => self.trailer_byte(b)?,
            State::Data(_) | State::Done => {}
        }
        Ok(())
    }

    fn next_chunk(&mut self) {
        self.state = State::Size { digits: 0 };
        self.line = 0;
    }

    fn trailer_byte(&mut self, b: u8) -> Result<(), ChunkedError> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(ChunkedError::TooLong);
        }
        self.line = 0;
        self.state = match (self.state, b) {
            (State::TrailerStart, b'\r') => State::FinalCr,
            (State::TrailerStart, b'\n') | (State::FinalCr, b'\n') => State::Done,
            (State::FinalCr, _) => return Err(ChunkedError::BadDataEnd),
            (_, b'\n') => State::TrailerStart,
            _ => State::Trailer,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(body: &[u8]) -> Result<(usize, bool), ChunkedError> {
        ChunkedDecoder::new().feed(body)
    }

    #[test]
    fn complete_bodies() {
        assert_eq!(whole(b"0\r\n\r\n"), Ok((5, true)));
        assert_eq!(whole(b"5\r\nhello\r\n0\r\n\r\nNEXT"), Ok((15, true)));
        assert_eq!(
            whole(b"A;ext=1\r\n0123456789\r\n0\r\nT: 1\r\nU: 2\r\n\r\n"),
            Ok((38, true))
        );
        assert_eq!(whole(b"3\nabc\n0\n\n"), Ok((9, true)));
        assert_eq!(whole(b"ff \r\n"), Ok((5, false)));
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let body = b"4\r\nwiki\r\n5\r\npedia\r\n0\r\nX: y\r\n\r\n";
        let mut d = ChunkedDecoder::new();
        for (i, b) in body.iter().enumerate() {
            let (n, done) = d.feed(std::slice::from_ref(b)).expect("valid");
            assert_eq!(n, 1);
            assert_eq!(done, i == body.len() - 1);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(whole(b"x\r\n"), Err(ChunkedError::BadSize));
        assert_eq!(whole(b"\r\n"), Err(ChunkedError::BadSize));
        assert_eq!(whole(b"11111111111111111\r\n"), Err(ChunkedError::BadSize));
        assert_eq!(whole(b"1\r\nab"), Err(ChunkedError::BadDataEnd));
        assert_eq!(whole(b"0\r\n\rx"), Err(ChunkedError::BadDataEnd));
        let long = [b'1', b';']
            .into_iter()
            .chain(std::iter::repeat_n(b'a', 5000));
        assert_eq!(
            whole(&long.collect::<Vec<u8>>()),
            Err(ChunkedError::TooLong)
        );
    }
}
