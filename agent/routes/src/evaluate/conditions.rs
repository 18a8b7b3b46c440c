//! Whether one match entry holds for a request: method, path, headers and query
//! parameters, all of them (ANDed).

use std::borrow::Cow;

use super::path::path_matches;
use super::request::ParsedRequest;
use crate::model::{GrpcRouteMatch, NameValueMatch, RouteMatch};

/// Whether every condition of the entry `m` holds for `req`.
pub fn entry_matches(m: &RouteMatch, req: &ParsedRequest<'_>) -> bool {
    m.method
        .as_deref()
        .is_none_or(|method| method == req.method)
        && path_matches(&m.path, req.path)
        && headers_match(&m.headers, req.headers)
        && query_matches(&m.query_params, req.query)
}

/// Whether every condition of the GRPCRoute entry `m` holds for `req`: it is a gRPC call
/// (an HTTP/2 `POST` to `/service/method`) and its service, method and headers match.
pub fn grpc_entry_matches(m: &GrpcRouteMatch, req: &ParsedRequest<'_>) -> bool {
    let Some((service, method)) = req.grpc else {
        return false;
    };
    m.service.as_ref().is_none_or(|s| s.matches(service))
        && m.method.as_ref().is_none_or(|x| x.matches(method))
        && headers_match(&m.headers, req.headers)
}

/// The value of header `name` (case-insensitive): several occurrences are joined with `,`
/// as RFC 9110 allows; `None` when absent or not UTF-8. A single occurrence is borrowed
/// (no allocation on the per-request path).
pub fn header_value<'a>(headers: &[(&[u8], &'a [u8])], name: &str) -> Option<Cow<'a, str>> {
    let mut out: Option<Cow<'a, str>> = None;
    for (n, v) in headers {
        if n.eq_ignore_ascii_case(name.as_bytes()) {
            let v = std::str::from_utf8(v).ok()?.trim();
            match &mut out {
                Some(s) => {
                    let s = s.to_mut();
                    s.push(',');
                    s.push_str(v);
                }
                None => out = Some(Cow::Borrowed(v)),
            }
        }
    }
    out
}

/// The first value of query parameter `name` (case-sensitive, not percent-decoded).
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether every header match holds.
fn headers_match(matches: &[NameValueMatch], headers: &[(&[u8], &[u8])]) -> bool {
    matches
        .iter()
        .all(|m| header_value(headers, &m.name).is_some_and(|v| m.value.matches(&v)))
}

/// Whether every query parameter match holds.
fn query_matches(matches: &[NameValueMatch], query: Option<&str>) -> bool {
    matches
        .iter()
        .all(|m| query_value(query, &m.name).is_some_and(|v| m.value.matches(v)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Pattern, ValueMatch};

    #[test]
    fn headers() {
        let h: &[(&[u8], &[u8])] = &[
            (b"X-Env", b"canary"),
            (b"x-multi", b"a"),
            (b"X-Multi", b"b"),
        ];
        assert_eq!(header_value(h, "x-env").as_deref(), Some("canary"));
        assert_eq!(header_value(h, "x-multi").as_deref(), Some("a,b"));
        let m = |name: &str, v: ValueMatch| NameValueMatch {
            name: name.into(),
            value: v,
        };
        assert!(headers_match(
            &[m("x-env", ValueMatch::Exact("canary".into()))],
            h
        ));
        assert!(!headers_match(
            &[m("x-env", ValueMatch::Exact("Canary".into()))],
            h
        ));
        assert!(!headers_match(
            &[m("x-none", ValueMatch::Exact("".into()))],
            h
        ));
        let re = ValueMatch::RegularExpression(Pattern::new("can.*").unwrap());
        assert!(headers_match(&[m("X-ENV", re)], h));
    }

    #[test]
    fn query() {
        let q = Some("a=1&b=2&a=3&flag");
        assert_eq!(query_value(q, "a"), Some("1"));
        assert_eq!(query_value(q, "flag"), Some(""));
        assert_eq!(query_value(q, "A"), None);
        assert_eq!(query_value(None, "a"), None);
    }
}
