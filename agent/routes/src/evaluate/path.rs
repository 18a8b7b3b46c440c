//! Path matching (Gateway API): Exact, PathPrefix (element-wise), RegularExpression.

use crate::model::PathMatch;

/// Whether the request path (without query) matches.
///
/// PathPrefix compares whole `/`-separated elements: `/abc` matches `/abc`, `/abc/` and
/// `/abc/d`, never `/abcd`; a trailing `/` of the prefix is ignored, and `/` matches all.
/// Exact compares the whole path (`/abc` does not match `/abc/`). Regular expressions must
/// match the whole path.
pub fn path_matches(m: &PathMatch, path: &str) -> bool {
    match m {
        PathMatch::Exact(v) => path == v,
        PathMatch::Prefix(v) => prefix_matches(v, path),
        PathMatch::RegularExpression(re) => re.is_full_match(path),
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.starts_with('/');
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Pattern;

    #[test]
    fn table() {
        let p = |s: &str| PathMatch::Prefix(s.into());
        let e = |s: &str| PathMatch::Exact(s.into());
        let cases = [
            (p("/"), "/", true),
            (p("/"), "/anything/at/all", true),
            (p("/abc"), "/abc", true),
            (p("/abc"), "/abc/", true),
            (p("/abc"), "/abc/d", true),
            (p("/abc"), "/abcd", false),
            (p("/abc/"), "/abc", true),
            (p("/abc/"), "/abc/x", true),
            (p("/abc/"), "/abcx", false),
            (p("/a/b"), "/a", false),
            (e("/abc"), "/abc", true),
            (e("/abc"), "/abc/", false),
            (e("/abc/"), "/abc", false),
            (e("/abc"), "/ABC", false),
        ];
        for (m, path, want) in cases {
            assert_eq!(path_matches(&m, path), want, "{m:?} vs {path}");
        }
        let re = PathMatch::RegularExpression(Pattern::new("/v[0-9]+/.*").unwrap());
        assert!(path_matches(&re, "/v1/x"));
        assert!(!path_matches(&re, "/api/v1/x"));
    }
}
