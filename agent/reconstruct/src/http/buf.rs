//! The bytes of a flow not yet consumed by the decoder.
//!
//! When a segment's payload arrives at an empty buffer it is kept as is (shared, no copy), so
//! requests that lie whole in one segment are emitted as zero-copy slices of it. Bytes are
//! copied only when a request spans segments.

use bytes::{Buf, Bytes, BytesMut};

use shadowtap_wire::http1::scan::rfind_crlfcrlf;

/// The bytes themselves.
#[derive(Debug)]
enum Inner {
    Shared(Bytes),
    Owned(BytesMut),
}

/// Where the last CRLF CRLF of the buffer ends, as a distance from the buffer's end (so it
/// stays valid while bytes are consumed from the front).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blank {
    Unknown,
    Absent,
    FromEnd(usize),
}

/// A contiguous run of stream bytes.
#[derive(Debug)]
pub(crate) struct StreamBuf {
    inner: Inner,
    blank: Blank,
}

impl Default for StreamBuf {
    fn default() -> Self {
        Self {
            inner: Inner::Shared(Bytes::new()),
            blank: Blank::Absent,
        }
    }
}

impl StreamBuf {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.inner {
            Inner::Shared(b) => b,
            Inner::Owned(m) => m,
        }
    }

    /// Whether a complete CRLF CRLF lies in the buffer. Computed once per appended run
    /// (one backward scan, stopping at the last one) and kept as the front is consumed, so
    /// each request of a run of pipelined requests asks it at no cost.
    pub(crate) fn has_crlfcrlf(&mut self) -> bool {
        if self.blank == Blank::Unknown {
            let b = self.as_slice();
            self.blank = match rfind_crlfcrlf(b) {
                Some(end) => Blank::FromEnd(b.len() - end),
                None => Blank::Absent,
            };
        }
        match self.blank {
            Blank::FromEnd(d) => d + 4 <= self.len(),
            _ => false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn append(&mut self, data: Bytes) {
        self.blank = Blank::Unknown;
        match &mut self.inner {
            Inner::Shared(b) if b.is_empty() => *b = data,
            Inner::Shared(b) => {
                let mut m = BytesMut::with_capacity(b.len() + data.len());
                m.extend_from_slice(b);
                m.extend_from_slice(&data);
                self.inner = Inner::Owned(m);
            }
            Inner::Owned(m) if m.is_empty() => self.inner = Inner::Shared(data),
            Inner::Owned(m) => m.extend_from_slice(&data),
        }
    }

    /// Drop the first `n` bytes (at most all).
    pub(crate) fn advance(&mut self, n: usize) {
        let n = n.min(self.len());
        match &mut self.inner {
            Inner::Shared(b) => b.advance(n),
            Inner::Owned(m) => m.advance(n),
        }
    }

    /// Take the first `n` bytes (at most all) without copying.
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len());
        match &mut self.inner {
            Inner::Shared(b) => b.split_to(n),
            Inner::Owned(m) => m.split_to(n).freeze(),
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = StreamBuf::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_split() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from_static(b"abc"));
        assert!(matches!(b.inner, Inner::Shared(_)));
        b.append(Bytes::from_static(b"def"));
        assert_eq!(b.as_slice(), b"abcdef");
        assert_eq!(&b.split_to(2)[..], b"ab");
        b.advance(1);
        assert_eq!(b.as_slice(), b"def");
        assert_eq!(&b.split_to(10)[..], b"def");
        assert!(b.is_empty());
        b.append(Bytes::from_static(b"x"));
        assert!(matches!(b.inner, Inner::Shared(_)));
    }

    #[test]
    fn blank_line_cache() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from_static(
            b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n",
        ));
        assert!(b.has_crlfcrlf());
        b.advance(18);
        assert!(!b.has_crlfcrlf());
        b.append(Bytes::from_static(b"\r"));
        assert!(!b.has_crlfcrlf());
        b.append(Bytes::from_static(b"\nx"));
        assert!(b.has_crlfcrlf());
    }
}
