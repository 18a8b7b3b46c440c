//! The edits applied to a request head when it is replayed: the marker header, an optional
//! Host rewrite and removal of named headers. Everything else is copied byte for byte.

use shadowtap_wire::http1::token::is_token;

use crate::error::ConfigError;
use crate::request::MirrorRequest;

/// The default name of the marker header added to every replayed request.
pub const DEFAULT_MARKER_NAME: &str = "x-shadowtap-mirrored";
/// The default value of the marker header.
pub const DEFAULT_MARKER_VALUE: &str = "1";

/// Per-mirror edits of replayed requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RewriteOptions {
    /// Replace the value of every `Host` field with this (adding `Host` when the request has
    /// none). `None` keeps Host exactly as the client sent it. The request target is never
    /// changed, so an absolute-form target keeps its own authority.
    pub host: Option<String>,
    /// Header fields to remove, matched by name ignoring ASCII case (e.g. `Authorization`,
    /// `Cookie`).
    pub remove_headers: Vec<String>,
}

impl RewriteOptions {
    /// Checks that the Host value and the header names are valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(host) = &self.host {
            check_value("Host", host)?;
        }
        for name in &self.remove_headers {
            check_name(name)?;
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), ConfigError> {
    if is_token(name.as_bytes()) {
        Ok(())
    } else {
        Err(ConfigError::HeaderName {
            name: name.to_owned(),
        })
    }
}

