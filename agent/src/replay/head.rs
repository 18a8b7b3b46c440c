//! Scanning a raw HTTP/1.x request head into its lines, without copying or normalising.

use std::ops::Range;

use super::error::RequestError;

/// One header field of a raw head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    /// The field name (without the colon).
    pub name: Range<usize>,
    /// All bytes of the field: its line, any obsolete continuation lines, and line endings.
    pub lines: Range<usize>,
}

/// The layout of a raw request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The request line with its line ending.
    pub request_line: Range<usize>,
    /// The method token.
    pub method: Range<usize>,
    /// Whether the version is `HTTP/1.0`.
    pub http10: bool,
    /// The header fields in order.
    pub fields: Vec<Field>,
    /// The empty line that ends the head (`CRLF` or a bare `LF`).
    pub blank: Range<usize>,
}

impl Layout {
    /// The value of `field`, without surrounding whitespace and line endings.
    pub fn value<'a>(&self, head: &'a [u8], field: &Field) -> &'a [u8] {
        let start = (field.name.end + 1).min(field.lines.end);
        trim(&head[start..field.lines.end])
    }

    /// Whether `field`'s name equals `name`, ignoring ASCII case.
    pub fn is_named(&self, head: &[u8], field: &Field, name: &str) -> bool {
        head[field.name.clone()].eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Whether `b` is an HTTP token character (RFC 9110 `tchar`).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a non-empty HTTP token.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `s` without leading and trailing spaces, tabs, CR and LF.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |p| p + 1);
    &s[start..end.max(start)]
}

/// Whether a comma-separated header value holds `token` (ASCII case-insensitive).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token.as_bytes()))
}

fn find_lf(head: &[u8], from: usize) -> Option<usize> {
    head[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| from + p)
}

/// Scans a complete head: request line, fields, and the empty line, which must be last.
pub(crate) fn scan(head: &[u8]) -> Result<Layout, RequestError> {
    let incomplete = RequestError::Incomplete { len: head.len() };
    let first_lf = find_lf(head, 0).ok_or(incomplete.clone())?;
    let (method, http10) = request_line(&head[..first_lf])?;
    let mut fields: Vec<Field> = Vec::new();
    let mut pos = first_lf + 1;
    loop {
        let rest = head
            .get(pos..)
            .filter(|r| !r.is_empty())
            .ok_or(incomplete.clone())?;
        let blank_len = if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            0
        };
        if blank_len > 0 {
            let end = pos + blank_len;
            if end != head.len() {
                return Err(RequestError::TrailingBytes {
                    extra: head.len() - end,
                });
            }
            return Ok(Layout {
                request_line: 0..first_lf + 1,
                method,
                http10,
                fields,
                blank: pos..end,
            });
        }
        let lf = find_lf(head, pos).ok_or(incomplete.clone())?;
        if matches!(rest[0], b' ' | b'\t') {
            // Obsolete line folding: the line continues the previous field.
            let prev = fields
                .last_mut()
                .ok_or(RequestError::BadHeader { offset: pos })?;
            prev.lines.end = lf + 1;
        } else {
            let colon = head[pos..lf]
                .iter()
                .position(|&b| b == b':')
                .ok_or(RequestError::BadHeader { offset: pos })?;
            if !is_token(&head[pos..pos + colon]) {
                return Err(RequestError::BadHeader { offset: pos });
            }
            fields.push(Field {
                name: pos..pos + colon,
                lines: pos..lf + 1,
            });
        }
        pos = lf + 1;
    }
}

/// Checks `METHOD SP target SP HTTP/1.x`; returns the method range and whether it is 1.0.
fn request_line(line: &[u8]) -> Result<(Range<usize>, bool), RequestError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let sp1 = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(RequestError::BadRequestLine)?;
    let sp2 = line
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(RequestError::BadRequestLine)?;
    if sp2 <= sp1 + 1 || !is_token(&line[..sp1]) {
        return Err(RequestError::BadRequestLine);
    }
    let http10 = match &line[sp2 + 1..] {
        b"HTTP/1.0" => true,
        b"HTTP/1.1" => false,
        _ => return Err(RequestError::BadRequestLine),
    };
    Ok((0..sp1, http10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_fields_in_order() {
        let head = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  1 \r\n\r\n";
        let l = scan(head).expect("valid");
        assert_eq!(&head[l.method.clone()], b"GET");
        assert!(!l.http10);
        assert_eq!(l.fields.len(), 2);
        assert_eq!(&head[l.fields[0].name.clone()], b"Host");
        assert_eq!(l.value(head, &l.fields[1]), b"1");
        assert_eq!(l.blank, head.len() - 2..head.len());
    }

    #[test]
    fn bare_lf_and_folding() {
        let head = b"POST / HTTP/1.0\nA: 1\n  2\nB: 3\n\n";
        let l = scan(head).expect("valid");
        assert!(l.http10);
        assert_eq!(l.fields.len(), 2);
        assert_eq!(&head[l.fields[0].lines.clone()], b"A: 1\n  2\n");
    }

    #[test]
    fn rejects_bad_heads() {
        assert!(matches!(
            scan(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Err(RequestError::Incomplete { .. })
        ));
        assert!(matches!(
            scan(b"GET / HTTP/1.1\r\n\r\nx"),
            Err(RequestError::TrailingBytes { extra: 1 })
        ));
        assert_eq!(
            scan(b"GET / HTTP/2\r\n\r\n"),
            Err(RequestError::BadRequestLine)
        );
        assert_eq!(
            scan(b"GET HTTP/1.1\r\n\r\n"),
            Err(RequestError::BadRequestLine)
        );
        assert!(matches!(
            scan(b"GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n"),
            Err(RequestError::BadHeader { .. })
        ));
        assert!(matches!(
            scan(b"GET / HTTP/1.1\r\n folded\r\n\r\n"),
            Err(RequestError::BadHeader { .. })
        ));
    }

    #[test]
    fn tokens() {
        assert!(has_token(b"keep-alive, Close", "close"));
        assert!(!has_token(b"closed", "close"));
        assert_eq!(trim(b"  \t "), b"");
    }
}
