//! A complete HTTP/2 request and the checks that make it one a server would process
//! (RFC 9113 §8.1–8.3).

use bytes::Bytes;

use crate::hpack::Field;

/// The request pseudo-header fields (RFC 9113 §8.3.1), values as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PseudoHeaders {
    /// `:method`.
    pub method: Bytes,
    /// `:scheme` (absent only for CONNECT).
    pub scheme: Option<Bytes>,
    /// `:authority`.
    pub authority: Option<Bytes>,
    /// `:path` (absent only for CONNECT).
    pub path: Option<Bytes>,
    /// `:protocol` (extended CONNECT, RFC 8441).
    pub protocol: Option<Bytes>,
}

/// One request of an HTTP/2 connection: its header block, body and trailers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H2Request {
    /// Stream identifier.
    pub stream_id: u32,
    /// Pseudo-header fields.
    pub pseudo: PseudoHeaders,
    /// Regular header fields in wire order (names lowercase, as HTTP/2 requires).
    pub headers: Vec<Field>,
    /// The DATA payloads, padding removed, concatenated.
    pub body: Bytes,
    /// Trailer fields in wire order (empty when the request had none).
    pub trailers: Vec<Field>,
}

impl H2Request {
    /// The values of the regular header fields named `name` (lowercase), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.headers
            .iter()
            .filter(move |f| f.name == name.as_bytes())
            .map(|f| &f.value)
    }
}

/// Why a header block does not make a request a server would process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// A pseudo-header after a regular field, twice, unknown, or in trailers.
    #[error("pseudo-header field misplaced, repeated or unknown")]
    PseudoHeader,
    /// `:method` missing, or `:scheme`/`:path` missing (or present on CONNECT).
    #[error("required pseudo-header field missing")]
    MissingPseudoHeader,
    /// A field name with uppercase or non-token characters, or empty.
    #[error("invalid field name")]
    FieldName,
    /// A field value with NUL, CR or LF, or leading/trailing whitespace.
    #[error("invalid field value")]
    FieldValue,
    /// A connection-specific field (`connection`, `keep-alive`, `proxy-connection`,
    /// `transfer-encoding`, `upgrade`), or `te` other than `trailers`.
    #[error("connection-specific header field")]
    ConnectionSpecific,
    /// `content-length` invalid, or different from the DATA received.
    #[error("content-length does not match the body")]
    ContentLength,
    /// A second header block without END_STREAM.
    #[error("trailers without END_STREAM")]
    TrailersWithoutEndStream,
}

/// Split a request header list into pseudo-headers and regular fields, checking every rule
/// of RFC 9113 §8.2 and §8.3.1.
pub fn parse_head(fields: Vec<Field>) -> Result<(PseudoHeaders, Vec<Field>), Malformed> {
    let mut pseudo = PseudoHeaders::default();
    let mut method = None;
    let mut regular = Vec::with_capacity(fields.len());
    for f in fields {
        if f.name.first() == Some(&b':') {
            if !regular.is_empty() {
                return Err(Malformed::PseudoHeader);
            }
            check_value(&f.value)?;
            let slot = match &f.name[..] {
                b":method" => &mut method,
                b":scheme" => &mut pseudo.scheme,
                b":authority" => &mut pseudo.authority,
                b":path" => &mut pseudo.path,
                b":protocol" => &mut pseudo.protocol,
                _ => return Err(Malformed::PseudoHeader),
            };
            if slot.replace(f.value).is_some() {
                return Err(Malformed::PseudoHeader);
            }
        } else {
            check_regular(&f)?;
            regular.push(f);
        }
    }
    pseudo.method = method.ok_or(Malformed::MissingPseudoHeader)?;
    if pseudo.method == "CONNECT" && pseudo.protocol.is_none() {
        if pseudo.scheme.is_some() || pseudo.path.is_some() || pseudo.authority.is_none() {
            return Err(Malformed::MissingPseudoHeader);
        }
    } else {
        match &pseudo.path {
            Some(p) if !p.is_empty() => {}
            _ => return Err(Malformed::MissingPseudoHeader),
        }
        if pseudo.scheme.is_none() {
            return Err(Malformed::MissingPseudoHeader);
        }
    }
    Ok((pseudo, regular))
}

/// Check a trailer list: regular fields only.
pub fn check_trailers(fields: &[Field]) -> Result<(), Malformed> {
    fields.iter().try_for_each(|f| {
        if f.name.first() == Some(&b':') {
            return Err(Malformed::PseudoHeader);
        }
        check_regular(f)
    })
}

