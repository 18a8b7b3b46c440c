//! A rule's match entries with the CRD's defaults applied, as request evaluation reads them.

use std::fmt;

use regex::Regex;
use serde::{Serialize, Serializer};

/// A compiled regular expression that must match a whole value (anchored), serialized as its
/// source text. Syntax: the `regex` crate's (RE2-like).
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source` anchored at both ends.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        let regex = Regex::new(&format!("^(?:{source})$"))?;
        Ok(Self {
            source: source.to_owned(),
            regex,
        })
    }

    /// The expression as written in the route.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `value` matches.
    pub fn is_full_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// A path match with CRD defaults applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum PathMatch {
    /// The whole path equals the value.
    Exact(String),
    /// Element-wise prefix.
    #[serde(rename = "PathPrefix")]
    Prefix(String),
    /// The whole path matches the expression.
    RegularExpression(Pattern),
}

/// A header or query parameter value match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum ValueMatch {
    /// Equal, case-sensitive.
    Exact(String),
    /// The whole value matches the expression.
    RegularExpression(Pattern),
}

impl ValueMatch {
    /// Whether `value` matches (regular expressions must match the whole value).
    pub fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatch::Exact(v) => v == value,
            ValueMatch::RegularExpression(re) => re.is_full_match(value),
        }
    }
}

/// One header (name lowercased) or query parameter (name as written) match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NameValueMatch {
    /// Header name (lowercase) or query parameter name.
    pub name: String,
    /// Value match.
    pub value: ValueMatch,
}

/// One entry of a rule's `matches` with defaults applied; its conditions are ANDed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteMatch {
    /// Path match (default PathPrefix `/`).
    pub path: PathMatch,
    /// Method, uppercase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Header matches (first of equal names only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValueMatch>,
    /// Query parameter matches (first of equal names only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub query_params: Vec<NameValueMatch>,
}

impl Default for RouteMatch {
    /// The match of a rule without matches: PathPrefix `/`.
    fn default() -> Self {
        Self {
            path: PathMatch::Prefix("/".into()),
            method: None,
            headers: Vec::new(),
            query_params: Vec::new(),
        }
    }
}

/// A GRPCRoute `method` match part (`service` or `method`) with its type applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value")]
pub enum GrpcNameMatch {
    /// Equal, case-sensitive.
    Exact(String),
    /// The whole name matches the expression.
    RegularExpression(Pattern),
}

impl GrpcNameMatch {
    /// Whether `name` matches (regular expressions must match the whole name).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(v) => v == name,
            Self::RegularExpression(re) => re.is_full_match(name),
        }
    }
}

/// One entry of a GRPCRoute rule's `matches`, defaults applied; its conditions are ANDed.
/// Every entry matches gRPC calls only: HTTP/2 requests with `:method` POST and a `:path`
/// of the form `/service/method`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GrpcRouteMatch {
    /// The gRPC service (`pkg.Service`); `None` matches any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<GrpcNameMatch>,
    /// The gRPC method (`Method`); `None` matches any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<GrpcNameMatch>,
    /// Header matches (names lowercase; first of equal names only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<NameValueMatch>,
}

/// A rule's match entries (ORed), by route kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RuleMatches {
    /// An HTTPRoute rule's entries (a rule without matches has the default PathPrefix `/`).
    Http(Vec<RouteMatch>),
    /// A GRPCRoute rule's entries (a rule without matches has one empty entry: every gRPC
    /// call).
    Grpc(Vec<GrpcRouteMatch>),
}

impl Default for RuleMatches {
    /// The matches of an HTTPRoute rule without matches.
    fn default() -> Self {
        Self::Http(vec![RouteMatch::default()])
    }
}
