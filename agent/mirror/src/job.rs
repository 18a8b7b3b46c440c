//! [`Job`]: what the replay queue holds — an HTTP/1 request (replayed byte for byte over
//! pipelined HTTP/1.1 connections) or an HTTP/2 one (replayed as a stream over a
//! multiplexed h2c connection). One queue, one budget, one set of workers for both.

use crate::h2_request::H2MirrorRequest;
use crate::request::MirrorRequest;

/// One queued request of either protocol.
#[derive(Clone, Debug)]
pub(crate) enum Job {
    /// HTTP/1.x.
    Http1(MirrorRequest),
    /// HTTP/2.
    H2(H2MirrorRequest),
}

impl Job {
    /// Bytes charged to the queue budget.
    pub fn len(&self) -> usize {
        match self {
            Job::Http1(r) => r.len(),
            Job::H2(r) => r.len(),
        }
    }

    /// Whether the request ends its HTTP/1 connection (never for HTTP/2).
    pub fn closes_connection(&self) -> bool {
        match self {
            Job::Http1(r) => r.closes_connection(),
            Job::H2(_) => false,
        }
    }

    /// The comparison the request takes part in.
    pub fn compare(&self) -> Option<&crate::CompareTicket> {
        match self {
            Job::Http1(r) => r.compare(),
            Job::H2(r) => r.compare(),
        }
    }

    /// Whether it is replayed over HTTP/2.
    pub fn is_h2(&self) -> bool {
        matches!(self, Job::H2(_))
    }
}
