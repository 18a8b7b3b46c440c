//! Error types of the library, one enum per source of errors.

use std::path::PathBuf;

/// A capture record that cannot become a [`crate::Segment`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SegmentError {
    /// The record is shorter than its fixed header.
    #[error("record of {len} bytes is shorter than the {header} byte header")]
    ShortRecord {
        /// Bytes in the record.
        len: usize,
        /// Size of the header.
        header: usize,
    },
    /// `captured_len` does not match the payload that follows the header.
    #[error("captured_len {captured_len} does not match the {actual} payload bytes present")]
    CapturedLenMismatch {
        /// Value of the header field.
        captured_len: u32,
        /// Bytes actually present.
        actual: usize,
    },
    /// More bytes captured than the packet's payload holds, or more than a record may carry.
    #[error("captured_len {captured_len} exceeds payload_len {payload_len} or the record limit")]
    CapturedTooLong {
        /// Value of `captured_len`.
        captured_len: u32,
        /// Value of `payload_len`.
        payload_len: u32,
    },
    /// The `truncated` flag disagrees with the lengths.
    #[error("truncated flag {flag} inconsistent with captured_len {captured_len} / payload_len {payload_len}")]
    TruncatedMismatch {
        /// Value of the flag.
        flag: u8,
        /// Value of `captured_len`.
        captured_len: u32,
        /// Value of `payload_len`.
        payload_len: u32,
    },
    /// `ip_version` is neither 4 nor 6, or an IPv4 record's address is not IPv4-mapped.
    #[error("bad IP version {version} or address form")]
    BadAddress {
        /// Value of `ip_version`.
        version: u8,
    },
}

/// Errors reading a capture file.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is neither pcap nor pcapng, or its structure is broken.
    #[error("invalid capture file {path}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: pcap_file::PcapError,
    },
}
