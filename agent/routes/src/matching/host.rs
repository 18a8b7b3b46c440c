//! Hostname matching (Gateway API): exact or `*.` wildcard, case-insensitive, port ignored.

/// The host of a `Host` header value or authority: port removed (IPv6 literals keep their
/// brackets), lowercased, trailing dot removed.
pub fn normalize_host(raw: &str) -> String {
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
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `hostname` (a route or listener hostname, exact or `*.suffix`) matches `host`
/// (normalized). A wildcard matches one or more labels: `*.example.com` matches
/// `a.example.com` and `a.b.example.com`, never `example.com`.
pub fn hostname_matches(hostname: &str, host: &str) -> bool {
    match hostname.strip_prefix('*') {
        Some(suffix) => host.len() > suffix.len() && ends_with_ci(host, suffix),
        None => hostname.eq_ignore_ascii_case(host),
    }
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

/// Intersects a route's hostnames with one listener hostname (`None` = any).
/// Returns `None` when they share no host; `Some(vec![])` means any host.
pub fn intersect(route: &[String], listener: Option<&str>) -> Option<Vec<String>> {
    let Some(l) = listener else {
        return Some(route.to_vec());
    };
    if route.is_empty() {
        return Some(vec![l.to_ascii_lowercase()]);
    }
    let mut out = Vec::new();
    for r in route {
        let picked = match (r.starts_with('*'), l.starts_with('*')) {
            (false, false) => r.eq_ignore_ascii_case(l).then_some(r.as_str()),
            (false, true) => hostname_matches(l, r).then_some(r.as_str()),
            (true, false) => hostname_matches(r, l).then_some(l),
            (true, true) => {
                let (rs, ls) = (&r[1..], &l[1..]);
                if rs.len() >= ls.len() && ends_with_ci(rs, ls) {
                    Some(r.as_str())
                } else if ends_with_ci(ls, rs) {
                    Some(l)
                } else {
                    None
                }
            }
        };
        if let Some(p) = picked {
            let p = p.to_ascii_lowercase();
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.get(s.len() - suffix.len()..)
            .is_some_and(|t| t.eq_ignore_ascii_case(suffix))
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
    }

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

    #[test]
    fn intersections() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(intersect(&r(&[]), Some("*.ex.com")), Some(r(&["*.ex.com"])));
        assert_eq!(intersect(&r(&["a.ex.com"]), None), Some(r(&["a.ex.com"])));
        assert_eq!(
            intersect(&r(&["a.ex.com", "b.org"]), Some("*.ex.com")),
            Some(r(&["a.ex.com"]))
        );
        assert_eq!(
            intersect(&r(&["*.ex.com"]), Some("a.ex.com")),
            Some(r(&["a.ex.com"]))
        );
        assert_eq!(
            intersect(&r(&["*.a.ex.com"]), Some("*.ex.com")),
            Some(r(&["*.a.ex.com"]))
        );
        assert_eq!(
            intersect(&r(&["*.com"]), Some("*.ex.com")),
            Some(r(&["*.ex.com"]))
        );
        assert_eq!(intersect(&r(&["b.org"]), Some("*.ex.com")), None);
    }
}
