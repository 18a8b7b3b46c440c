//! Request heads (RFC 9112 §3, §5): parsed once, with httparse, into a [`RequestHead`] that
//! records where everything lies, so later stages (routing, byte-exact replay with edits)
//! never parse the head again.
//!
//! Beyond httparse's grammar, a head is accepted only with CRLF line endings everywhere, no
//! obsolete line folding, a method token of the nine known methods, a target whose form
//! suits the method, `HTTP/1.0` or `HTTP/1.1`, and trustworthy framing.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::connection::ConnectionOptions;
use super::framing::{Framing, FramingError, FramingFields};
use super::method::{Method, Version};
use super::scan::{has_bare_lf, has_obs_fold, line_ends_crlf};

/// The HTTP/2 connection preface's request line.
pub const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Headers parsed on the stack; more are parsed into a heap array.
const STACK_HEADERS: usize = 128;

/// Whether a buffer holds a complete head yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// More bytes are needed; everything so far is valid.
    Partial,
    /// A complete head.
    Complete(T),
}

/// A header field as offsets into the head: name and value as received, the value without
/// surrounding whitespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    name_start: u32,
    name_len: u32,
    value_start: u32,
    value_len: u32,
}

impl Header {
    /// A header from its name and value ranges (offsets above `u32::MAX` saturate; heads
    /// are parsed only up to 4 GiB).
    pub fn new(name: Range<usize>, value: Range<usize>) -> Self {
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            name_start: c(name.start),
            name_len: c(name.len()),
            value_start: c(value.start),
            value_len: c(value.len()),
        }
    }

    /// The name's range in the head.
    pub fn name(&self) -> Range<usize> {
        self.name_start as usize..(self.name_start as usize + self.name_len as usize)
    }

    /// The value's range in the head.
    pub fn value(&self) -> Range<usize> {
        self.value_start as usize..(self.value_start as usize + self.value_len as usize)
    }
}

/// One header field with its whole line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldLine {
    /// The field.
    pub header: Header,
    /// The whole line: from the name to the CRLF, both included.
    pub line: Range<usize>,
}

/// A complete, valid request head, as offsets into the bytes it was parsed from (which
/// start with the method).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    len: usize,
    method: Method,
    target: Range<usize>,
    version: Version,
    headers: Vec<Header>,
    framing: Framing,
    connection: ConnectionOptions,
    upgrade: bool,
}

impl RequestHead {
    /// Length of the head, final empty line included.
    pub fn head_len(&self) -> usize {
        self.len
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The target's range.
    pub fn target(&self) -> Range<usize> {
        self.target.clone()
    }

    /// The version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields in order.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// How the body is delimited.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The Connection options.
    pub fn connection(&self) -> ConnectionOptions {
        self.connection
    }

    /// Whether the head has an Upgrade field.
    pub fn has_upgrade(&self) -> bool {
        self.upgrade
    }

    /// Whether the client keeps the connection open after this request's exchange
    /// (`Connection: close`, or HTTP/1.0 without `keep-alive`, end it).
    pub fn persistent(&self) -> bool {
        self.connection.persistent(self.version)
    }

    /// The request line, CRLF included.
    pub fn request_line(&self) -> Range<usize> {
        let end = self
            .headers
            .first()
            .map_or(self.blank_line().start, |h| h.name().start);
        0..end
    }

    /// Each header field with its whole line, in order. The lines and the request line and
    /// the empty line tile the head: lines are CRLF-terminated and never folded, so a line
    /// ends where the next field's name starts.
    pub fn field_lines(&self) -> impl Iterator<Item = FieldLine> + '_ {
        let blank = self.blank_line().start;
        self.headers.iter().enumerate().map(move |(i, h)| {
            let end = self
                .headers
                .get(i + 1)
                .map_or(blank, |next| next.name().start);
            FieldLine {
                header: *h,
                line: h.name().start..end,
            }
        })
    }

    /// The empty line (CRLF) that ends the head.
    pub fn blank_line(&self) -> Range<usize> {
        self.len - 2..self.len
    }
}

