//! The summary of one response — the primary's, framed from the capture, or the mirror's,
//! read by the mirror client — which is all a comparison needs: neither body is kept.

use std::time::Duration;

use crate::digest::BodyDigest;
use crate::spec::CompareSpec;

/// One header field as received (name in lower case, value as bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    /// The name, in lower case.
    pub name: Box<[u8]>,
    /// The value, optional whitespace around it removed.
    pub value: Box<[u8]>,
}

/// What is compared of one response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseSummary {
    /// The final status code (interim responses are not summarised).
    pub status: u16,
    /// The header fields the route compares, in the order received (empty in the status
    /// mode).
    pub headers: Vec<HeaderField>,
    /// The body's length and, in the body mode, its fingerprint.
    pub body: BodyDigest,
    /// gRPC: the `grpc-status` of the trailers (or of a trailers-only response's head);
    /// `None` for a response that carries none (every HTTP/1 response). Compared in every
    /// mode, right after the HTTP status ([`crate::compare()`]).
    pub grpc_status: Option<Box<[u8]>>,
    /// Primary: from the request's last byte to the final response's first byte, both at
    /// the pod's interface (capture time). Mirror: the mirror client's own measurement.
    pub latency: Duration,
}

impl ResponseSummary {
    /// A summary without header fields and with an unhashed empty body.
    pub fn new(status: u16) -> ResponseSummary {
        ResponseSummary {
            status,
            headers: Vec::new(),
            body: BodyDigest::unhashed(0),
            grpc_status: None,
            latency: Duration::ZERO,
        }
    }

    /// Keeps the header field `name: value` when `spec` compares it (how the mirror client
    /// builds its summary with the same selection as the primary's).
    pub fn observe_header(&mut self, spec: &CompareSpec, name: &[u8], value: &[u8]) {
        if spec.compares_header(name) {
            self.headers.push(HeaderField {
                name: name.to_ascii_lowercase().into_boxed_slice(),
                value: shadowtap_wire::http1::token::trim_ows(value).into(),
            });
        }
    }

    /// Heap and inline bytes held, for the pending-pair budget.
    pub fn held_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.headers.capacity() * std::mem::size_of::<HeaderField>()
            + self
                .headers
                .iter()
                .map(|h| h.name.len() + h.value.len())
                .sum::<usize>()
            + self.body.heap_bytes()
            + self.grpc_status.as_ref().map_or(0, |g| g.len())
    }

    /// Notes a `grpc-status` field (a trailer, or a trailers-only response's head): the
    /// last one seen counts.
    pub fn observe_grpc_status(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(GRPC_STATUS) {
            self.grpc_status = Some(shadowtap_wire::http1::token::trim_ows(value).into());
        }
    }
}

/// The field gRPC carries a call's status in.
pub const GRPC_STATUS: &[u8] = b"grpc-status";
