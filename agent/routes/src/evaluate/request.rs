//! The view of a decoded request that matching needs.

use std::borrow::Cow;
use std::cell::OnceCell;

use super::conditions::header_value;
use super::host::normalize_host;

/// The protocol a request arrived in. GRPCRoute rules match HTTP/2 requests only (gRPC runs
/// over HTTP/2); HTTPRoute rules match both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestProtocol {
    /// HTTP/1.0 or HTTP/1.1.
    #[default]
    Http1,
    /// HTTP/2 (h2c).
    Http2,
}

/// A decoded request as matching sees it (an HTTP/2 request with `:method` as the method,
/// `:path` as the target and `:authority` as the Host field).
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// The protocol it arrived in.
    pub protocol: RequestProtocol,
    /// Method as sent (e.g. `GET`).
    pub method: &'a str,
    /// Request target: origin-form (`/p?q`), absolute-form (`http://h/p?q`), authority-form
    /// or `*`.
    pub target: &'a str,
    /// Headers in order, names as sent (bytes: matching compares them ASCII
    /// case-insensitively, so they need no UTF-8 validation per request).
    pub headers: &'a [(&'a [u8], &'a [u8])],
}

/// A request split into the parts matching uses.
#[derive(Clone, Debug)]
pub struct ParsedRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// The absolute-form target's authority, if any (it gives the host).
    authority: Option<&'a str>,
    /// The normalized host, worked out on first use ([`ParsedRequest::host`]): most rules
    /// (no hostnames, Service parents, lone listeners) never read it.
    host: OnceCell<Option<Cow<'a, str>>>,
    /// Path without the query.
    pub path: &'a str,
    /// Query string without `?`.
    pub query: Option<&'a str>,
    /// Headers.
    pub headers: &'a [(&'a [u8], &'a [u8])],
    /// The gRPC `(service, method)` of an HTTP/2 `POST` to `/service/method`; `None` for
    /// every other request (GRPCRoute rules never match those).
    pub grpc: Option<(&'a str, &'a str)>,
}

/// The gRPC service and method of a request path `/service/method` (both non-empty, no
/// other `/`).
fn grpc_call(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

impl<'a> ParsedRequest<'a> {
    /// Splits `req`.
    pub fn new(req: &RequestView<'a>) -> Self {
        let target = req.target;
        let absolute = if target.starts_with('/') {
            None
        } else {
            target.find("://")
        };
        let (authority, rest) = match absolute {
            Some(i) => {
                let after = &target[i + 3..];
                match after.find(['/', '?']) {
                    Some(j) => (Some(&after[..j]), &after[j..]),
                    None => (Some(after), "/"),
                }
            }
            None => (None, target),
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
        let grpc = (req.protocol == RequestProtocol::Http2
            && req.method == "POST"
            && authority.is_none()
            && query.is_none())
        .then(|| grpc_call(path))
        .flatten();
        Self {
            method: req.method,
            authority,
            host: OnceCell::new(),
            path,
            query,
            headers: req.headers,
            grpc,
        }
    }
}

impl<'a> ParsedRequest<'a> {
    /// Normalized host (absolute-form authority, else the Host header); borrowed from the
    /// request unless normalizing changed it.
    pub fn host(&self) -> Option<&str> {
        self.host
            .get_or_init(|| match self.authority {
                Some(a) => Some(normalize_host(a)),
                None => match header_value(self.headers, "host") {
                    Some(Cow::Borrowed(h)) => Some(normalize_host(h)),
                    Some(Cow::Owned(h)) => Some(Cow::Owned(normalize_host(&h).into_owned())),
                    None => None,
                },
            })
            .as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn origin_and_absolute_form() {
        let h: &[(&[u8], &[u8])] = &[(b"Host", b"Foo.example.com:8080")];
        let r = ParsedRequest::new(&RequestView {
            protocol: RequestProtocol::Http1,
            method: "GET",
            target: "/a/b?x=1",
            headers: h,
        });
        assert_eq!(
            (r.host(), r.path, r.query),
            (Some("foo.example.com"), "/a/b", Some("x=1"))
        );
        let r = ParsedRequest::new(&RequestView {
            protocol: RequestProtocol::Http1,
            method: "GET",
            target: "http://bar.example.com:81?y=2",
            headers: h,
        });
        assert_eq!(
            (r.host(), r.path, r.query),
            (Some("bar.example.com"), "/", Some("y=2"))
        );
        let r = ParsedRequest::new(&RequestView {
            protocol: RequestProtocol::Http1,
            method: "GET",
            target: "/",
            headers: &[],
        });
        assert_eq!(r.host(), None);
    }

    #[test]
    fn grpc_calls() {
        let parse = |protocol, method, target| {
            ParsedRequest::new(&RequestView {
                protocol,
                method,
                target,
                headers: &[],
            })
            .grpc
        };
        let h2 = RequestProtocol::Http2;
        assert_eq!(parse(h2, "POST", "/pkg.Svc/Get"), Some(("pkg.Svc", "Get")));
        assert_eq!(parse(RequestProtocol::Http1, "POST", "/pkg.Svc/Get"), None);
        assert_eq!(parse(h2, "GET", "/pkg.Svc/Get"), None);
        for target in [
            "/pkg.Svc",
            "/pkg.Svc/",
            "//Get",
            "/a/b/c",
            "/pkg.Svc/Get?x=1",
            "*",
        ] {
            assert_eq!(parse(h2, "POST", target), None, "{target}");
        }
    }

    proptest::proptest! {
        /// Any `/service/method` with non-empty parts and no other `/` is a call with
        /// exactly those parts; any other string is either not a call or splits into parts
        /// that rebuild it.
        #[test]
        fn grpc_paths(service in "[^/?]{1,20}", method in "[^/?]{1,20}", any in ".{0,40}") {
            let path = format!("/{service}/{method}");
            proptest::prop_assert_eq!(grpc_call(&path), Some((service.as_str(), method.as_str())));
            if let Some((s, m)) = grpc_call(&any) {
                proptest::prop_assert!(!s.is_empty() && !m.is_empty() && !m.contains('/'));
                proptest::prop_assert_eq!(format!("/{s}/{m}"), any);
            }
        }
    }
}
