//! The bytes of a flow not yet consumed by the decoder.
//!
//! When a segment's payload arrives at an empty buffer it is kept as is (shared, no copy), so
//! requests that lie whole in one segment are emitted as zero-copy slices of it. Bytes are
//! copied only when a request spans segments, when a request would otherwise keep alive a
//! buffer more than twice its size, and by [`StreamBuf::compact`].
//!
//! What the buffer holds is charged as the allocation its bytes keep alive
//! ([`StreamBuf::held`]), not as their length: a 100-byte remainder of a 64 KiB segment costs
//! 64 KiB until it is compacted. The decoder compacts at the end of every call, so between
//! calls a flow holds at most twice the bytes it still needs (nothing once they are consumed).

use bytes::{Buf, Bytes, BytesMut};

use shadowtap_wire::http1::scan::rfind_crlfcrlf;

/// The bytes themselves.
#[derive(Debug)]
enum Inner {
    /// A slice of a buffer made elsewhere (a captured segment).
    Shared(Bytes),
    /// A buffer of the decoder's own, grown only by [`StreamBuf::append`].
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
    /// Size of the allocation the bytes keep alive: the segment buffer a shared slice comes
    /// from, or the owned buffer's capacity.
    alloc: usize,
}

impl Default for StreamBuf {
    fn default() -> Self {
        Self {
            inner: Inner::Shared(Bytes::new()),
            blank: Blank::Absent,
            alloc: 0,
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

    /// Bytes of memory the buffer keeps alive (0 when empty): what budgets are charged.
    pub(crate) fn held(&self) -> usize {
        if self.is_empty() {
            0
        } else {
            self.alloc.max(self.len())
        }
    }

    /// Append `data`, a slice of a buffer of `alloc` bytes (the captured segment's).
    pub(crate) fn append(&mut self, data: Bytes, alloc: usize) {
        if data.is_empty() {
            return;
        }
        self.blank = Blank::Unknown;
        if self.is_empty() {
            self.alloc = alloc.max(data.len());
            self.inner = Inner::Shared(data);
            return;
        }
        let need = self.len() + data.len();
        match &mut self.inner {
            Inner::Owned(m) if m.capacity() - m.len() >= data.len() => {
                m.extend_from_slice(&data);
            }
            _ => {
                // A new buffer of our own; growing by doubling keeps a request that spans
                // many segments linear to build.
                let cap = need.max(2 * self.len());
                let mut m = BytesMut::with_capacity(cap);
                m.extend_from_slice(self.as_slice());
                m.extend_from_slice(&data);
                self.alloc = m.capacity();
                self.inner = Inner::Owned(m);
            }
        }
    }

    /// Drop the first `n` bytes (at most all).
    pub(crate) fn advance(&mut self, n: usize) {
        let n = n.min(self.len());
        match &mut self.inner {
            Inner::Shared(b) => b.advance(n),
            Inner::Owned(m) => m.advance(n),
        }
        if self.is_empty() {
            self.clear();
        }
    }

    /// Take the first `n` bytes (at most all): shared when they are at least half of the
    /// allocation they live in, copied otherwise, so a taken request never keeps alive more
    /// than twice its size.
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len());
        if n == 0 {
            return Bytes::new();
        }
        let out = if n.saturating_mul(2) < self.alloc {
            let copy = Bytes::copy_from_slice(&self.as_slice()[..n]);
            match &mut self.inner {
                Inner::Shared(b) => b.advance(n),
                Inner::Owned(m) => m.advance(n),
            }
            copy
        } else {
            match &mut self.inner {
                Inner::Shared(b) => b.split_to(n),
                Inner::Owned(m) => m.split_to(n).freeze(),
            }
        };
        if self.is_empty() {
            self.clear();
        }
        out
    }

    /// Between calls: keep no allocation for consumed bytes. Empty, the buffer lets go of
    /// everything; holding less than half of its allocation, it copies its bytes out into
    /// one of their size.
    pub(crate) fn compact(&mut self) {
        if self.is_empty() {
            self.clear();
        } else if self.len().saturating_mul(2) < self.alloc {
            let m = BytesMut::from(self.as_slice());
            self.alloc = m.capacity();
            self.inner = Inner::Owned(m);
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
        b.append(Bytes::from_static(b"abc"), 3);
        assert!(matches!(b.inner, Inner::Shared(_)));
        b.append(Bytes::from_static(b"def"), 3);
        assert_eq!(b.as_slice(), b"abcdef");
        assert_eq!(&b.split_to(2)[..], b"ab");
        b.advance(1);
        assert_eq!(b.as_slice(), b"def");
        assert_eq!(&b.split_to(10)[..], b"def");
        assert!(b.is_empty());
        b.append(Bytes::from_static(b"x"), 1);
        assert!(matches!(b.inner, Inner::Shared(_)));
    }

    #[test]
    fn blank_line_cache() {
        let mut b = StreamBuf::default();
        b.append(
            Bytes::from_static(b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n"),
            34,
        );
        assert!(b.has_crlfcrlf());
        b.advance(18);
        assert!(!b.has_crlfcrlf());
        b.append(Bytes::from_static(b"\r"), 1);
        assert!(!b.has_crlfcrlf());
        b.append(Bytes::from_static(b"\nx"), 2);
        assert!(b.has_crlfcrlf());
    }

    #[test]
    fn held_is_the_allocation_and_compact_lets_it_go() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from(vec![b'a'; 60_000]), 60_000);
        assert_eq!(b.held(), 60_000);
        // A small request is copied out, not a slice pinning the segment.
        let small = b.split_to(100);
        assert_eq!(small.len(), 100);
        // The bulk is shared.
        let big = b.split_to(59_800);
        assert_eq!(big.len(), 59_800);
        assert_eq!(b.held(), 60_000, "a 100-byte tail keeps the segment alive");
        b.compact();
        assert_eq!(b.len(), 100);
        assert!(b.held() <= 200, "compacted: {}", b.held());
        b.advance(100);
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn emptied_owned_buffer_keeps_nothing() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from(vec![b'a'; 1_000]), 1_000);
        b.append(Bytes::from(vec![b'b'; 50_000]), 50_000);
        assert!(matches!(b.inner, Inner::Owned(_)));
        assert!(b.held() >= 51_000);
        let all = b.split_to(51_000);
        assert_eq!(all.len(), 51_000);
        assert_eq!(b.held(), 0);
        assert!(matches!(&b.inner, Inner::Shared(s) if s.is_empty()));
    }
}
