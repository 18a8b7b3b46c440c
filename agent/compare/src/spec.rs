//! What a comparing route asks for: the mode, the header names it ignores, and the header
//! names whose values never leave the agent.

use std::collections::BTreeSet;

use serde::Serialize;

/// How much of two responses a route compares. The modes nest: each compares what the
/// previous one does and more (see the crate docs for what the kernel copies for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareMode {
    /// The status code (and so its class).
    Status,
    /// The status, and the header fields not ignored.
    Headers,
    /// The status, the header fields not ignored, the body's length and hash.
    Body,
}

impl CompareMode {
    /// The annotation value (`status`, `headers`, `body`).
    pub const fn name(self) -> &'static str {
        match self {
            CompareMode::Status => "status",
            CompareMode::Headers => "headers",
            CompareMode::Body => "body",
        }
    }

    /// Parses an annotation value (exact, lower case).
    pub fn parse(value: &str) -> Result<CompareMode, SpecError> {
        match value {
            "status" => Ok(CompareMode::Status),
            "headers" => Ok(CompareMode::Headers),
            "body" => Ok(CompareMode::Body),
            other => Err(SpecError::UnknownMode {
                value: other.to_owned(),
            }),
        }
    }

    /// Whether header fields are kept and compared.
    pub const fn headers(self) -> bool {
        matches!(self, CompareMode::Headers | CompareMode::Body)
    }

    /// Whether bodies are hashed and compared.
    pub const fn body(self) -> bool {
        matches!(self, CompareMode::Body)
    }
}

/// Why a comparison setting is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The mode is not `status`, `headers` or `body`.
    #[error("unknown comparison mode {value:?} (expected status, headers or body)")]
    UnknownMode {
        /// The value given.
        value: String,
    },
    /// A header name is not an HTTP token.
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name given.
        name: String,
    },
}

/// Header fields never compared, whatever the route says: they describe the connection or
/// the message framing, not the resource (RFC 9110 §7.6.1, RFC 9112 §6). A chunked primary
/// and a Content-Length mirror with equal bodies are the same response; the body mode
/// compares the lengths themselves.
pub const FRAMING_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Header fields a route ignores unless it says otherwise: the time of the response, the
/// server's software version, and the request-id and tracing fields that differ on every
/// response by design.
pub const DEFAULT_IGNORED_HEADERS: &[&str] = &[
    "date",
    "server",
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "x-trace-id",
    "x-amzn-requestid",
    "x-amzn-trace-id",
    "x-cloud-trace-context",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-envoy-upstream-service-time",
];

/// Header fields whose values never leave the agent (shown as [`REDACTED`] in divergent
/// pairs), to which a node adds its own.
pub const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

/// What a redacted value reads.
pub const REDACTED: &str = "[redacted]";

/// A set of header names, compared case-insensitively (stored in lower case).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderNames(BTreeSet<Box<[u8]>>);

impl HeaderNames {
    /// The set of these names; each must be an HTTP token.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<HeaderNames, SpecError> {
        let mut set = HeaderNames::default();
        for name in names {
            set.insert(name)?;
        }
        Ok(set)
    }

    /// The names of a comma-separated list (an annotation's value: `ETag, x-build-id`);
    /// empty elements are skipped, every other one must be an HTTP token.
    pub fn parse_list(list: &str) -> Result<HeaderNames, SpecError> {
        HeaderNames::new(list.split(',').map(str::trim).filter(|n| !n.is_empty()))
    }

    /// Adds a name (an HTTP token, any case).
    pub fn insert(&mut self, name: &str) -> Result<(), SpecError> {
        if !shadowtap_wire::http1::token::is_token(name.as_bytes()) {
            return Err(SpecError::InvalidHeaderName {
                name: name.to_owned(),
            });
        }
        self.0.insert(name.to_ascii_lowercase().into_bytes().into());
        Ok(())
    }

    /// Whether `name` (any case) is in the set.
    pub fn contains(&self, name: &[u8]) -> bool {
        if name.iter().any(u8::is_ascii_uppercase) {
            self.0.contains(name.to_ascii_lowercase().as_slice())
        } else {
            self.0.contains(name)
        }
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn static_names(names: &[&str]) -> HeaderNames {
    HeaderNames(
        names
            .iter()
            .map(|n| n.as_bytes().to_vec().into_boxed_slice())
            .collect(),
    )
}

/// Whether a header field is never compared ([`FRAMING_HEADERS`]).
pub fn is_framing_header(name: &[u8]) -> bool {
    FRAMING_HEADERS
        .iter()
        .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
}

/// One comparing route's settings: shared (`Arc`) by every pair of the route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareSpec {
    mode: CompareMode,
    ignored: HeaderNames,
}

