//! Byte scans over HTTP/1 heads: where a head ends (CRLF CRLF) and which line endings it
//! uses.

use std::sync::LazyLock;

static LF_CR: LazyLock<memchr::memmem::Finder<'static>> =
    LazyLock::new(|| memchr::memmem::Finder::new(b"\n\r"));

/// Offset just past the first CRLF CRLF of `buf`. Searching for the pair LF CR (which in a
/// head occurs only at the empty line) lets the SIMD prefilter skip ordinary line ends.
#[inline]
pub fn find_crlfcrlf(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = LF_CR.find(&buf[from..]) {
        let at = from + i;
        if at >= 1 && buf[at - 1] == b'\r' && buf.get(at + 2) == Some(&b'\n') {
            return Some(at + 3);
        }
        from = at + 1;
    }
    None
}

/// Offset just past the last CRLF CRLF of `buf`.
#[inline]
pub fn rfind_crlfcrlf(buf: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'\n', buf)
        .find(|&i| i >= 3 && &buf[i - 3..=i] == b"\r\n\r\n")
        .map(|i| i + 1)
}

/// Bytes of `data` up to and including the first CRLF CRLF (the end of a head), given the
/// last bytes before it (`tail`, at most 3 are looked at). A head ended by bare LFs is not
/// found here.
#[inline]
pub fn head_end(tail: &[u8], data: &[u8]) -> Option<usize> {
    let mut w = [0u8; 6];
    let t = &tail[tail.len().saturating_sub(3)..];
    let d = &data[..data.len().min(3)];
    w[..t.len()].copy_from_slice(t);
    w[t.len()..t.len() + d.len()].copy_from_slice(d);
    let w = &w[..t.len() + d.len()];
    for k in 0..w.len() {
        if w[k..].starts_with(b"\r\n\r\n") && k + 4 > t.len() {
            return Some(k + 4 - t.len());
        }
    }
    find_crlfcrlf(data)
}

/// Whether some LF of `head` is not preceded by CR.
pub fn has_bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r')
}

/// Whether a line of `head` after the first begins with whitespace (obsolete line folding).
pub fn has_obs_fold(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|i| matches!(head.get(i + 1), Some(b' ' | b'\t')))
}

/// Whether the line whose content ends at `at` ends in CRLF (after optional trailing
/// whitespace). httparse accepts a bare LF wherever a line ends; checking the end of the
/// start line, of each header line and of the head (CRLF CRLF) finds every bare LF without
/// scanning the whole head.
#[inline]
pub fn line_ends_crlf(head: &[u8], mut at: usize) -> bool {
    while matches!(head.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    head.get(at..at + 2) == Some(b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_ends() {
        assert_eq!(head_end(b"", b"GET / HTTP/1.1\r\n\r\nabc"), Some(18));
        assert_eq!(head_end(b"a\r\n", b"\r\nabc"), Some(2));
        assert_eq!(head_end(b"\r\n\r", b"\nabc"), Some(1));
        assert_eq!(head_end(b"x\n", b"\nabc"), None, "bare LF");
        assert_eq!(head_end(b"\r", b"\n\r\nabc"), Some(3));
        assert_eq!(find_crlfcrlf(b"a\n\rb\r\n\r\n"), Some(8));
        assert_eq!(find_crlfcrlf(b"\n\r\n"), None);
        assert_eq!(rfind_crlfcrlf(b"a\r\n\r\nb\r\n\r\nc\n\r"), Some(10));
        assert_eq!(rfind_crlfcrlf(b"\r\n\r\n"), Some(4));
        assert_eq!(rfind_crlfcrlf(b"\n\r\n\r"), None);
        assert_eq!(rfind_crlfcrlf(b""), None);
        assert_eq!(head_end(b"", b"\n"), None);
        assert_eq!(head_end(b"", b"a\r\nb\r\n"), None);
    }

    #[test]
    fn line_endings() {
        assert!(!has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\nHost: a\r\n\r\n"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\r\n\n"));
        assert!(has_obs_fold(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"));
        assert!(!has_obs_fold(b"GET / HTTP/1.1\r\nX: a b\r\n\r\n"));
        assert!(line_ends_crlf(b"X: a \t\r\n", 4));
        assert!(!line_ends_crlf(b"X: a\n", 4));
        assert!(!line_ends_crlf(b"X: a", 4));
    }
}
