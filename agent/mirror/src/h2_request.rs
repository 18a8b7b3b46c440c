//! [`H2MirrorRequest`]: one HTTP/2 request to replay over HTTP/2, built from what the
//! HTTP/2 decoder emitted, checked once against the `http` types the `h2` client sends.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, Request, Uri, Version};
use shadowtap_reconstruct::shadowtap_h2::{Field, H2Request};

use crate::compare::CompareTicket;
use crate::edit::RewriteOptions;
use crate::error::RequestError;

/// An HTTP/2 request to replay to a mirror backend over HTTP/2 (prior-knowledge h2c).
///
/// `:method`, `:scheme`, `:authority` and `:path` are sent as the client sent them (a
/// request with no `:authority` but a `host` field gets that value as `:authority`, the
/// field itself removed, as RFC 9113 §8.3.1 lets a client do either); the fields follow in
/// the client's order, except that the `http` types group repeated names together; the
/// body and trailers are sent whole. The backend's [`RewriteOptions`] and the marker are
/// applied when it is sent.
#[derive(Clone, Debug)]
pub struct H2MirrorRequest {
    method: Method,
    scheme: Scheme,
    authority: Option<Authority>,
    path: PathAndQuery,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    trailers: Vec<(HeaderName, HeaderValue)>,
    size: usize,
    compare: Option<CompareTicket>,
}

fn invalid(field: impl Into<String>) -> RequestError {
    RequestError::H2Invalid {
        field: field.into(),
    }
}

fn fields(list: &[Field]) -> Result<Vec<(HeaderName, HeaderValue)>, RequestError> {
    list.iter()
        .map(|f| {
            let name = HeaderName::from_bytes(&f.name)
                .map_err(|_| invalid(String::from_utf8_lossy(&f.name)))?;
            let value = HeaderValue::from_maybe_shared(f.value.clone())
                .map_err(|_| invalid(name.as_str()))?;
            Ok((name, value))
        })
        .collect()
}

impl H2MirrorRequest {
    /// The request the HTTP/2 decoder emitted, checked against what the `h2` client can
    /// send (extended CONNECT and CONNECT, which have no `:path` to replay, are refused).
    pub fn from_decoded(request: &H2Request) -> Result<Self, RequestError> {
        let p = &request.pseudo;
        let method = Method::from_bytes(&p.method).map_err(|_| invalid(":method"))?;
        if method == Method::CONNECT || p.protocol.is_some() {
            return Err(invalid(":method"));
        }
        let scheme = match p.scheme.as_deref() {
            None | Some(b"http") => Scheme::HTTP,
            Some(b"https") => Scheme::HTTPS,
            Some(other) => Scheme::try_from(other).map_err(|_| invalid(":scheme"))?,
        };
        let path = p
            .path
            .as_ref()
            .and_then(|p| PathAndQuery::from_maybe_shared(p.clone()).ok())
            .ok_or_else(|| invalid(":path"))?;
        let mut headers = fields(&request.headers)?;
        let authority = match &p.authority {
            Some(a) => {
                Some(Authority::from_maybe_shared(a.clone()).map_err(|_| invalid(":authority"))?)
            }
            None => match headers.iter().position(|(n, _)| n == HOST) {
                Some(i) => {
                    let (_, v) = headers.remove(i);
                    Some(
                        Authority::from_maybe_shared(Bytes::copy_from_slice(v.as_bytes()))
                            .map_err(|_| invalid("host"))?,
                    )
                }
                None => None,
            },
        };
        let trailers = fields(&request.trailers)?;
        let field_bytes = |l: &[Field]| {
            l.iter()
                .map(|f| f.name.len() + f.value.len())
                .sum::<usize>()
        };
        let size = p.method.len()
            + p.path.as_ref().map_or(0, Bytes::len)
            + p.authority.as_ref().map_or(0, Bytes::len)
            + field_bytes(&request.headers)
            + field_bytes(&request.trailers)
            + request.body.len();
        Ok(H2MirrorRequest {
            method,
            scheme,
            authority,
            path,
            headers,
            body: request.body.clone(),
            trailers,
            size,
            compare: None,
        })
    }

    /// The same request, its response compared through `ticket`.
    #[must_use]
    pub fn with_compare(mut self, ticket: CompareTicket) -> Self {
        self.compare = Some(ticket);
        self
    }

