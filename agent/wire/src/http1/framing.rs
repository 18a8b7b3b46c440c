//! Message framing (RFC 9112 §6): how long a body is, decided from the fields of its head.
//!
//! Ambiguous or hostile framing is an error in both directions: both Content-Length and
//! Transfer-Encoding, differing or non-decimal Content-Length values, `chunked` applied twice
//! or not last, Transfer-Encoding on HTTP/1.0. The one difference between the directions is
//! the RFC's: a request whose final coding is not chunked has no determinable length (an
//! error), a response's body then runs until the connection closes.

use super::connection::ConnectionOptions;
use super::content_length::{ContentLength, ContentLengthError};
use super::method::Version;
use super::response::ResponseBody;
use super::transfer_encoding::{TransferEncoding, TransferEncodingError};

/// How a request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes (more than zero).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// Why the framing of a message cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Both Content-Length and Transfer-Encoding (a request smuggling vector).
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthAndTransferEncoding,
    /// The Content-Length field is invalid.
    #[error("invalid Content-Length: {source}")]
    ContentLength {
        /// What is wrong with it.
        #[source]
        source: ContentLengthError,
    },
    /// The Transfer-Encoding field is invalid.
    #[error("invalid Transfer-Encoding: {source}")]
    TransferEncoding {
        /// What is wrong with it.
        #[source]
        source: TransferEncodingError,
    },
}

/// Whether `name` is `lower` in any ASCII case. The usual spellings (capitalised as
/// `canonical`, or all lowercase) are plain byte comparisons, tried first.
#[inline]
fn is_name(name: &[u8], canonical: &[u8], lower: &[u8]) -> bool {
    name == canonical || name == lower || name.eq_ignore_ascii_case(lower)
}

/// The fields of one head that framing and connection management read — Content-Length,
/// Transfer-Encoding, Connection and Upgrade — collected in one pass over its header fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramingFields {
    content_length: ContentLength,
    transfer_encoding: TransferEncoding,
    connection: ConnectionOptions,
    upgrade: bool,
}

impl FramingFields {
    /// Looks at one header field (name as received, any case).
    #[inline(always)]
    pub fn observe(&mut self, name: &[u8], value: &[u8]) {
        // Most fields are none of the four: their length tells at once, inline (this is
        // called for every field of every head).
        if matches!(name.len(), 7 | 10 | 14 | 17) {
            self.observe_candidate(name, value);
        }
    }

    /// [`observe`](Self::observe) for a name of the length of one of the four.
    #[inline(never)]
    fn observe_candidate(&mut self, name: &[u8], value: &[u8]) {
        // The first letter rules out most of the rest without a case-insensitive
        // comparison.
        let Some(&first) = name.first() else {
            return;
        };
        match (name.len(), first | 0x20) {
            (14, b'c') if is_name(name, b"Content-Length", b"content-length") => {
                self.content_length.add(value)
            }
            (17, b't') if is_name(name, b"Transfer-Encoding", b"transfer-encoding") => {
                self.transfer_encoding.add(value)
            }
            (10, b'c') if is_name(name, b"Connection", b"connection") => self.connection.add(value),
            (7, b'u') if is_name(name, b"Upgrade", b"upgrade") => self.upgrade = true,
            _ => {}
        }
    }

    /// The Connection options.
    pub fn connection(&self) -> ConnectionOptions {
        self.connection
    }

    /// Whether the head has an Upgrade field.
    pub fn upgrade(&self) -> bool {
        self.upgrade
    }

    /// Transfer-Encoding's verdict, with the rules common to both directions: `None`
    /// without the field, else whether `chunked` is the final coding.
    fn transfer_coding(&self, version: Version) -> Result<Option<bool>, FramingError> {
        if !self.transfer_encoding.is_present() {
            return Ok(None);
        }
        if self.content_length.is_present() {
            return Err(FramingError::ContentLengthAndTransferEncoding);
        }
        let te = |source| FramingError::TransferEncoding { source };
        let chunked = self.transfer_encoding.chunked().map_err(te)?;
        if version == Version::Http10 {
            return Err(te(TransferEncodingError::Http10));
        }
        Ok(Some(chunked))
    }

    /// The Content-Length, `None` without the field.
    fn content_length(&self) -> Result<Option<u64>, FramingError> {
        self.content_length
            .result()
            .transpose()
            .map_err(|source| FramingError::ContentLength { source })
    }

    /// The framing of a request body.
    pub fn request_framing(&self, version: Version) -> Result<Framing, FramingError> {
        match self.transfer_coding(version)? {
            Some(true) => return Ok(Framing::Chunked),
            Some(false) => {
                return Err(FramingError::TransferEncoding {
                    source: TransferEncodingError::RequestNotChunked,
                })
            }
            None => {}
        }
        Ok(match self.content_length()? {
            None | Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
        })
    }