/// Why bytes are not an acceptable request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestHeadError {
    /// The bytes begin with the HTTP/2 connection preface: not HTTP/1.
    #[error("HTTP/2 connection preface")]
    Http2Preface,
    /// More header fields than allowed.
    #[error("more than {max} header fields")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// A header line starts with whitespace (obsolete line folding).
    #[error("obsolete line folding")]
    ObsFold,
    /// A line ends in LF without CR.
    #[error("a line ends in LF without CR")]
    BareLf,
    /// The head starts with an empty line (callers skip those between messages).
    #[error("the head starts with an empty line")]
    LeadingEmptyLine,
    /// The head is longer than 4 GiB.
    #[error("head longer than 4 GiB")]
    TooLong,
    /// The head does not follow the grammar (request line, version other than 1.0 or 1.1,
    /// field syntax).
    #[error("malformed request head: {source}")]
    Syntax {
        /// httparse's diagnosis.
        #[source]
        source: httparse::Error,
    },
    /// The target's form does not suit the method.
    #[error("invalid request target for {}", method.as_str())]
    InvalidTarget {
        /// The method.
        method: Method,
    },
    /// A method other than the nine known ones. The head is otherwise complete and valid:
    /// a stream reader can skip the message and stay in step when its framing is known.
    #[error("unknown method")]
    UnknownMethod {
        /// Length of the head.
        head_len: usize,
        /// How the body is delimited, when that can be trusted.
        framing: Option<Framing>,
        /// Whether the connection persists after this message (Connection options and
        /// version, as for a known method).
        persistent: bool,
    },
    /// The framing fields cannot be trusted; the head is otherwise valid.
    #[error("invalid framing: {source}")]
    Framing {
        /// Length of the head.
        head_len: usize,
        /// What is wrong.
        #[source]
        source: FramingError,
    },
}

fn syntax(source: httparse::Error) -> RequestHeadError {
    RequestHeadError::Syntax { source }
}

/// Parses the request head at the start of `buf` (bytes after it are ignored), with at
/// most `max_headers` header fields.
#[inline]
pub fn parse_request_head(
    buf: &[u8],
    max_headers: usize,
) -> Result<Status<RequestHead>, RequestHeadError> {
    // Only a head that starts like the preface (`P`) is compared with it.
    if buf.first() == Some(&HTTP2_PREFACE[0]) {
        if buf.starts_with(HTTP2_PREFACE) {
            return Err(RequestHeadError::Http2Preface);
        }
        if HTTP2_PREFACE.starts_with(buf) {
            return Ok(Status::Partial);
        }
    }
    if matches!(buf.first(), Some(b'\r' | b'\n')) {
        return Err(RequestHeadError::LeadingEmptyLine);
    }
    if max_headers <= STACK_HEADERS {
        let mut arr = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_HEADERS];
        parse_with(buf, &mut arr[..max_headers])
    } else {
        let mut v = vec![MaybeUninit::<httparse::Header<'_>>::uninit(); max_headers];
        parse_with(buf, &mut v)
    }
}

fn parse_with<'b>(
    buf: &'b [u8],
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Status<RequestHead>, RequestHeadError> {
    let max = headers.len();
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Status::Partial),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestHeadError::TooManyHeaders { max })
        }
        Err(_) if has_obs_fold(buf) => return Err(RequestHeadError::ObsFold),
        Err(_) if has_bare_lf(buf) => return Err(RequestHeadError::BareLf),
        Err(e) => return Err(syntax(e)),
    };
    let head = &buf[..head_len];
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| -> Option<Range<usize>> {
        let start = (s.as_ptr() as usize).checked_sub(base)?;
        let end = start.checked_add(s.len())?;
        (end <= head_len).then_some(start..end)
    };
    // httparse fills all three in a complete head, with version 0 or 1.
    let (Some(method_tok), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(syntax(httparse::Error::Token));
    };
    let version = Version::from_minor(version).ok_or(syntax(httparse::Error::Version))?;
    let target = range(path.as_bytes()).ok_or(syntax(httparse::Error::Token))?;
    let method = Method::from_token(method_tok.as_bytes());
    if let Some(m) = method {
        if !valid_target(m, path.as_bytes()) {
            return Err(RequestHeadError::InvalidTarget { method: m });
        }
    }
    if u32::try_from(head_len).is_err() {
        return Err(RequestHeadError::TooLong);
    }
    if !head.ends_with(b"\r\n\r\n") || head.get(target.end + 9..target.end + 11) != Some(b"\r\n") {
        return Err(RequestHeadError::BareLf);
    }
    let (out, fields) = field_list(req.headers, base, head)?;
    let framing = fields.request_framing(version);
    let Some(method) = method else {
        return Err(RequestHeadError::UnknownMethod {
            head_len,
            framing: framing.ok(),
            persistent: fields.connection().persistent(version),
        });
    };
    let framing = framing.map_err(|source| RequestHeadError::Framing { head_len, source })?;
    Ok(Status::Complete(RequestHead {
        len: head_len,
        method,
        target,
        version,
        headers: out,
        framing,
        connection: fields.connection(),
        upgrade: fields.upgrade(),
    }))
}

