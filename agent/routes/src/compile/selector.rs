//! The opt-in selector: which HTTPRoutes' RequestMirror filters are shadowtap's.
//!
//! A Kubernetes label selector in the string form `kubectl -l` takes, parsed into kube's own
//! [`Selector`] and matched with it. Requirements are separated by `,` and all must hold:
//!
//! | requirement | holds when |
//! |---|---|
//! | `key=value`, `key==value` | the label is present with that value |
//! | `key!=value` | the label is absent or has another value |
//! | `key in (v1,v2)` | the label is present with one of the values |
//! | `key notin (v1,v2)` | the label is absent or has none of the values |
//! | `key` | the label is present (any value) |
//! | `!key` | the label is absent |
//!
//! Keys are qualified names (`[prefix/]name`), values are label values (possibly empty). An
//! empty selector selects every route. Anything else — `key>1`, `key<1`, an empty requirement
//! (`a=b,,c=d`, a trailing comma), `in` without parentheses, an empty value set, a malformed key
//! or value — is a [`SelectorError`], never a requirement read some other way.
//!
//! The Kubernetes source watches every HTTPRoute regardless of the selector: unlabelled
//! routes compete in precedence, so the selector only decides whose mirrors are shadowtap's.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use kube::core::{Expression, Selector, SelectorExt};

/// The default opt-in label, `shadowtap.dev/mirror: "enabled"`.
pub const MIRROR_LABEL: (&str, &str) = ("shadowtap.dev/mirror", "enabled");

/// Why a label selector string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A requirement is empty (`a=b,,c=d`, a leading or trailing comma).
    #[error("label selector {selector:?}: empty requirement at byte {position}")]
    EmptyRequirement {
        /// The selector as given.
        selector: String,
        /// Byte offset of the empty requirement.
        position: usize,
    },
    /// The text does not follow the grammar at `position`.
    #[error("label selector {selector:?}: expected {expected} at byte {position}, found {found}")]
    Syntax {
        /// The selector as given.
        selector: String,
        /// Byte offset of the unexpected token.
        position: usize,
        /// What the grammar allows there.
        expected: &'static str,
        /// What was found (`the end` at the end).
        found: String,
    },
    /// `<`, `>` (numeric comparisons, which kube's selector types do not express).
    #[error("label selector {selector:?}: operator {operator:?} is not supported (use =, ==, !=, in, notin, key or !key)")]
    UnsupportedOperator {
        /// The selector as given.
        selector: String,
        /// The operator.
        operator: String,
    },
    /// A key that is not a qualified name.
    #[error("label selector {selector:?}: invalid label key {key:?}: {reason}")]
    InvalidKey {
        /// The selector as given.
        selector: String,
        /// The key.
        key: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A value that is not a label value.
    #[error("label selector {selector:?}: invalid value {value:?} for label {key:?}: {reason}")]
    InvalidValue {
        /// The selector as given.
        selector: String,
        /// The key it is compared with.
        key: String,
        /// The value.
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },
}

/// The routes whose mirrors shadowtap implements: a label selector (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorSelector(Selector);

impl MirrorSelector {
    /// Parses the string form (`shadowtap.dev/mirror=enabled`, `team in (a,b),!legacy`).
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        Parser::new(selector).selector().map(Self)
    }

    /// Whether a route with `labels` is selected (no labels = an empty label set).
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.0.matches(labels.unwrap_or(&NONE))
    }
}

impl Default for MirrorSelector {
    /// `shadowtap.dev/mirror=enabled`.
    fn default() -> Self {
        Self(Selector::from(Expression::Equal(
            MIRROR_LABEL.0.to_owned(),
            MIRROR_LABEL.1.to_owned(),
        )))
    }
}

impl FromStr for MirrorSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for MirrorSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One token of the string form, with its byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// A run of characters other than whitespace and `!=,()<>`: a key, value or keyword.
    Word(&'a str),
    Not,
    Equal,
    DoubleEqual,
    NotEqual,
    Open,
    Close,
    Comma,
    Less,
    Greater,
    End,
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Word(w) => write!(f, "{w:?}"),
            Token::Not => f.write_str("'!'"),
            Token::Equal => f.write_str("'='"),
            Token::DoubleEqual => f.write_str("'=='"),
            Token::NotEqual => f.write_str("'!='"),
            Token::Open => f.write_str("'('"),
            Token::Close => f.write_str("')'"),
            Token::Comma => f.write_str("','"),
            Token::Less => f.write_str("'<'"),
            Token::Greater => f.write_str("'>'"),
            Token::End => f.write_str("the end"),
        }
    }
}

