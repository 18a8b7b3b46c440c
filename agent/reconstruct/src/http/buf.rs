//! The bytes of a flow not yet consumed by the decoder.
//!
//! When a segment's payload arrives at an empty buffer it is kept as is (shared, no copy), so
//! requests that lie whole in one segment are emitted as zero-copy slices of it. Bytes are
//! copied only when a request spans segments.

use bytes::{Buf, Bytes, BytesMut};

/// A contiguous run of stream bytes.
#[derive(Debug)]
pub(crate) enum StreamBuf {
    Shared(Bytes),
    Owned(BytesMut),
}

impl Default for StreamBuf {
    fn default() -> Self {
        StreamBuf::Shared(Bytes::new())
    }
}

impl StreamBuf {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            StreamBuf::Shared(b) => b,
            StreamBuf::Owned(m) => m,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn append(&mut self, data: Bytes) {
        match self {
            StreamBuf::Shared(b) if b.is_empty() => *b = data,
            StreamBuf::Shared(b) => {
                let mut m = BytesMut::with_capacity(b.len() + data.len());
                m.extend_from_slice(b);
                m.extend_from_slice(&data);
                *self = StreamBuf::Owned(m);
            }
            StreamBuf::Owned(m) if m.is_empty() => *self = StreamBuf::Shared(data),
            StreamBuf::Owned(m) => m.extend_from_slice(&data),
        }
    }

    /// Drop the first `n` bytes (at most all).
    pub(crate) fn advance(&mut self, n: usize) {
        let n = n.min(self.len());
        match self {
            StreamBuf::Shared(b) => b.advance(n),
            StreamBuf::Owned(m) => m.advance(n),
        }
    }

    /// Take the first `n` bytes (at most all) without copying.
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len());
        match self {
            StreamBuf::Shared(b) => b.split_to(n),
            StreamBuf::Owned(m) => m.split_to(n).freeze(),
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
        assert!(matches!(b, StreamBuf::Shared(_)));
        b.append(Bytes::from_static(b"def"));
        assert_eq!(b.as_slice(), b"abcdef");
        assert_eq!(&b.split_to(2)[..], b"ab");
        b.advance(1);
        assert_eq!(b.as_slice(), b"def");
        assert_eq!(&b.split_to(10)[..], b"def");
        assert!(b.is_empty());
        b.append(Bytes::from_static(b"x"));
        assert!(matches!(b, StreamBuf::Shared(_)));
    }
}
