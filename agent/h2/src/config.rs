//! Limits of the HTTP/2 decoder. Every overflow is a counted drop of one stream (or, where
//! the HPACK state cannot be kept, a counted stop of the connection); memory never grows
//! past them.

/// Per-connection limits. The defaults follow shadowtap-reconstruct's HTTP/1 limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest decoded header list of one request (and, separately, of its trailers), counted
    /// as RFC 9113 §6.5.2 does: name + value + 32 per field. Over it the stream is dropped
    /// (`dropped_header_list_too_large`); the block is still decoded, so HPACK stays in sync.
    pub max_header_list_bytes: usize,
    /// Largest encoded header block (HEADERS + CONTINUATION payloads). A larger block cannot
    /// be held, so its HPACK effects are unknown: the connection stops
    /// (`stopped_header_block_too_large`).
    pub max_header_block_bytes: usize,
    /// Largest dynamic table size a size update may set. The real bound is the server's
    /// SETTINGS_HEADER_TABLE_SIZE, which is not captured; over this one the connection stops
    /// (`stopped_table_size_over_limit`). Never below the protocol's initial 4 096.
    pub max_table_size: usize,
    /// Most requests in progress at once on the connection. A stream opened beyond it is
    /// dropped (`dropped_too_many_streams`).
    pub max_open_streams: usize,
    /// Largest body of one request. Over it the stream is dropped (`dropped_body_too_large`).
    pub max_body_bytes: usize,
    /// Most bytes the connection holds: bodies in progress, header block fragments and the
    /// partial frame being read. A DATA payload that would pass it drops its stream
    /// (`dropped_connection_budget`).
    pub max_connection_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_list_bytes: 64 * 1024,
            max_header_block_bytes: 64 * 1024,
            max_table_size: 64 * 1024,
            max_open_streams: 256,
            max_body_bytes: 16 * 1024 * 1024,
            max_connection_bytes: 32 * 1024 * 1024,
        }
    }
}
