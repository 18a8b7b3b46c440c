//! HPACK (RFC 7541) decoding of client header blocks, with the connection's dynamic table.
//!
//! The decoding itself is `loona-hpack`'s (static and dynamic tables, integers), which hands
//! names and values over as bytes in wire order. This module adds what a passive decoder
//! needs on top:
//! - a structural check of the block first ([`check_structure`]): every representation is
//!   complete, and dynamic table size updates come only before the first field (RFC 7541
//!   §4.2; a server rejects a block with one later as a COMPRESSION_ERROR);
//! - Huffman strings decoded by [`crate::huffman`] in that same pass: a block holding any is
//!   rewritten with each one as the plain literal it stands for, and that block goes to
//!   `loona-hpack`. Its own Huffman decoder rebuilds a hash-map code tree for every string
//!   and walks it bit by bit, which cost more than everything else in decoding a request;
//!   the rewritten block means the same fields and the same table changes;
//! - the bound on size updates ([`HpackDecoder::new`]): the real bound is the server's
//!   SETTINGS_HEADER_TABLE_SIZE, which shadowtap does not see;
//! - the header list size of RFC 9113 §6.5.2, counted while decoding: a list over the limit
//!   is still decoded to its end (the dynamic table must follow every block) but its fields
//!   are not kept.

use bytes::Bytes;
use loona_hpack::decoder::DecoderError;

use crate::huffman::{self, HuffmanError};
use crate::table_account::TableAccount;

/// The dynamic table size both ends start with (RFC 9113 §6.5.2, SETTINGS_HEADER_TABLE_SIZE
/// default).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Per-field overhead in the header list size (RFC 9113 §6.5.2) and the table size (RFC 7541
/// §4.1).
pub const FIELD_OVERHEAD: usize = 32;

/// One header field as decoded: name and value bytes exactly as the client encoded them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Field name (pseudo-header names keep their `:`).
    pub name: Bytes,
    /// Field value.
    pub value: Bytes,
}

impl Field {
    /// A field from anything byte-like.
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Field {
        Field {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Its size in a header list: name + value + 32.
    pub fn list_size(&self) -> usize {
        self.name.len() + self.value.len() + FIELD_OVERHEAD
    }
}

/// Why a header block cannot be decoded. Each one leaves the dynamic table unknown.
#[derive(Debug, thiserror::Error)]
pub enum HpackError {
    /// A representation is cut short or an integer is too large.
    #[error("header block truncated or integer overflow at offset {offset}")]
    Truncated {
        /// Offset of the representation in the block.
        offset: usize,
    },
    /// A dynamic table size update after the first field of a block.
    #[error("dynamic table size update after a header field (offset {offset})")]
    LateSizeUpdate {
        /// Offset of the update in the block.
        offset: usize,
    },
    /// A size update above the configured bound.
    #[error("dynamic table size update beyond the {max} byte limit")]
    TableSizeOverLimit {
        /// The configured bound.
        max: usize,
    },
    /// A Huffman string that does not decode (EOS inside, bad padding).
    #[error("invalid Huffman string at offset {offset}")]
    Huffman {
        /// Offset of the string's representation in the block.
        offset: usize,
        /// What is wrong with it.
        #[source]
        error: HuffmanError,
    },
    /// The decoder rejected the block (bad index, ...).
    #[error("invalid header block")]
    Invalid(#[source] DecoderError),
}

/// A decoded header block.
#[derive(Debug, Default)]
pub struct DecodedBlock {
    /// The fields in wire order; empty when `over_limit`.
    pub fields: Vec<Field>,
    /// Header list size of the whole block (RFC 9113 §6.5.2), even when over the limit.
    pub list_size: usize,
    /// The list size passed the limit given to [`HpackDecoder::decode`].
    pub over_limit: bool,
    /// Dynamic table size updates the block carried.
    pub size_updates: u32,
}

/// The decoder of one connection's client header blocks.
pub struct HpackDecoder {
    inner: loona_hpack::Decoder<'static>,
    max_table_size: usize,
    /// The dynamic table's size, followed beside `inner`'s table.
    table: TableAccount,
    /// Per field of the block being decoded: whether it is added to the table (reused).
    indexed: Vec<bool>,
    /// The block with its Huffman strings as plain literals (reused).
    plain: Vec<u8>,
    /// One decoded Huffman string (reused).
    text: Vec<u8>,
}

impl std::fmt::Debug for HpackDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HpackDecoder")
            .field("max_table_size", &self.max_table_size)
            .finish_non_exhaustive()
    }
}

impl HpackDecoder {
    /// A decoder whose table starts at the protocol's 4 096 bytes and follows the size
    /// updates in the blocks, refusing any above `max_table_size` (at least 4 096).
    pub fn new(max_table_size: usize) -> HpackDecoder {
        let max_table_size = max_table_size.max(DEFAULT_TABLE_SIZE);
        let mut inner = loona_hpack::Decoder::new();
        inner.set_max_allowed_table_size(max_table_size);
        HpackDecoder {
            inner,
            max_table_size,
            table: TableAccount::new(DEFAULT_TABLE_SIZE),
            indexed: Vec::new(),
            plain: Vec::new(),
            text: Vec::new(),
        }
    }

