//! What a route or listener hostname denotes (Gateway API): an exact host, or `*.` and a
//! suffix. Listener narrowing (compile) and request matching (evaluate) both use this rule.

/// Whether `hostname` (a route or listener hostname, exact or `*.suffix`) matches `host`
/// (normalized). A wildcard matches one or more labels: `*.example.com` matches
/// `a.example.com` and `a.b.example.com`, never `example.com`. Case-insensitive.
pub fn hostname_matches(hostname: &str, host: &str) -> bool {
    match hostname.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && ends_with_ci(host, suffix),
        None => hostname.eq_ignore_ascii_case(host),
    }
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.get(s.len() - suffix.len()..)
            .is_some_and(|t| t.eq_ignore_ascii_case(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let cases = [
            ("foo.example.com", "foo.example.com", true),
            ("FOO.example.com", "foo.example.com", true),
            ("foo.example.com", "bar.example.com", false),
            ("*.example.com", "foo.example.com", true),
            ("*.example.com", "a.b.example.com", true),
            ("*.example.com", "example.com", false),
            ("*.example.com", ".example.com", false),
            ("*.example.com", "fooexample.com", false),
            ("*.EXAMPLE.com", "foo.example.com", true),
        ];
        for (pattern, host, want) in cases {
            assert_eq!(hostname_matches(pattern, host), want, "{pattern} vs {host}");
        }
    }
}
