//! The borrowed request view route matching needs, built once per request from the head
//! layout the decoder parsed: no parsing here, only `&str` views of bytes whose grammar
//! shadowtap-wire already checked.

use shadowtap_reconstruct::Request;
use shadowtap_routes::RequestView;

/// Method, target and headers of a request as `&str`s (owned storage for the header list).
pub struct OwnedView<'r> {
    method: &'r str,
    target: &'r str,
    headers: Vec<(&'r str, &'r [u8])>,
}

impl<'r> OwnedView<'r> {
    /// The view of `request`. `None` when the target or a header name is not UTF-8, which
    /// the decoder's grammar rules out (names are tokens, the target is checked to be
    /// UTF-8, and shadowtap-wire's fuzz target asserts both), so it is defensive; the check
    /// left is a scan of a few short ranges.
    pub fn new(request: &'r Request) -> Option<Self> {
        let raw = &request.raw()[..];
        let head = request.parsed_head();
        let target = std::str::from_utf8(&raw[head.target()]).ok()?;
        let mut headers = Vec::with_capacity(head.headers().len());
        for h in head.headers() {
            headers.push((std::str::from_utf8(&raw[h.name()]).ok()?, &raw[h.value()]));
        }
        Some(Self {
            method: head.method().as_str(),
            target,
            headers,
        })
    }

    /// The view matching takes.
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: self.method,
            target: self.target,
            headers: &self.headers,
        }
    }
}
