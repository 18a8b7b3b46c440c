//! The size of an HPACK dynamic table, kept beside the decoder that owns the table
//! (`loona-hpack` does not report it), so the memory a connection holds can be charged to a
//! budget. It follows RFC 7541 §4: an entry's size is its name and value plus 32 bytes;
//! entries are added at the front and evicted from the back while the table is over its
//! limit; an entry larger than the limit empties the table and is not added.

use std::collections::VecDeque;

/// The dynamic table's accounting: its limit, its size and each entry's size.
#[derive(Debug)]
pub struct TableAccount {
    limit: usize,
    size: usize,
    /// Entry sizes, newest first.
    entries: VecDeque<usize>,
}

impl TableAccount {
    /// An empty table under `limit` bytes.
    pub fn new(limit: usize) -> Self {
        TableAccount {
            limit,
            size: 0,
            entries: VecDeque::new(),
        }
    }

    /// A dynamic table size update to `limit` (§6.3): evicts down to it.
    pub fn resize(&mut self, limit: usize) {
        self.limit = limit;
        self.evict();
    }

    /// A field of `size` (name + value + 32) added with incremental indexing (§6.2.1).
    pub fn insert(&mut self, size: usize) {
        if size > self.limit {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.entries.push_front(size);
        self.size += size;
        self.evict();
    }

    /// The table's size as the protocol counts it.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An upper bound of the heap bytes the table and this account take: each entry's
    /// name and value, two allocations' overhead and its slot in the decoder's table, and
    /// its slot here.
    pub fn heap_bytes(&self) -> usize {
        // Per entry: size - 32 bytes of name and value, 2 × 16 bytes of allocation
        // overhead, a 48-byte (Vec, Vec) slot in the decoder's table, 8 bytes here.
        self.size + self.entries.len() * (2 * 16 + 48 + 8 - 32)
    }

    fn evict(&mut self) {
        while self.size > self.limit {
            match self.entries.pop_back() {
                Some(s) => self.size -= s,
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_rfc7541_c5_sizes() {
        // C.5: responses without Huffman, a table limit of 256 bytes.
        let mut t = TableAccount::new(256);
        // C.5.1: :status 302 (42), cache-control private (52), date (65), location (63).
        for s in [42, 52, 65, 63] {
            t.insert(s);
        }
        assert_eq!((t.size(), t.len()), (222, 4));
        // C.5.2: :status 307 (42) evicts :status 302.
        t.insert(42);
        assert_eq!((t.size(), t.len()), (222, 4));
        // C.5.3: date (65) and content-encoding gzip (52) and set-cookie (98) evict three.
        for s in [65, 52, 98] {
            t.insert(s);
        }
        assert_eq!((t.size(), t.len()), (215, 3));
    }

    #[test]
    fn an_entry_over_the_limit_empties_the_table() {
        let mut t = TableAccount::new(100);
        t.insert(40);
        t.insert(101);
        assert!(t.is_empty());
        assert_eq!(t.size(), 0);
    }

    #[test]
    fn a_smaller_limit_evicts_the_oldest() {
        let mut t = TableAccount::new(4096);
        for _ in 0..10 {
            t.insert(100);
        }
        t.resize(250);
        assert_eq!((t.size(), t.len()), (200, 2));
        t.resize(0);
        assert!(t.is_empty());
    }
}