fn check_value(name: &str, value: &str) -> Result<(), ConfigError> {
    let bad = value.is_empty()
        || value != value.trim()
        || value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    if bad {
        Err(ConfigError::HeaderValue {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// Renders replayed request heads: the client's head with the marker header added at the
/// end of the header block and the [`RewriteOptions`] applied.
///
/// The marker is the last field; an existing field with the marker's name is removed first,
/// so a replayed request carries exactly one.
#[derive(Clone, Debug)]
pub struct HeadEditor {
    marker_name: String,
    marker_line: Vec<u8>,
}

impl HeadEditor {
    /// The marker as an HTTP/2 field: the name in lowercase (HTTP/2 requires it), `value`
    /// as configured.
    pub(crate) fn h2_marker(
        &self,
        value: &str,
    ) -> Result<(http::HeaderName, http::HeaderValue), ConfigError> {
        let name = http::HeaderName::from_bytes(self.marker_name.to_ascii_lowercase().as_bytes())
            .map_err(|_| ConfigError::HeaderName {
            name: self.marker_name.clone(),
        })?;
        let v = http::HeaderValue::from_str(value).map_err(|_| ConfigError::HeaderValue {
            name: self.marker_name.clone(),
            value: value.to_owned(),
        })?;
        Ok((name, v))
    }

    /// An editor adding `name: value`.
    pub fn new(name: &str, value: &str) -> Result<Self, ConfigError> {
        check_name(name)?;
        check_value(name, value)?;
        let marker_line = format!("{name}: {value}\r\n").into_bytes();
        Ok(HeadEditor {
            marker_name: name.to_owned(),
            marker_line,
        })
    }

    /// The marker header's name.
    pub fn marker_name(&self) -> &str {
        &self.marker_name
    }

    /// Appends the edited head of `request` to `out`. The head's layout (request line,
    /// one CRLF-terminated line per field, the empty line) says where everything lies, so
    /// nothing is parsed here.
    pub fn render(&self, request: &MirrorRequest, rewrite: &RewriteOptions, out: &mut Vec<u8>) {
        let head = &request.head()[..];
        let layout = request.layout();
        out.reserve(head.len() + self.marker_line.len() + 64);
        out.extend_from_slice(&head[layout.request_line()]);
        let mut host_seen = false;
        for field in layout.field_lines() {
            let name = &head[field.header.name()];
            let removed = name.eq_ignore_ascii_case(self.marker_name.as_bytes())
                || rewrite
                    .remove_headers
                    .iter()
                    .any(|r| name.eq_ignore_ascii_case(r.as_bytes()));
            if removed {
                continue;
            }
            match &rewrite.host {
                Some(host) if name.eq_ignore_ascii_case(b"host") => {
                    host_seen = true;
                    out.extend_from_slice(name);
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(host.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                _ => out.extend_from_slice(&head[field.line]),
            }
        }
        if let (Some(host), false) = (&rewrite.host, host_seen) {
            out.extend_from_slice(b"Host: ");
            out.extend_from_slice(host.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&self.marker_line);
        out.extend_from_slice(&head[layout.blank_line()]);
    }
}

impl Default for HeadEditor {
    fn default() -> Self {
        HeadEditor {
            marker_name: DEFAULT_MARKER_NAME.to_owned(),
            marker_line: format!("{DEFAULT_MARKER_NAME}: {DEFAULT_MARKER_VALUE}\r\n").into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(head: &'static [u8]) -> MirrorRequest {
        MirrorRequest::new(Bytes::from_static(head), Bytes::new()).expect("valid head")
    }

    fn render(head: &'static [u8], rewrite: &RewriteOptions) -> String {
        let mut out = Vec::new();
        HeadEditor::default().render(&req(head), rewrite, &mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn marker_is_added_last_and_rest_is_verbatim() {
        let out = render(
            b"GET /p?q=1 HTTP/1.1\r\nhOsT: a.example:8080\r\nX-B:  v \r\nx-a: 1\r\n\r\n",
            &RewriteOptions::default(),
        );
        assert_eq!(
            out,
            "GET /p?q=1 HTTP/1.1\r\nhOsT: a.example:8080\r\nX-B:  v \r\nx-a: 1\r\n\
             x-shadowtap-mirrored: 1\r\n\r\n"
        );
    }

    #[test]
    fn existing_marker_is_replaced() {
        let out = render(
            b"GET / HTTP/1.1\r\nX-Shadowtap-Mirrored: 7\r\nA: b\r\n\r\n",
            &RewriteOptions::default(),
        );
        assert_eq!(
            out,
            "GET / HTTP/1.1\r\nA: b\r\nx-shadowtap-mirrored: 1\r\n\r\n"
        );
    }

    #[test]
    fn host_rewrite_keeps_name_case_and_position() {
        let rw = RewriteOptions {
            host: Some("shadow.example".into()),
            ..Default::default()
        };
        let out = render(b"GET / HTTP/1.1\r\nA: 1\r\nHOST: a\r\nB: 2\r\n\r\n", &rw);
        assert_eq!(
            out,
            "GET / HTTP/1.1\r\nA: 1\r\nHOST: shadow.example\r\nB: 2\r\nx-shadowtap-mirrored: 1\r\n\r\n"
        );
        let out = render(b"GET / HTTP/1.0\r\n\r\n", &rw);
        assert_eq!(
            out,
            "GET / HTTP/1.0\r\nHost: shadow.example\r\nx-shadowtap-mirrored: 1\r\n\r\n"
        );
    }

    #[test]
    fn removal_is_case_insensitive() {
        let rw = RewriteOptions {
            host: None,
            remove_headers: vec!["authorization".into(), "Cookie".into()],
        };
        let out = render(
            b"GET / HTTP/1.1\r\nAUTHORIZATION: Basic x\r\ncookie: a=b\r\nKeep: 1\r\nCookie: c\r\n\r\n",
            &rw,
        );
        assert_eq!(
            out,
            "GET / HTTP/1.1\r\nKeep: 1\r\nx-shadowtap-mirrored: 1\r\n\r\n"
        );
    }

    #[test]
    fn custom_marker_and_validation() {
        let ed = HeadEditor::new("X-Shadow", "yes").expect("valid");
        let mut out = Vec::new();
        ed.render(
            &req(b"GET / HTTP/1.1\r\n\r\n"),
            &RewriteOptions::default(),
            &mut out,
        );
        assert_eq!(out, b"GET / HTTP/1.1\r\nX-Shadow: yes\r\n\r\n");
        assert!(HeadEditor::new("bad name", "1").is_err());
        assert!(HeadEditor::new("x", "a\r\nb: c").is_err());
        assert!(HeadEditor::new("x", "").is_err());
        let rw = RewriteOptions {
            host: Some("a\nb".into()),
            remove_headers: vec![],
        };
        assert!(rw.validate().is_err());
        let rw = RewriteOptions {
            host: None,
            remove_headers: vec!["a:b".into()],
        };
        assert!(rw.validate().is_err());
    }
}
