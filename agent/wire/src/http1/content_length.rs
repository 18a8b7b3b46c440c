//! Content-Length (RFC 9110 §8.6, RFC 9112 §6.3): a comma-separated list of decimal values
//! that must all be equal. A value that is not a decimal number of at most 19 digits, or a
//! second value that differs, makes the framing of the message untrustworthy.

/// Why the Content-Length of a message cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContentLengthError {
    /// An element is empty, not decimal, longer than 19 digits or overflows 64 bits.
    #[error("Content-Length is not a decimal number of at most 19 digits")]
    Invalid,
    /// Two elements (in one field or in several) differ.
    #[error("Content-Length values differ ({first} and {other})")]
    Conflicting {
        /// The first value seen.
        first: u64,
        /// A later value that differs.
        other: u64,
    },
}

/// The Content-Length field lines of one message, accumulated. The first error wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContentLength {
    value: Option<u64>,
    error: Option<ContentLengthError>,
}

impl ContentLength {
    /// Takes the value of one Content-Length field line.
    pub fn add(&mut self, value: &[u8]) {
        // The usual value, one number, without splitting a list.
        if let Some(n) = parse_decimal(value) {
            self.element(Some(n));
            return;
        }
        for element in value.split(|&b| b == b',') {
            self.element(parse_decimal(super::token::trim_ows(element)));
        }
    }

    /// Takes one element of the list (`None`: not a valid number).
    fn element(&mut self, n: Option<u64>) {
        match (n, self.value) {
            (None, _) => {
                self.error.get_or_insert(ContentLengthError::Invalid);
            }
            (Some(n), Some(first)) if n != first => {
                self.error
                    .get_or_insert(ContentLengthError::Conflicting { first, other: n });
            }
            (Some(n), _) => self.value = Some(n),
        }
    }

    /// Whether the message has a Content-Length field (valid or not).
    pub fn is_present(&self) -> bool {
        self.value.is_some() || self.error.is_some()
    }

    /// The length, `None` without a Content-Length field.
    pub fn result(&self) -> Option<Result<u64, ContentLengthError>> {
        match (self.error, self.value) {
            (Some(e), _) => Some(Err(e)),
            (None, Some(n)) => Some(Ok(n)),
            (None, None) => None,
        }
    }
}

/// A decimal number of 1 to 19 ASCII digits that fits in 64 bits.
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cl(values: &[&str]) -> Option<Result<u64, ContentLengthError>> {
        let mut c = ContentLength::default();
        for v in values {
            c.add(v.as_bytes());
        }
        c.result()
    }

    #[test]
    fn rules() {
        assert_eq!(cl(&[]), None);
        assert_eq!(cl(&[" 12 "]), Some(Ok(12)));
        assert_eq!(cl(&["5, 5"]), Some(Ok(5)));
        assert_eq!(cl(&["5", "5"]), Some(Ok(5)));
        assert_eq!(
            cl(&["5", "6"]),
            Some(Err(ContentLengthError::Conflicting { first: 5, other: 6 }))
        );
        assert_eq!(
            cl(&["5", "x", "6"]),
            Some(Err(ContentLengthError::Invalid)),
            "the first error wins"
        );
        for bad in [
            "",
            "5,",
            "+5",
            "-1",
            "0x10",
            "5 5",
            "99999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(cl(&[bad]), Some(Err(ContentLengthError::Invalid)), "{bad}");
        }
        assert_eq!(
            parse_decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
    }
}