    /// An upper bound of the heap bytes this decoder holds: its dynamic table (see
    /// [`TableAccount::heap_bytes`]) and its reused buffers.
    pub fn held_bytes(&self) -> usize {
        self.table.heap_bytes()
            + self.plain.capacity()
            + self.text.capacity()
            + self.indexed.capacity()
    }

    /// The dynamic table's size as the protocol counts it (RFC 7541 §4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decode one complete header block. Fields are kept while the list size stays within
    /// `max_list_bytes`. An error leaves the table unknown: the connection cannot go on.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_bytes: usize,
    ) -> Result<DecodedBlock, HpackError> {
        self.indexed.clear();
        let mut rewrite = Rewrite {
            plain: &mut self.plain,
            text: &mut self.text,
            copied: 0,
            used: false,
            size_updates: (None, None),
            indexed: &mut self.indexed,
        };
        let size_updates = walk(block, Some(&mut rewrite))?;
        let (smallest_update, last_update) = rewrite.size_updates;
        let block = if rewrite.finish(block) {
            &self.plain[..]
        } else {
            block
        };
        let mut out = DecodedBlock {
            size_updates,
            ..DecodedBlock::default()
        };
        // The table follows the block: its size updates (all before the first field; the
        // smallest one evicts the most, the last one sets the limit), then each field added.
        for limit in [smallest_update, last_update].into_iter().flatten() {
            self.table.resize(limit);
        }
        let mut field = 0;
        let (indexed, table) = (&self.indexed, &mut self.table);
        self.inner
            .decode_with_cb(block, |name, value| {
                let size = name.len() + value.len() + FIELD_OVERHEAD;
                if indexed.get(field).copied().unwrap_or(false) {
                    table.insert(size);
                }
                field += 1;
                out.list_size = out.list_size.saturating_add(size);
                if out.over_limit {
                    return;
                }
                if out.list_size > max_list_bytes {
                    out.over_limit = true;
                    out.fields = Vec::new();
                    return;
                }
                out.fields.push(Field::new(
                    Bytes::copy_from_slice(&name),
                    Bytes::copy_from_slice(&value),
                ));
            })
            .map_err(|e| match e {
                DecoderError::InvalidMaxDynamicSize => HpackError::TableSizeOverLimit {
                    max: self.max_table_size,
                },
                other => HpackError::Invalid(other),
            })?;
        Ok(out)
    }
}

/// Walk the representations of `block` without decoding them: each must be complete, and
/// size updates may only precede the first field. Returns how many size updates it holds.
pub fn check_structure(block: &[u8]) -> Result<u32, HpackError> {
    walk(block, None)
}

/// The rewriting of a block's Huffman strings as plain literals, filled in by [`walk`].
struct Rewrite<'a> {
    /// The rewritten block so far.
    plain: &'a mut Vec<u8>,
    /// Scratch for one decoded string.
    text: &'a mut Vec<u8>,
    /// How much of the original block is in `plain` (or stands for what is).
    copied: usize,
    /// Whether any string was rewritten.
    used: bool,
    /// The block's smallest and last dynamic table size updates.
    size_updates: (Option<usize>, Option<usize>),
    /// Per field representation: whether it adds its field to the table.
    indexed: &'a mut Vec<bool>,
}

impl Rewrite<'_> {
    /// Rewrite the Huffman string whose length prefix starts at `at` and whose octets are
    /// `block[data..end]`.
    fn string(
        &mut self,
        block: &[u8],
        at: usize,
        data: usize,
        end: usize,
    ) -> Result<(), HuffmanError> {
        if !self.used {
            self.used = true;
            self.plain.clear();
        }
        self.plain.extend_from_slice(&block[self.copied..at]);
        self.text.clear();
        huffman::decode(&block[data..end], self.text)?;
        encode_integer(self.text.len(), 7, 0, self.plain);
        self.plain.extend_from_slice(self.text);
        self.copied = end;
        Ok(())
    }

    /// Complete the rewritten block; whether there is one.
    fn finish(&mut self, block: &[u8]) -> bool {
        if self.used {
            self.plain.extend_from_slice(&block[self.copied..]);
        }
        self.used
    }
}

