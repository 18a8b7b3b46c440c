//! The borrowed request view route matching needs, built from a decoded request.

use shadowtap_reconstruct::Request;
use shadowtap_routes::RequestView;

/// Method, target and headers of a request as `&str`s (owned storage for the header list).
pub struct OwnedView<'r> {
    method: &'r str,
    target: &'r str,
    headers: Vec<(&'r str, &'r [u8])>,
}

impl<'r> OwnedView<'r> {
    /// `None` when the method, target or a header name is not UTF-8 (the decoder only lets
    /// tokens and visible ASCII through, so this is defensive).
    pub fn new(request: &'r Request) -> Option<Self> {
        let method = request.method().as_str();
        let target = std::str::from_utf8(request.target()).ok()?;
        let headers = request
            .headers()
            .map(|(n, v)| std::str::from_utf8(n).ok().map(|n| (n, v)))
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            method,
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