/// Splits `text` into tokens (whitespace separates and is dropped), ending with [`Token::End`].
fn tokens(text: &str) -> Vec<(Token<'_>, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let Some(c) = rest.chars().next() else { break };
        if c.is_whitespace() {
            pos += c.len_utf8();
            continue;
        }
        let (token, len) = match c {
            '!' if rest.starts_with("!=") => (Token::NotEqual, 2),
            '!' => (Token::Not, 1),
            '=' if rest.starts_with("==") => (Token::DoubleEqual, 2),
            '=' => (Token::Equal, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            ',' => (Token::Comma, 1),
            '<' => (Token::Less, 1),
            '>' => (Token::Greater, 1),
            _ => {
                let len = rest
                    .find(|c: char| c.is_whitespace() || "!=,()<>".contains(c))
                    .unwrap_or(rest.len());
                (Token::Word(&rest[..len]), len)
            }
        };
        out.push((token, pos));
        pos += len;
    }
    out.push((Token::End, text.len()));
    out
}

/// A recursive-descent parser over the tokens of one selector.
struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Token<'a>, usize)>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            tokens: tokens(text),
            next: 0,
        }
    }

    /// The next token and its offset, not consumed.
    fn peek(&self) -> (Token<'a>, usize) {
        self.tokens
            .get(self.next)
            .copied()
            .unwrap_or((Token::End, self.text.len()))
    }

    /// The next token and its offset, consumed.
    fn bump(&mut self) -> (Token<'a>, usize) {
        let t = self.peek();
        self.next += 1;
        t
    }

    fn syntax(
        &self,
        expected: &'static str,
        (found, position): (Token<'_>, usize),
    ) -> SelectorError {
        SelectorError::Syntax {
            selector: self.text.to_owned(),
            position,
            expected,
            found: found.to_string(),
        }
    }

    /// `requirement {, requirement}`, or nothing at all (every route).
    fn selector(&mut self) -> Result<Selector, SelectorError> {
        if self.peek().0 == Token::End {
            return Ok(Selector::default());
        }
        let mut exprs = Vec::new();
        loop {
            exprs.push(self.requirement()?);
            match self.bump() {
                (Token::End, _) => return Ok(exprs.into_iter().collect()),
                (Token::Comma, _) => {}
                other => return Err(self.syntax("',' or the end", other)),
            }
        }
    }

    /// `!key`, or a key and what follows it.
    fn requirement(&mut self) -> Result<Expression, SelectorError> {
        match self.bump() {
            (Token::Comma | Token::End, position) => Err(SelectorError::EmptyRequirement {
                selector: self.text.to_owned(),
                position,
            }),
            (Token::Not, _) => match self.bump() {
                (Token::Word(key), _) => Ok(Expression::DoesNotExist(self.key(key)?)),
                other => Err(self.syntax("a label key after '!'", other)),
            },
            (Token::Word(key), _) => {
                let key = self.key(key)?;
                self.operation(key)
            }
            other => Err(self.syntax("a label key or '!'", other)),
        }
    }

    /// What follows a key: nothing (exists), `=`/`==`/`!=` and a value, `in`/`notin` and a set.
    fn operation(&mut self, key: String) -> Result<Expression, SelectorError> {
        match self.peek() {
            (Token::Comma | Token::End, _) => Ok(Expression::Exists(key)),
            (Token::Equal | Token::DoubleEqual, _) => {
                self.bump();
                let value = self.value(&key)?;
                Ok(Expression::Equal(key, value))
            }
            (Token::NotEqual, _) => {
                self.bump();
                let value = self.value(&key)?;
                Ok(Expression::NotEqual(key, value))
            }
            (Token::Word("in"), _) => {
                self.bump();
                let values = self.values(&key)?;
                Ok(Expression::In(key, values))
            }
            (Token::Word("notin"), _) => {
                self.bump();
                let values = self.values(&key)?;
                Ok(Expression::NotIn(key, values))
            }
            (op @ (Token::Less | Token::Greater), _) => Err(SelectorError::UnsupportedOperator {
                selector: self.text.to_owned(),
                operator: if op == Token::Less { "<" } else { ">" }.to_owned(),
            }),
            other => Err(self.syntax(
                "'=', '==', '!=', 'in', 'notin', ',' or the end after a key",
                other,
            )),
        }
    }

    /// The value after `=`, `==` or `!=`; nothing before `,` or the end is the empty value.
    fn value(&mut self, key: &str) -> Result<String, SelectorError> {
        match self.peek() {
            (Token::Comma | Token::End, _) => Ok(String::new()),
            (Token::Word(v), _) => {
                self.bump();
                self.checked_value(key, v)
            }
            other => Err(self.syntax("a label value", other)),
        }
    }

    /// `( value {, value} )` after `in` or `notin`.
    fn values(&mut self, key: &str) -> Result<BTreeSet<String>, SelectorError> {
        match self.bump() {
            (Token::Open, _) => {}
            other => return Err(self.syntax("'(' after in/notin", other)),
        }
        let mut values = BTreeSet::new();
        loop {
            match self.bump() {
                (Token::Word(v), _) => {
                    values.insert(self.checked_value(key, v)?);
                }
                other => return Err(self.syntax("a label value", other)),
            }
            match self.bump() {
                (Token::Comma, _) => {}
                (Token::Close, _) => return Ok(values),
                other => return Err(self.syntax("',' or ')'", other)),
            }
        }
    }

    fn key(&self, key: &str) -> Result<String, SelectorError> {
        validate_key(key).map_err(|reason| SelectorError::InvalidKey {
            selector: self.text.to_owned(),
            key: key.to_owned(),
            reason,
        })?;
        Ok(key.to_owned())
    }

    fn checked_value(&self, key: &str, value: &str) -> Result<String, SelectorError> {
        validate_value(value).map_err(|reason| SelectorError::InvalidValue {
            selector: self.text.to_owned(),
            key: key.to_owned(),
            value: value.to_owned(),
            reason,
        })?;
        Ok(value.to_owned())
    }
}