/// The header fields of a complete head (`head`, whose first byte is at address `base`) as
/// offsets, with the framing fields among them, after the checks httparse does not make:
/// each field lies in the head and its line ends in CRLF. A function of its own, with the
/// checks and the list in two loops: each keeps its state in registers.
#[inline(never)]
fn field_list(
    headers: &[httparse::Header<'_>],
    base: usize,
    head: &[u8],
) -> Result<(Vec<Header>, FramingFields), RequestHeadError> {
    let head_len = head.len();
    let mut fields = FramingFields::default();
    for h in headers.iter() {
        let name = h.name.as_bytes();
        let ns = (name.as_ptr() as usize).wrapping_sub(base);
        let ne = ns.wrapping_add(name.len());
        let vs = (h.value.as_ptr() as usize).wrapping_sub(base);
        let ve = vs.wrapping_add(h.value.len());
        // httparse's slices lie in the head; checked anyway.
        if ne > head_len || vs > ve || ve > head_len {
            return Err(syntax(httparse::Error::HeaderValue));
        }
        // The usual case inline: CRLF right after the value.
        if head.get(ve..ve + 2) != Some(b"\r\n") && !line_ends_crlf(head, ve) {
            return Err(RequestHeadError::BareLf);
        }
        fields.observe(name, h.value);
    }
    // The list apart, written at its exact size with no check per field. Every offset is
    // at most `head_len`, which fits in u32 (checked by the caller).
    let mut out = Vec::with_capacity(headers.len());
    out.extend(headers.iter().map(|h| Header {
        name_start: (h.name.as_ptr() as usize).wrapping_sub(base) as u32,
        name_len: h.name.len() as u32,
        value_start: (h.value.as_ptr() as usize).wrapping_sub(base) as u32,
        value_len: h.value.len() as u32,
    }));
    Ok((out, fields))
}

/// Whether `target` is a valid request target for `method` (RFC 9112 §3.2): origin-form
/// (`/…`), absolute-form (`scheme://…`), `*` for OPTIONS, authority-form (`host:port`) for
/// CONNECT. The characters themselves are httparse's to check (no spaces or controls).
pub fn valid_target(method: Method, target: &[u8]) -> bool {
    match target.first() {
        None => false,
        Some(b'/') => true,
        Some(b'*') => method == Method::Options && target.len() == 1,
        Some(c) if c.is_ascii_alphabetic() => {
            if method == Method::Connect {
                return target.contains(&b':') && !target.contains(&b'/');
            }
            match memchr::memmem::find(target, b"://") {
                Some(i) => {
                    target[..i]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                        && target.len() > i + 3
                }
                None => false,
            }
        }
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::{ContentLengthError, TransferEncodingError};

    fn parse(s: &[u8]) -> Result<Status<RequestHead>, RequestHeadError> {
        parse_request_head(s, 100)
    }

    fn complete(s: &[u8]) -> RequestHead {
        match parse(s) {
            Ok(Status::Complete(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn complete_head_and_layout() {
        let s = b"POST /x?y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-E:\r\n\r\nabc";
        let h = complete(s);
        assert_eq!(h.head_len(), s.len() - 3);
        assert_eq!(h.method(), Method::Post);
        assert_eq!(&s[h.target()], b"/x?y");
        assert_eq!(h.framing(), Framing::Length(3));
        assert_eq!(h.version(), Version::Http11);
        assert!(h.persistent());
        let names: Vec<&[u8]> = h.headers().iter().map(|x| &s[x.name()]).collect();
        assert_eq!(names, vec![&b"Host"[..], b"Content-Length", b"X-E"]);
        assert_eq!(&s[h.headers()[0].value()], b"a");
        assert_eq!(&s[h.headers()[2].value()], b"");
        assert_eq!(&s[h.request_line()], b"POST /x?y HTTP/1.1\r\n");
        let lines: Vec<&[u8]> = h.field_lines().map(|f| &s[f.line]).collect();
        assert_eq!(
            lines,
            vec![&b"Host: a\r\n"[..], b"Content-Length: 3\r\n", b"X-E:\r\n"]
        );
        assert_eq!(&s[h.blank_line()], b"\r\n");
        let bare = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(bare.request_line(), 0..16);
        assert_eq!(bare.field_lines().count(), 0);
        assert!(!bare.persistent());
    }

    #[test]
    fn partial_heads() {
        assert_eq!(parse(b""), Ok(Status::Partial));
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(Status::Partial));
        assert_eq!(parse(b"PRI * HT"), Ok(Status::Partial));
        assert_eq!(
            parse(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Err(RequestHeadError::Http2Preface)
        );
    }

    #[test]
    fn rejected_heads() {
        let cases: &[(&[u8], RequestHeadError)] = &[
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", RequestHeadError::BareLf),
            (b"GET / HTTP/1.1\r\nHost: a\n\n", RequestHeadError::BareLf),
            (
                b"GET / HTTP/1.1\r\nX: a \nY: b\r\n\r\n",
                RequestHeadError::BareLf,
            ),
            (
                b"GET / HTTP/1.1\r\nX:\nY: b\r\n\r\n",
                RequestHeadError::BareLf,
            ),
            (
                b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
                RequestHeadError::ObsFold,
            ),
            (
                b"\r\nGET / HTTP/1.1\r\n\r\n",
                RequestHeadError::LeadingEmptyLine,
            ),
            (
                b"GET foo HTTP/1.1\r\n\r\n",
                RequestHeadError::InvalidTarget {
                    method: Method::Get,
                },
            ),
            (
                b"BREW /pot HTTP/1.1\r\n\r\n",
                RequestHeadError::UnknownMethod {
                    head_len: 22,
                    framing: Some(Framing::None),
                    persistent: true,
                },
            ),
            (
                b"BREW /pot HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                RequestHeadError::UnknownMethod {
                    head_len: 41,
                    framing: None,
                    persistent: true,
                },
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                RequestHeadError::Framing {
                    head_len: 66,
                    source: FramingError::ContentLengthAndTransferEncoding,
                },
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
                RequestHeadError::Framing {
                    head_len: 41,
                    source: FramingError::ContentLength {
                        source: ContentLengthError::Conflicting { first: 1, other: 2 },
                    },
                },
            ),
            (
                b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                RequestHeadError::Framing {
                    head_len: 47,
                    source: FramingError::TransferEncoding {
                        source: TransferEncodingError::Http10,
                    },
                },
            ),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s), Err(*want), "{}", String::from_utf8_lossy(s));
        }
        for s in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\n: x\r\n\r\n",
        ] {
            assert!(
                matches!(parse(s), Err(RequestHeadError::Syntax { .. })),
                "{}",
                String::from_utf8_lossy(s)
            );
        }
        let many = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            parse_request_head(many, 2),
            Err(RequestHeadError::TooManyHeaders { max: 2 })
        );
        assert!(matches!(
            parse_request_head(many, 200),
            Ok(Status::Complete(_))
        ));
    }

    #[test]
    fn connection_and_upgrade() {
        let h = complete(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        assert!(h.has_upgrade());
        assert!(h.connection().upgrade);
        let h = complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!h.persistent());
        let h = complete(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
        assert!(h.persistent());
    }

    #[test]
    fn targets() {
        assert!(valid_target(Method::Get, b"/"));
        assert!(valid_target(Method::Get, b"/a?b=c"));
        assert!(valid_target(Method::Get, b"http://example.com/x"));
        assert!(valid_target(Method::Options, b"*"));
        assert!(valid_target(Method::Connect, b"example.com:443"));
        assert!(!valid_target(Method::Get, b"*"));
        assert!(!valid_target(Method::Get, b"example.com"));
        assert!(!valid_target(Method::Get, b"http://"));
        assert!(!valid_target(Method::Get, b""));
        assert!(!valid_target(Method::Get, b"%2F"));
    }
}
