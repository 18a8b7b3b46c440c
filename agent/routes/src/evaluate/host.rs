//! Matching a request's host against a rule's hostnames (exact or `*.` wildcard,
//! case-insensitive, port ignored), and how well it matches, for precedence.

use std::borrow::Cow;

use crate::model::hostname_matches;

/// The host of a `Host` header value or authority: port removed (IPv6 literals keep their
/// brackets), lowercased, trailing dot removed. Borrowed from `raw` unless it has
/// uppercase letters (no allocation for the usual lowercase host).
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    let raw = raw.trim();
    let raw = raw.rsplit_once('@').map_or(raw, |(_, h)| h);
    let host = if raw.starts_with('[') {
        match raw.find(']') {
            Some(end) => &raw[..=end],
            None => raw,
        }
    } else {
        match raw.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => raw,
        }
    };
    let host = host.trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// How specifically a listener hostname (`None` = any) matches a request host: exact
/// beats wildcard, longer beats shorter, any host comes last. `None` when it does not match.
pub fn listener_score(listener: Option<&str>, host: Option<&str>) -> Option<(u8, usize)> {
    let Some(l) = listener else {
        return Some((0, 0));
    };
    let host = host?;
    if !hostname_matches(l, host) {
        return None;
    }
    Some((if l.starts_with('*') { 1 } else { 2 }, l.len()))
}

/// How well a route's hostnames match a request host, for precedence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostScore {
    /// Characters of the matching non-wildcard hostname (0 if only a wildcard matched).
    pub exact_chars: usize,
    /// Characters of the longest matching hostname (wildcard or not).
    pub any_chars: usize,
}

/// Matches `host` against `hostnames`; an empty list matches any host with score 0.
/// `None` when no hostname matches (or the request has no host and hostnames are set).
pub fn best_host_match(hostnames: &[String], host: Option<&str>) -> Option<HostScore> {
    if hostnames.is_empty() {
        return Some(HostScore::default());
    }
    let host = host?;
    let mut best: Option<HostScore> = None;
    for h in hostnames.iter().filter(|h| hostname_matches(h, host)) {
        let score = HostScore {
            exact_chars: if h.starts_with('*') { 0 } else { h.len() },
            any_chars: h.len(),
        };
        best = Some(best.map_or(score, |b| b.max(score)));
    }
    best
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        assert_eq!(normalize_host("Foo.Example.com:8080"), "foo.example.com");
        assert_eq!(normalize_host("[::1]:80"), "[::1]");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("10.0.0.1"), "10.0.0.1");
        assert!(
            matches!(
                normalize_host("foo.example.com:8080"),
                Cow::Borrowed("foo.example.com")
            ),
            "a lowercase host is borrowed"
        );
        assert!(matches!(normalize_host("Foo.example.com"), Cow::Owned(_)));
    }

    #[test]
    fn scores() {
        let hs = vec!["*.example.com".to_owned(), "foo.example.com".to_owned()];
        let s = best_host_match(&hs, Some("foo.example.com")).unwrap();
        assert_eq!(s.exact_chars, 15);
        let s = best_host_match(&hs, Some("bar.example.com")).unwrap();
        assert_eq!((s.exact_chars, s.any_chars), (0, 13));
        assert_eq!(best_host_match(&hs, Some("example.org")), None);
        assert_eq!(best_host_match(&hs, None), None);
        assert_eq!(best_host_match(&[], None), Some(HostScore::default()));
    }
}