/// A label name or value body: alphanumeric at both ends, `-`, `_`, `.` inside.
fn name_chars(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A qualified name: `[prefix/]name`, the prefix a DNS subdomain.
fn validate_key(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        let labels_ok = p.split('.').all(|l| {
            let b = l.as_bytes();
            b.len() <= 63
                && b.first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        });
        if p.is_empty() || p.len() > 253 || !labels_ok {
            return Err("the prefix must be a DNS subdomain (lowercase, at most 253 characters)");
        }
    }
    if name.is_empty() || name.len() > 63 || !name_chars(name) {
        return Err(
            "the name must be 1-63 characters: alphanumeric at both ends, '-', '_' or '.' inside",
        );
    }
    Ok(())
}

/// A label value: empty, or like a name.
fn validate_value(value: &str) -> Result<(), &'static str> {
    if value.is_empty() || (value.len() <= 63 && name_chars(value)) {
        Ok(())
    } else {
        Err("a value must be at most 63 characters: alphanumeric at both ends, '-', '_' or '.' inside")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn set(values: &[&str]) -> BTreeSet<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn grammar() {
        use Expression as E;
        let s = |v: &str| v.to_owned();
        let cases: Vec<(&str, Vec<Expression>)> = vec![
            ("", vec![]),
            ("  ", vec![]),
            ("team=a", vec![E::Equal(s("team"), s("a"))]),
            ("team==a", vec![E::Equal(s("team"), s("a"))]),
            ("team!=a", vec![E::NotEqual(s("team"), s("a"))]),
            ("team=", vec![E::Equal(s("team"), s(""))]),
            ("a in (x,y)", vec![E::In(s("a"), set(&["x", "y"]))]),
            ("a in ( x , y )", vec![E::In(s("a"), set(&["x", "y"]))]),
            ("a notin (x)", vec![E::NotIn(s("a"), set(&["x"]))]),
            ("a", vec![E::Exists(s("a"))]),
            ("!a", vec![E::DoesNotExist(s("a"))]),
            ("! a", vec![E::DoesNotExist(s("a"))]),
            (
                "shadowtap.dev/mirror=enabled, team in (a,b),!legacy,tier",
                vec![
                    E::Equal(s("shadowtap.dev/mirror"), s("enabled")),
                    E::In(s("team"), set(&["a", "b"])),
                    E::DoesNotExist(s("legacy")),
                    E::Exists(s("tier")),
                ],
            ),
        ];
        for (text, want) in cases {
            let got = MirrorSelector::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(got, MirrorSelector(want.into_iter().collect()), "{text:?}");
        }
    }

    #[test]
    fn invalid_input_is_an_error() {
        let cases = [
            "team!",
            "team! =a",
            "=a",
            "!",
            "!a=b",
            "a=b=c",
            "a=b,",
            ",a=b",
            "a=b,,c=d",
            "a in x",
            "a in (x",
            "a in ()",
            "a in (x,)",
            "a notin",
            "a b",
            "a>1",
            "a<1",
            "a=(b)",
            "Team.Example/a=b",
            "a/=b",
            "/a=b",
            "a/b/c=d",
            "-a=b",
            "a=-b",
            "a=b c",
        ];
        for text in cases {
            let err = MirrorSelector::parse(text).err();
            assert!(err.is_some(), "{text:?} parsed");
            let msg = err.unwrap().to_string();
            assert!(msg.contains(&format!("{text:?}")), "{text:?}: {msg}");
        }
        let long = format!("a={}", "v".repeat(64));
        assert!(matches!(
            MirrorSelector::parse(&long),
            Err(SelectorError::InvalidValue { .. })
        ));
        assert!(matches!(
            MirrorSelector::parse("a>1"),
            Err(SelectorError::UnsupportedOperator { .. })
        ));
        assert!(matches!(
            MirrorSelector::parse("a=b,,c=d"),
            Err(SelectorError::EmptyRequirement { position: 4, .. })
        ));
        assert_eq!(
            MirrorSelector::parse("team!").unwrap_err().to_string(),
            "label selector \"team!\": expected '=', '==', '!=', 'in', 'notin', ',' or the end \
             after a key at byte 4, found '!'"
        );
    }

    #[test]
    fn matching() {
        let none = labels(&[]);
        let a = labels(&[("team", "a")]);
        let b = labels(&[("team", "b"), ("legacy", "")]);
        let cases: [(&str, &BTreeMap<String, String>, bool); 16] = [
            ("team!=a", &a, false),
            ("team!=a", &b, true),
            ("team!=a", &none, true),
            ("team=a", &a, true),
            ("team=a", &none, false),
            ("team in (a,c)", &a, true),
            ("team in (a,c)", &b, false),
            ("team in (a,c)", &none, false),
            ("team notin (a)", &b, true),
            ("team notin (a)", &none, true),
            ("legacy", &b, true),
            ("legacy", &a, false),
            ("!legacy", &a, true),
            ("!legacy", &b, false),
            ("", &none, true),
            ("team=b,!legacy", &b, false),
        ];
        for (text, l, want) in cases {
            let sel = MirrorSelector::parse(text).unwrap();
            assert_eq!(sel.matches(Some(l)), want, "{text:?} on {l:?}");
        }
        assert!(!MirrorSelector::parse("team!=a").unwrap().matches(Some(&a)));
        assert!(MirrorSelector::parse("!team").unwrap().matches(None));
    }

    #[test]
    fn default_is_the_opt_in_label() {
        let d = MirrorSelector::default();
        assert_eq!(
            d,
            MirrorSelector::parse("shadowtap.dev/mirror=enabled").unwrap()
        );
        assert_eq!(d.to_string(), "shadowtap.dev/mirror=enabled");
        assert!(d.matches(Some(&labels(&[MIRROR_LABEL]))));
        assert!(!d.matches(Some(&labels(&[("shadowtap.dev/mirror", "disabled")]))));
        assert!(!d.matches(None));
        let round = "a in (x,y),b notin (z),c!=d,!e,f";
        assert_eq!(
            MirrorSelector::parse(round).unwrap().to_string(),
            round,
            "Display gives the string form back"
        );
    }
}
