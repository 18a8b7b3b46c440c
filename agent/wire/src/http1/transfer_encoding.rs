//! Transfer-Encoding (RFC 9112 §6.1): the codings applied to the content, in order. A
//! sender applies `chunked` at most once, and last.

use super::token::list_elements;

/// Why the Transfer-Encoding of a message cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferEncodingError {
    /// A coding follows `chunked` (another coding, or `chunked` again).
    #[error("a transfer coding follows chunked")]
    ChunkedNotLast,
    /// Transfer-Encoding on an HTTP/1.0 message, whose framing is then faulty (§6.1).
    #[error("Transfer-Encoding on an HTTP/1.0 message")]
    Http10,
    /// A request whose final coding is not `chunked`: its length cannot be determined.
    #[error("the final transfer coding of a request is not chunked")]
    RequestNotChunked,
}

/// The Transfer-Encoding field lines of one message, accumulated (several lines form one
/// list).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferEncoding {
    present: bool,
    chunked_last: bool,
    chunked_not_last: bool,
}

impl TransferEncoding {
    /// Takes the value of one Transfer-Encoding field line.
    pub fn add(&mut self, value: &[u8]) {
        self.present = true;
        for coding in list_elements(value) {
            if self.chunked_last {
                self.chunked_not_last = true;
            }
            self.chunked_last = coding.eq_ignore_ascii_case(b"chunked");
        }
    }

    /// Whether the message has a Transfer-Encoding field.
    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Whether `chunked` is the final coding (and appears only there). `Ok(false)`: the
    /// final coding is another one, or the field names none.
    pub fn chunked(&self) -> Result<bool, TransferEncodingError> {
        if self.chunked_not_last {
            return Err(TransferEncodingError::ChunkedNotLast);
        }
        Ok(self.chunked_last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn te(values: &[&str]) -> Result<bool, TransferEncodingError> {
        let mut t = TransferEncoding::default();
        for v in values {
            t.add(v.as_bytes());
        }
        assert!(t.is_present() || values.is_empty());
        t.chunked()
    }

    #[test]
    fn rules() {
        assert_eq!(te(&["chunked"]), Ok(true));
        assert_eq!(te(&["gzip, Chunked"]), Ok(true));
        assert_eq!(te(&["gzip", "chunked"]), Ok(true));
        assert_eq!(te(&["gzip"]), Ok(false));
        assert_eq!(te(&[""]), Ok(false));
        assert_eq!(te(&["xchunked"]), Ok(false));
        assert_eq!(te(&["chunked;x=1"]), Ok(false));
        for bad in [
            &["chunked, gzip"][..],
            &["chunked, chunked"],
            &["chunked", "gzip"],
        ] {
            assert_eq!(
                te(bad),
                Err(TransferEncodingError::ChunkedNotLast),
                "{bad:?}"
            );
        }
    }
}
