//! The view of a decoded request that matching needs.

use std::borrow::Cow;

use super::conditions::header_value;
use super::host::normalize_host;

/// A decoded HTTP/1.x request as matching sees it.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// Method as sent (e.g. `GET`).
    pub method: &'a str,
    /// Request target: origin-form (`/p?q`), absolute-form (`http://h/p?q`), authority-form
    /// or `*`.
    pub target: &'a str,
    /// Headers in order, names as sent.
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// A request split into the parts matching uses.
#[derive(Clone, Debug)]
pub struct ParsedRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// Normalized host (absolute-form authority, else the Host header); borrowed from the
    /// request unless normalizing changed it.
    pub host: Option<Cow<'a, str>>,
    /// Path without the query.
    pub path: &'a str,
    /// Query string without `?`.
    pub query: Option<&'a str>,
    /// Headers.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> ParsedRequest<'a> {
    /// Splits `req`.
    pub fn new(req: &RequestView<'a>) -> Self {
        let target = req.target;
        let (authority, rest) = match target.find("://") {
            Some(i) if !target.starts_with('/') => {
                let after = &target[i + 3..];
                match after.find(['/', '?']) {
                    Some(j) => (Some(&after[..j]), &after[j..]),
                    None => (Some(after), "/"),
                }
            }
            _ => (None, target),
        };
        let rest = rest.split('#').next().unwrap_or(rest);
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let path = if authority.is_some() && path.is_empty() {
            "/"
        } else {
            path
        };
        let host = match authority {
            Some(a) => Some(normalize_host(a)),
            None => match header_value(req.headers, "host") {
                Some(Cow::Borrowed(h)) => Some(normalize_host(h)),
                Some(Cow::Owned(h)) => Some(Cow::Owned(normalize_host(&h).into_owned())),
                None => None,
            },
        };
        Self {
            method: req.method,
            host,
            path,
            query,
            headers: req.headers,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origin_and_absolute_form() {
        let h: &[(&str, &[u8])] = &[("Host", b"Foo.example.com:8080")];
        let r = ParsedRequest::new(&RequestView {
            method: "GET",
            target: "/a/b?x=1",
            headers: h,
        });
        assert_eq!(
            (r.host.as_deref(), r.path, r.query),
            (Some("foo.example.com"), "/a/b", Some("x=1"))
        );
        let r = ParsedRequest::new(&RequestView {
            method: "GET",
            target: "http://bar.example.com:81?y=2",
            headers: h,
        });
        assert_eq!(
            (r.host.as_deref(), r.path, r.query),
            (Some("bar.example.com"), "/", Some("y=2"))
        );
        let r = ParsedRequest::new(&RequestView {
            method: "GET",
            target: "/",
            headers: &[],
        });
        assert_eq!(r.host, None);
    }
}