/// The walk of [`check_structure`], rewriting Huffman strings as it goes when asked to.
fn walk(block: &[u8], mut rewrite: Option<&mut Rewrite<'_>>) -> Result<u32, HpackError> {
    let mut pos = 0;
    let mut seen_field = false;
    let mut updates = 0u32;
    while pos < block.len() {
        let start = pos;
        let b = block[pos];
        let truncated = HpackError::Truncated { offset: start };
        if b & 0x80 != 0 {
            pos = integer(block, pos, 7).ok_or(truncated)?.1;
            seen_field = true;
            if let Some(r) = rewrite.as_deref_mut() {
                r.indexed.push(false);
            }
        } else if b & 0x20 != 0 && b & 0x40 == 0 {
            if seen_field {
                return Err(HpackError::LateSizeUpdate { offset: start });
            }
            let (size, next) = integer(block, pos, 5).ok_or(truncated)?;
            if let Some(r) = rewrite.as_deref_mut() {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                let (smallest, last) = &mut r.size_updates;
                *smallest = Some(smallest.map_or(size, |s| s.min(size)));
                *last = Some(size);
            }
            pos = next;
            updates += 1;
        } else {
            let prefix = if b & 0x40 != 0 { 6 } else { 4 };
            if let Some(r) = rewrite.as_deref_mut() {
                r.indexed.push(b & 0x40 != 0);
            }
            let (index, mut p) = integer(block, pos, prefix).ok_or(truncated)?;
            let strings = if index == 0 { 2 } else { 1 };
            for _ in 0..strings {
                let (data, end) =
                    string(block, p).ok_or(HpackError::Truncated { offset: start })?;
                if block[p] & 0x80 != 0 {
                    if let Some(r) = rewrite.as_deref_mut() {
                        r.string(block, p, data, end)
                            .map_err(|error| HpackError::Huffman {
                                offset: start,
                                error,
                            })?;
                    }
                }
                p = end;
            }
            pos = p;
            seen_field = true;
        }
    }
    Ok(updates)
}

/// Append `value` as an integer with an N-bit prefix whose high bits are `flags` (RFC 7541
/// §5.1).
fn encode_integer(value: usize, prefix: u8, flags: u8, out: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// Decode an integer with an N-bit prefix at `pos` (RFC 7541 §5.1); returns the value and
/// the position after it. At most 4 continuation bytes (values below 2^28), as in the
/// decoder.
fn integer(block: &[u8], pos: usize, prefix: u8) -> Option<(u64, usize)> {
    let mask = (1u8 << prefix) - 1;
    let first = block.get(pos)? & mask;
    if first < mask {
        return Some((u64::from(first), pos + 1));
    }
    let mut value = u64::from(mask);
    for i in 0..4 {
        let b = *block.get(pos + 1 + i)?;
        value += u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, pos + 2 + i));
        }
    }
    None
}

/// Find the string literal at `pos` (RFC 7541 §5.2); returns where its octets start and
/// the position after it.
fn string(block: &[u8], pos: usize) -> Option<(usize, usize)> {
    let (len, p) = integer(block, pos, 7)?;
    let end = p.checked_add(usize::try_from(len).ok()?)?;
    (end <= block.len()).then_some((p, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_of_rfc7541_c1() {
        assert_eq!(integer(&[0b0000_1010], 0, 5), Some((10, 1)));
        assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 0, 5), Some((1337, 3)));
        assert_eq!(integer(&[42], 0, 7), Some((42, 1)));
        assert_eq!(integer(&[0x1f, 0x9a], 0, 5), None, "continuation cut");
        assert_eq!(integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x01], 0, 5), None);
    }

    #[test]
    fn structure_rejects_late_size_update_and_cuts() {
        assert_eq!(check_structure(&[0x3f, 0xe1, 0x1f, 0x82]).ok(), Some(1));
        assert!(matches!(
            check_structure(&[0x82, 0x20]),
            Err(HpackError::LateSizeUpdate { offset: 1 })
        ));
        // A literal name of length 3 with only 2 bytes.
        assert!(matches!(
            check_structure(&[0x40, 0x03, b'a', b'b']),
            Err(HpackError::Truncated { offset: 0 })
        ));
        assert!(matches!(
            check_structure(&[0x3f]),
            Err(HpackError::Truncated { .. })
        ));
    }

    #[test]
    fn list_limit_keeps_decoding() {
        let mut d = HpackDecoder::new(DEFAULT_TABLE_SIZE);
        // Literal with incremental indexing, new name "custom-key": "custom-header" (C.2.1).
        let mut block = vec![0x40, 10];
        block.extend_from_slice(b"custom-key");
        block.push(13);
        block.extend_from_slice(b"custom-header");
        let b = d.decode(&block, 10).expect("decodes");
        assert!(b.over_limit);
        assert!(b.fields.is_empty());
        assert_eq!(b.list_size, 10 + 13 + 32);
        // The entry still went into the table: index 62 now names it.
        let b = d.decode(&[0xbe], 1000).expect("decodes");
        assert_eq!(
            b.fields,
            vec![Field::new(&b"custom-key"[..], &b"custom-header"[..])]
        );
    }

    #[test]
    fn table_size_bound() {
        let mut d = HpackDecoder::new(8192);
        // Update to 8192: 0x3f then 8192 - 31 = 8161 = 0xe1 0x3f.
        assert!(d.decode(&[0x3f, 0xe1, 0x3f, 0x82], 1000).is_ok());
        // Update to 8193.
        assert!(matches!(
            d.decode(&[0x3f, 0xe2, 0x3f, 0x82], 1000),
            Err(HpackError::TableSizeOverLimit { max: 8192 })
        ));
    }
}
