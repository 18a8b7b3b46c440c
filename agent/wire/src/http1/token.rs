//! Tokens, optional whitespace and comma-separated lists (RFC 9110 §5.6).

/// Whether `b` is a token character (`tchar`, RFC 9110 §5.6.2).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a non-empty token (a method or a field name).
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `s` without leading and trailing optional whitespace (SP and HTAB).
pub fn trim_ows(s: &[u8]) -> &[u8] {
    let ows = |b: &u8| matches!(b, b' ' | b'\t');
    let start = s.iter().position(|b| !ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ows(b)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1), trimmed of OWS.
pub fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Whether the comma-separated list `value` holds `token`, ignoring ASCII case.
pub fn list_has(value: &[u8], token: &[u8]) -> bool {
    list_elements(value).any(|e| e.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_lists() {
        assert!(is_token(b"X-Shadowtap-Mirrored"));
        assert!(!is_token(b""));
        assert!(!is_token(b"a:b"));
        assert!(!is_token(b"bad name"));
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"  \t "), b"");
        assert!(list_has(b"keep-alive, Close", b"close"));
        assert!(!list_has(b"closed", b"close"));
        assert_eq!(
            list_elements(b" a ,, b,").collect::<Vec<_>>(),
            vec![&b"a"[..], b"b"]
        );
    }
}
