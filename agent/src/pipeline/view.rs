//! The borrowed request view route matching needs, built once per request from the head
//! layout the decoder parsed: no parsing here, only `&str` views of bytes whose grammar
//! shadowtap-wire already checked.

use smallvec::SmallVec;

use shadowtap_reconstruct::shadowtap_h2::H2Request;
use shadowtap_reconstruct::Request;
use shadowtap_routes::{RequestProtocol, RequestView};

/// Header fields a view holds inline: requests with more spill to the heap.
const INLINE_FIELDS: usize = 24;

/// Method, target and headers of a request as `&str`s (owned storage for the header list,
/// inline for up to `INLINE_FIELDS` fields: building a view allocates nothing for the usual
/// request).
pub struct OwnedView<'r> {
    protocol: RequestProtocol,
    method: &'r str,
    target: &'r str,
    headers: SmallVec<[(&'r [u8], &'r [u8]); INLINE_FIELDS]>,
}

impl<'r> OwnedView<'r> {
    /// The view of `request`. `None` when the target is not UTF-8, which the decoder's
    /// grammar rules out (the target is checked to be UTF-8, and shadowtap-wire's fuzz
    /// target asserts it), so it is defensive. Header names stay bytes (tokens; matching
    /// compares them ASCII case-insensitively).
    pub fn new(request: &'r Request) -> Option<Self> {
        let raw = &request.raw()[..];
        let head = request.parsed_head();
        let target = std::str::from_utf8(&raw[head.target()]).ok()?;
        let mut headers = SmallVec::with_capacity(head.headers().len());
        for h in head.headers() {
            headers.push((&raw[h.name()], &raw[h.value()]));
        }
        Some(Self {
            protocol: RequestProtocol::Http1,
            method: head.method().as_str(),
            target,
            headers,
        })
    }

    /// The view of an HTTP/2 request, as route matching sees one (HTTPRoute rules, and
    /// GRPCRoute rules, which match HTTP/2 requests only): `:method` as the method, `:path` as the target, and `:authority` as the Host field (placed first, so
    /// it wins over a `host` field, as RFC 9113 §8.3.1 says it does), then the fields in
    /// wire order (names are tokens: the HTTP/2 decoder drops requests with any other).
    /// `None` when `:path` is absent (CONNECT), or `:method` or `:path` is not UTF-8.
    pub fn from_h2(request: &'r H2Request) -> Option<Self> {
        let p = &request.pseudo;
        let method = std::str::from_utf8(&p.method).ok()?;
        let target = std::str::from_utf8(p.path.as_deref()?).ok()?;
        let mut headers = SmallVec::with_capacity(request.headers.len() + 1);
        if let Some(authority) = &p.authority {
            headers.push((&b"host"[..], &authority[..]));
        }
        for f in &request.headers {
            headers.push((&f.name[..], &f.value[..]));
        }
        Some(Self {
            protocol: RequestProtocol::Http2,
            method,
            target,
            headers,
        })
    }

    /// The view matching takes.
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            protocol: self.protocol,
            method: self.method,
            target: self.target,
            headers: &self.headers,
        }
    }
}