impl CompareSpec {
    /// A route comparing in `mode` and ignoring [`DEFAULT_IGNORED_HEADERS`].
    pub fn new(mode: CompareMode) -> CompareSpec {
        CompareSpec {
            mode,
            ignored: static_names(DEFAULT_IGNORED_HEADERS),
        }
    }

    /// A route comparing in `mode` and ignoring exactly `ignored` (the defaults replaced;
    /// [`FRAMING_HEADERS`] are ignored in every case).
    pub fn with_ignored(mode: CompareMode, ignored: HeaderNames) -> CompareSpec {
        CompareSpec { mode, ignored }
    }

    /// A route comparing in `mode` and ignoring [`DEFAULT_IGNORED_HEADERS`] and `extra`.
    pub fn with_extra_ignored(mode: CompareMode, extra: &HeaderNames) -> CompareSpec {
        let mut spec = CompareSpec::new(mode);
        spec.ignored.0.extend(extra.0.iter().cloned());
        spec
    }

    /// The mode.
    pub fn mode(&self) -> CompareMode {
        self.mode
    }

    /// The header names the route ignores (framing fields aside).
    pub fn ignored(&self) -> &HeaderNames {
        &self.ignored
    }

    /// Whether a header field takes part in the comparison.
    pub fn compares_header(&self, name: &[u8]) -> bool {
        self.mode.headers() && !is_framing_header(name) && !self.ignored.contains(name)
    }
}

/// The header names whose values are redacted in divergent pairs: [`SENSITIVE_HEADERS`] and
/// a node's own additions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redaction(HeaderNames);

impl Default for Redaction {
    fn default() -> Self {
        Redaction(static_names(SENSITIVE_HEADERS))
    }
}

impl Redaction {
    /// [`SENSITIVE_HEADERS`] plus `extra`.
    pub fn with_extra<'a>(
        extra: impl IntoIterator<Item = &'a str>,
    ) -> Result<Redaction, SpecError> {
        let mut r = Redaction::default();
        for name in extra {
            r.0.insert(name)?;
        }
        Ok(r)
    }

    /// Whether values of `name` (any case) are redacted.
    pub fn is_sensitive(&self, name: &[u8]) -> bool {
        self.0.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_nest() {
        for m in [CompareMode::Status, CompareMode::Headers, CompareMode::Body] {
            assert_eq!(CompareMode::parse(m.name()), Ok(m));
        }
        assert!(matches!(
            CompareMode::parse("Body"),
            Err(SpecError::UnknownMode { .. })
        ));
        assert!(!CompareMode::Status.headers() && !CompareMode::Status.body());
        assert!(CompareMode::Headers.headers() && !CompareMode::Headers.body());
        assert!(CompareMode::Body.headers() && CompareMode::Body.body());
    }

    #[test]
    fn header_selection() {
        let spec = CompareSpec::new(CompareMode::Headers);
        assert!(!spec.compares_header(b"Date"));
        assert!(!spec.compares_header(b"X-Request-ID"));
        assert!(!spec.compares_header(b"Content-Length"));
        assert!(spec.compares_header(b"Content-Type"));
        let spec = CompareSpec::with_ignored(
            CompareMode::Body,
            HeaderNames::new(["ETag"]).expect("valid names"),
        );
        assert!(spec.compares_header(b"date"));
        assert!(!spec.compares_header(b"etag"));
        assert!(!spec.compares_header(b"transfer-encoding"));
        assert!(!CompareSpec::new(CompareMode::Status).compares_header(b"content-type"));
        assert!(matches!(
            HeaderNames::new(["bad name"]),
            Err(SpecError::InvalidHeaderName { .. })
        ));
    }

    #[test]
    fn ignore_lists_from_annotations() {
        let extra = HeaderNames::parse_list(" ETag, ,x-build-id ").expect("valid list");
        assert_eq!(extra.len(), 2);
        let spec = CompareSpec::with_extra_ignored(CompareMode::Headers, &extra);
        for n in ["etag", "X-Build-Id", "date", "traceparent"] {
            assert!(!spec.compares_header(n.as_bytes()), "{n}");
        }
        assert!(spec.compares_header(b"content-type"));
        assert!(HeaderNames::parse_list("")
            .expect("empty is fine")
            .is_empty());
        assert_eq!(
            HeaderNames::parse_list("etag, x y"),
            Err(SpecError::InvalidHeaderName {
                name: "x y".to_owned()
            })
        );
    }

    #[test]
    fn redaction_defaults_and_extra() {
        let r = Redaction::with_extra(["X-Api-Key"]).expect("valid names");
        for n in [
            "Authorization",
            "cookie",
            "Set-Cookie",
            "proxy-authorization",
            "x-api-key",
        ] {
            assert!(r.is_sensitive(n.as_bytes()), "{n}");
        }
        assert!(!r.is_sensitive(b"content-type"));
    }
}
