//! The bytes of a flow not yet consumed by the decoder.
//!
//! When a segment's payload arrives at an empty buffer it is kept as is (shared, no copy), so
//! requests that lie whole in one segment are emitted as zero-copy slices of it. Bytes are
//! copied only when a request spans segments and by [`StreamBuf::compact`]. A request taken
//! out ([`StreamBuf::take`]) is always a slice, with the size of the allocation it keeps
//! alive: whoever keeps it beyond the call copies it out when that allocation is more than
//! twice its size ([`Request::detached`](crate::Request::detached)), so the requests that
//! are dropped at once (not sampled) are never copied.
//!
//! What the buffer holds is charged as the allocation its bytes keep alive
//! ([`StreamBuf::held`]), not as their length: a 100-byte remainder of a 64 KiB segment costs
//! 64 KiB until it is compacted. The decoder compacts at the end of every call, so between
//! calls a flow holds at most twice the bytes it still needs (nothing once they are consumed).

use bytes::{Buf, Bytes, BytesMut};

use shadowtap_wire::http1::scan::rfind_crlfcrlf;

/// Allocations up to this size are not compacted: an MTU-sized segment (or a few) that a
/// partial request keeps alive costs less than copying the request out and copying it again
/// when its next bytes arrive.
pub(crate) const SMALL_ALLOC: usize = 4096;

/// Largest request size [`StreamBuf::append_toward`] allocates ahead for.
pub(crate) const MAX_GOAL: usize = 64 * 1024;

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

    /// The buffer ends with CRLF CRLF (its caller found it there): [`has_crlfcrlf`]
    /// (Self::has_crlfcrlf) need not look for it.
    pub(crate) fn ends_with_crlfcrlf(&mut self) {
        self.blank = Blank::FromEnd(0);
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
    #[cfg(test)]
    pub(crate) fn append(&mut self, data: Bytes, alloc: usize) {
        self.append_toward(data, alloc, None);
    }

    /// Append `data`, a slice of a buffer of `alloc` bytes (the captured segment's),
    /// knowing, when `goal` is given, that the bytes in progress will be `goal` bytes
    /// long when complete (the request's length, when its framing tells): a copy is then
    /// made at once to that size, so that taking the whole request
    /// ([`take`](Self::take)) freezes the buffer as it is, with no shared-buffer header to
    /// allocate, and the rest of the request is appended without another copy. Goals beyond
    /// [`MAX_GOAL`] are ignored (nothing is reserved ahead for bytes that may never come).
    pub(crate) fn append_toward(&mut self, data: Bytes, alloc: usize, goal: Option<usize>) {
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
                // A new buffer of our own: of the request's size when it is known (and
                // bounded), else of the bytes at hand the first time (a head that ends
                // in them is usually the whole request) and doubled after, which keeps a
                // request that spans many segments linear to build.
                let cap = match (goal, &self.inner) {
                    (Some(g), _) if g >= need && g <= MAX_GOAL => g,
                    (_, Inner::Shared(_)) => need,
                    _ => need.max(2 * self.len()),
                };
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

    /// Take the first `n` bytes (at most all), shared (never copied), with the size of the
    /// allocation they keep alive.
    pub(crate) fn take(&mut self, n: usize) -> (Bytes, usize) {
        let n = n.min(self.len());
        if n == 0 {
            return (Bytes::new(), 0);
        }
        let alloc = self.alloc.max(n);
        let out = match &mut self.inner {
            Inner::Shared(b) => b.split_to(n),
            // The whole buffer (the usual case: appends take only what the request in
            // progress needs): frozen as it is, with no shared-buffer header to allocate.
            Inner::Owned(m) if n == m.len() => std::mem::take(m).freeze(),
            Inner::Owned(m) => m.split_to(n).freeze(),
        };
        if self.is_empty() {
            self.clear();
        }
        (out, alloc)
    }

    /// Between calls: keep no allocation for consumed bytes. Empty, the buffer lets go of
    /// everything; holding less than half of an allocation larger than
    /// [`SMALL_ALLOC`], it copies its bytes out into one of their size. Below that size the
    /// bytes stay where they are (charged as the whole allocation, [`StreamBuf::held`]):
    /// the next append copies them once anyway, and a copy here would be a second one.
    pub(crate) fn compact(&mut self) {
        if self.is_empty() {
            self.clear();
        } else if self.alloc > SMALL_ALLOC && self.len().saturating_mul(2) < self.alloc {
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
        assert_eq!(&b.take(2).0[..], b"ab");
        b.advance(1);
        assert_eq!(b.as_slice(), b"def");
        assert_eq!(&b.take(10).0[..], b"def");
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
    fn a_head_end_found_by_the_caller_is_kept() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from_static(b"GET / HTTP/1.1\r\nHost: a\r\n"), 26);
        assert!(!b.has_crlfcrlf());
        b.append(Bytes::from_static(b"\r\n"), 2);
        b.ends_with_crlfcrlf();
        assert!(b.has_crlfcrlf());
        b.advance(b.len() - 3);
        assert!(!b.has_crlfcrlf(), "consumed past it");
    }

    #[test]
    fn held_is_the_allocation_and_compact_lets_it_go() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from(vec![b'a'; 60_000]), 60_000);
        assert_eq!(b.held(), 60_000);
        // A small request is a slice that says what it pins (its taker copies it out if
        // it keeps it).
        let (small, pinned) = b.take(100);
        assert_eq!((small.len(), pinned), (100, 60_000));
        let (big, pinned) = b.take(59_800);
        assert_eq!((big.len(), pinned), (59_800, 60_000));
        assert_eq!(b.held(), 60_000, "a 100-byte tail keeps the segment alive");
        b.compact();
        assert_eq!(b.len(), 100);
        assert!(b.held() <= 200, "compacted: {}", b.held());
        b.advance(100);
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn small_allocations_are_not_compacted() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from(vec![b'a'; 1448]), 1448);
        b.advance(1000);
        b.compact();
        assert!(
            matches!(b.inner, Inner::Shared(_)),
            "no copy of a 448-byte tail"
        );
        assert_eq!(b.held(), 1448, "charged as the segment it keeps alive");
        b.append(Bytes::from(vec![b'b'; 1448]), 1448);
        assert!(matches!(b.inner, Inner::Owned(_)));
        assert_eq!(b.len(), 448 + 1448);
        let (all, pinned) = b.take(b.len());
        assert_eq!(all.len(), 448 + 1448);
        assert!(pinned >= all.len());
        assert!(b.is_empty());
    }

    #[test]
    fn emptied_owned_buffer_keeps_nothing() {
        let mut b = StreamBuf::default();
        b.append(Bytes::from(vec![b'a'; 1_000]), 1_000);
        b.append(Bytes::from(vec![b'b'; 50_000]), 50_000);
        assert!(matches!(b.inner, Inner::Owned(_)));
        assert!(b.held() >= 51_000);
        let (all, pinned) = b.take(51_000);
        assert_eq!(all.len(), 51_000);
        assert!(pinned >= 51_000);
        assert_eq!(b.held(), 0);
        assert!(matches!(&b.inner, Inner::Shared(s) if s.is_empty()));
    }
}