/// The `content-length` of a request, if it has one; `Err` when it is not one decimal
/// number (repeated identical values are allowed, as RFC 9110 §8.6 lets a recipient accept).
pub fn content_length(headers: &[Field]) -> Result<Option<u64>, Malformed> {
    let mut found: Option<u64> = None;
    for f in headers.iter().filter(|f| f.name == "content-length") {
        let s = std::str::from_utf8(&f.value).map_err(|_| Malformed::ContentLength)?;
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Malformed::ContentLength);
        }
        let n: u64 = s.parse().map_err(|_| Malformed::ContentLength)?;
        if found.is_some_and(|v| v != n) {
            return Err(Malformed::ContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

fn check_regular(f: &Field) -> Result<(), Malformed> {
    if f.name.is_empty() || !f.name.iter().all(|&b| is_lower_tchar(b)) {
        return Err(Malformed::FieldName);
    }
    check_value(&f.value)?;
    match &f.name[..] {
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade" => {
            Err(Malformed::ConnectionSpecific)
        }
        b"te" if f.value != "trailers" => Err(Malformed::ConnectionSpecific),
        _ => Ok(()),
    }
}

fn check_value(v: &[u8]) -> Result<(), Malformed> {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    if v.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
        || v.first().is_some_and(ws)
        || v.last().is_some_and(ws)
    {
        return Err(Malformed::FieldValue);
    }
    Ok(())
}

/// A token character (RFC 9110 §5.6.2) that is not an uppercase letter.
fn is_lower_tchar(b: u8) -> bool {
    matches!(b,
        b'a'..=b'z' | b'0'..=b'9' | b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+'
        | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(n: &'static str, v: &'static str) -> Field {
        Field::new(n.as_bytes(), v.as_bytes())
    }

    fn get() -> Vec<Field> {
        vec![
            f(":method", "GET"),
            f(":scheme", "http"),
            f(":authority", "a.example"),
            f(":path", "/x?y=1"),
            f("accept", "*/*"),
        ]
    }

    #[test]
    fn valid_get() {
        let (p, h) = parse_head(get()).expect("valid");
        assert_eq!(p.method, "GET");
        assert_eq!(p.path.as_deref(), Some(&b"/x?y=1"[..]));
        assert_eq!(h, vec![f("accept", "*/*")]);
    }

    #[test]
    fn every_malformation() {
        let cases: Vec<(Vec<Field>, Malformed)> = vec![
            (
                vec![f(":method", "GET"), f("a", "b"), f(":path", "/")],
                Malformed::PseudoHeader,
            ),
            (
                [get(), vec![f(":path", "/again")]].concat(),
                Malformed::PseudoHeader,
            ),
            (
                [vec![f(":status", "200")], get()].concat(),
                Malformed::PseudoHeader,
            ),
            (get()[1..].to_vec(), Malformed::MissingPseudoHeader),
            (
                vec![f(":method", "GET"), f(":scheme", "http")],
                Malformed::MissingPseudoHeader,
            ),
            (
                vec![f(":method", "GET"), f(":scheme", "http"), f(":path", "")],
                Malformed::MissingPseudoHeader,
            ),
            (
                [get(), vec![f("Accept", "x")]].concat(),
                Malformed::FieldName,
            ),
            ([get(), vec![f("a b", "x")]].concat(), Malformed::FieldName),
            (
                [get(), vec![f("x", "a\r\nb")]].concat(),
                Malformed::FieldValue,
            ),
            ([get(), vec![f("x", " a")]].concat(), Malformed::FieldValue),
            (
                [get(), vec![f("connection", "close")]].concat(),
                Malformed::ConnectionSpecific,
            ),
            (
                [get(), vec![f("te", "gzip")]].concat(),
                Malformed::ConnectionSpecific,
            ),
        ];
        for (fields, want) in cases {
            assert_eq!(
                parse_head(fields.clone()).err(),
                Some(want),
                "fields {fields:?}"
            );
        }
        assert!(parse_head([get(), vec![f("te", "trailers")]].concat()).is_ok());
    }

    #[test]
    fn connect_needs_authority_only() {
        let ok = vec![f(":method", "CONNECT"), f(":authority", "h:443")];
        assert!(parse_head(ok).is_ok());
        let bad = vec![
            f(":method", "CONNECT"),
            f(":authority", "h:443"),
            f(":path", "/"),
        ];
        assert_eq!(parse_head(bad).err(), Some(Malformed::MissingPseudoHeader));
    }

    #[test]
    fn content_length_rules() {
        assert_eq!(content_length(&get()), Ok(None));
        assert_eq!(
            content_length(&[f("content-length", "12"), f("content-length", "12")]),
            Ok(Some(12))
        );
        for bad in ["", "1 2", "-1", "+1", "99999999999999999999999"] {
            assert!(
                content_length(&[f("content-length", bad)]).is_err(),
                "{bad}"
            );
        }
        assert!(content_length(&[f("content-length", "1"), f("content-length", "2")]).is_err());
    }

    #[test]
    fn trailers_are_regular_fields() {
        assert!(check_trailers(&[f("grpc-status", "0")]).is_ok());
        assert_eq!(
            check_trailers(&[f(":path", "/")]),
            Err(Malformed::PseudoHeader)
        );
    }
}