    /// The framing of a response body that has one (not a response to HEAD, not 1xx, 204
    /// or 304: those have no body whatever their fields say, RFC 9112 §6.3).
    pub fn response_body(&self, version: Version) -> Result<ResponseBody, FramingError> {
        match self.transfer_coding(version)? {
            Some(true) => return Ok(ResponseBody::Chunked),
            Some(false) => return Ok(ResponseBody::UntilClose),
            None => {}
        }
        Ok(match self.content_length()? {
            Some(n) => ResponseBody::Length(n),
            None => ResponseBody::UntilClose,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(headers: &[(&str, &str)]) -> FramingFields {
        let mut f = FramingFields::default();
        for (n, v) in headers {
            f.observe(n.as_bytes(), v.as_bytes());
        }
        f
    }

    fn framing(headers: &[(&str, &str)], http10: bool) -> Result<Framing, FramingError> {
        let version = if http10 {
            Version::Http10
        } else {
            Version::Http11
        };
        fields(headers).request_framing(version)
    }

    const INVALID_CL: FramingError = FramingError::ContentLength {
        source: ContentLengthError::Invalid,
    };

    fn bad_te(source: TransferEncodingError) -> Result<Framing, FramingError> {
        Err(FramingError::TransferEncoding { source })
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(framing(&[], false), Ok(Framing::None));
        assert_eq!(
            framing(&[("Content-Length", "0")], false),
            Ok(Framing::None)
        );
        assert_eq!(
            framing(&[("content-length", " 12 ")], false),
            Ok(Framing::Length(12))
        );
        assert_eq!(
            framing(&[("Content-Length", "5, 5")], false),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Content-Length", "5")], false),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing(&[("Content-Length", "5"), ("Content-Length", "6")], false),
            Err(FramingError::ContentLength {
                source: ContentLengthError::Conflicting { first: 5, other: 6 }
            })
        );
        for bad in [
            "",
            "+5",
            "-1",
            "0x10",
            "5 5",
            "99999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(
                framing(&[("Content-Length", bad)], false),
                Err(INVALID_CL),
                "{bad}"
            );
        }
    }

    #[test]
    fn transfer_encoding_rules() {
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked")], false),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[("Transfer-Encoding", "gzip, Chunked")], false),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(
                &[
                    ("Transfer-Encoding", "gzip"),
                    ("Transfer-Encoding", "chunked")
                ],
                false
            ),
            Ok(Framing::Chunked)
        );
        for bad in ["gzip", "chunked;x=1", "", "xchunked"] {
            assert_eq!(
                framing(&[("Transfer-Encoding", bad)], false),
                bad_te(TransferEncodingError::RequestNotChunked),
                "{bad}"
            );
        }
        for bad in ["chunked, gzip", "chunked, chunked"] {
            assert_eq!(
                framing(&[("Transfer-Encoding", bad)], false),
                bad_te(TransferEncodingError::ChunkedNotLast),
                "{bad}"
            );
        }
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked")], true),
            bad_te(TransferEncodingError::Http10)
        );
        assert_eq!(
            framing(
                &[("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
                false
            ),
            Err(FramingError::ContentLengthAndTransferEncoding)
        );
        assert_eq!(
            framing(
                &[("Transfer-Encoding", "chunked"), ("Content-Length", "x")],
                false
            ),
            Err(FramingError::ContentLengthAndTransferEncoding)
        );
    }

    #[test]
    fn response_rules() {
        let body = |h: &[(&str, &str)]| fields(h).response_body(Version::Http11);
        assert_eq!(body(&[]), Ok(ResponseBody::UntilClose));
        assert_eq!(
            body(&[("Content-Length", "0")]),
            Ok(ResponseBody::Length(0))
        );
        assert_eq!(
            body(&[("Transfer-Encoding", "gzip")]),
            Ok(ResponseBody::UntilClose)
        );
        assert_eq!(
            body(&[("Transfer-Encoding", "gzip, chunked")]),
            Ok(ResponseBody::Chunked)
        );
        assert_eq!(
            body(&[("Transfer-Encoding", "chunked"), ("Content-Length", "3")]),
            Err(FramingError::ContentLengthAndTransferEncoding)
        );
        assert_eq!(
            fields(&[("Transfer-Encoding", "chunked")]).response_body(Version::Http10),
            Err(FramingError::TransferEncoding {
                source: TransferEncodingError::Http10
            })
        );
    }

    #[test]
    fn connection_and_upgrade() {
        let f = fields(&[("Connection", "Upgrade, close"), ("Upgrade", "websocket")]);
        assert!(f.upgrade());
        assert!(f.connection().close && f.connection().upgrade);
        assert!(!f.connection().persistent(Version::Http11));
    }
}
