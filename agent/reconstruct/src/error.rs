//! Error types of the library, one enum per source of errors.

use std::path::PathBuf;

/// A capture record that cannot become a [`crate::Segment`]: the record failed
/// [`shadowtap_common::RecordHeader::parse`], the one validator of ring records.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SegmentError {
    /// The record is malformed.
    #[error(transparent)]
    Record(#[from] shadowtap_common::RecordError),
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