    /// The comparison the request takes part in.
    pub fn compare(&self) -> Option<&CompareTicket> {
        self.compare.as_ref()
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// `:authority` as it will be sent without a Host rewrite.
    pub fn authority(&self) -> Option<&Authority> {
        self.authority.as_ref()
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Bytes charged to the queue budget: pseudo-headers, fields, body and trailers.
    pub fn len(&self) -> usize {
        self.size
    }

    /// Whether the request carries nothing (never true: `:method` and `:path` are set).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The head to send (`http::Request`, HTTP/2), with `rewrite` applied and the marker
    /// field added last (any field of the marker's name removed first), and the trailers.
    pub(crate) fn render(
        &self,
        rewrite: &RewriteOptions,
        marker: &(HeaderName, HeaderValue),
    ) -> Result<(Request<()>, Option<HeaderMap>), RequestError> {
        let authority = match &rewrite.host {
            Some(h) => Some(Authority::try_from(h.as_str()).map_err(|_| invalid(":authority"))?),
            None => self.authority.clone(),
        };
        let mut uri = Uri::builder().path_and_query(self.path.clone());
        if let Some(a) = authority {
            uri = uri.scheme(self.scheme.clone()).authority(a);
        }
        let uri = uri.build().map_err(|_| invalid(":path"))?;
        let removed = |n: &HeaderName| {
            *n == marker.0
                || rewrite
                    .remove_headers
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(n.as_str()))
                || (rewrite.host.is_some() && *n == HOST)
        };
        let mut head = Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .version(Version::HTTP_2)
            .body(())
            .map_err(|_| invalid(":method"))?;
        let map = head.headers_mut();
        for (n, v) in &self.headers {
            if !removed(n) {
                map.append(n.clone(), v.clone());
            }
        }
        map.append(marker.0.clone(), marker.1.clone());
        let trailers = (!self.trailers.is_empty()).then(|| {
            let mut t = HeaderMap::with_capacity(self.trailers.len());
            for (n, v) in &self.trailers {
                t.append(n.clone(), v.clone());
            }
            t
        });
        Ok((head, trailers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_reconstruct::shadowtap_h2::PseudoHeaders;

    fn request(authority: Option<&str>, headers: &[(&str, &str)]) -> H2Request {
        H2Request {
            stream_id: 1,
            pseudo: PseudoHeaders {
                method: Bytes::from_static(b"POST"),
                scheme: Some(Bytes::from_static(b"http")),
                authority: authority.map(|a| Bytes::copy_from_slice(a.as_bytes())),
                path: Some(Bytes::from_static(b"/p?q=1")),
                protocol: None,
            },
            headers: headers
                .iter()
                .map(|(n, v)| {
                    Field::new(
                        Bytes::copy_from_slice(n.as_bytes()),
                        Bytes::copy_from_slice(v.as_bytes()),
                    )
                })
                .collect(),
            body: Bytes::from_static(b"body"),
            trailers: vec![Field::new(&b"grpc-status"[..], &b"0"[..])],
        }
    }

    fn marker() -> (HeaderName, HeaderValue) {
        (
            HeaderName::from_static("x-shadowtap-mirrored"),
            HeaderValue::from_static("1"),
        )
    }

    #[test]
    fn renders_authority_fields_marker_and_trailers() {
        let r = request(
            Some("foo.example:8080"),
            &[("b", "1"), ("x-shadowtap-mirrored", "old"), ("a", "2")],
        );
        let m = H2MirrorRequest::from_decoded(&r).expect("valid");
        // method, path, authority, fields (b: 1, x-shadowtap-mirrored: old, a: 2), trailer, body.
        assert_eq!(m.len(), 4 + 6 + 16 + (2 + 23 + 2) + 12 + 4);
        let (head, trailers) = m
            .render(&RewriteOptions::default(), &marker())
            .expect("renders");
        assert_eq!(head.uri().to_string(), "http://foo.example:8080/p?q=1");
        assert_eq!(head.method(), Method::POST);
        let names: Vec<_> = head
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("")))
            .collect();
        assert_eq!(
            names,
            [("b", "1"), ("a", "2"), ("x-shadowtap-mirrored", "1")]
        );
        assert_eq!(trailers.expect("trailers")["grpc-status"], "0");
    }

    #[test]
    fn rewrite_host_and_removed_fields() {
        let r = request(
            Some("foo.example"),
            &[("authorization", "secret"), ("c", "3")],
        );
        let m = H2MirrorRequest::from_decoded(&r).expect("valid");
        let rewrite = RewriteOptions {
            host: Some("foo-v2.default:8080".into()),
            remove_headers: vec!["Authorization".into()],
        };
        let (head, _) = m.render(&rewrite, &marker()).expect("renders");
        assert_eq!(
            head.uri().authority().map(|a| a.as_str()),
            Some("foo-v2.default:8080")
        );
        assert!(head.headers().get("authorization").is_none());
        assert_eq!(head.headers()["c"], "3");
    }

    #[test]
    fn host_field_becomes_authority_and_bad_values_are_refused() {
        let m =
            H2MirrorRequest::from_decoded(&request(None, &[("host", "h.example")])).expect("valid");
        assert_eq!(m.authority().map(|a| a.as_str()), Some("h.example"));
        let (head, _) = m
            .render(&RewriteOptions::default(), &marker())
            .expect("renders");
        assert!(head.headers().get("host").is_none());

        let bad = request(Some("bad authority"), &[]);
        assert_eq!(
            H2MirrorRequest::from_decoded(&bad).err(),
            Some(RequestError::H2Invalid {
                field: ":authority".into()
            })
        );
        let mut connect = request(Some("a:1"), &[]);
        connect.pseudo.method = Bytes::from_static(b"CONNECT");
        assert!(H2MirrorRequest::from_decoded(&connect).is_err());
        let bad_value = request(Some("a"), &[("x", "\u{7f}")]);
        assert!(H2MirrorRequest::from_decoded(&bad_value).is_err());
    }
}
