//! Comparison of a mirrored request's responses, the mirror's side: a [`CompareTicket`]
//! rides on the request through the queue; the response is read with shadowtap-compare's
//! framer (the same rules that frame the primary's), summarised with the route's
//! [`CompareSpec`], and reported once — the summary, or [`MirrorResult::Failed`] when the
//! request is dropped or its exchange fails, wherever that happens.

use std::sync::{Arc, Mutex};

use bytes::{Buf, BytesMut};
use shadowtap_compare::{
    CompareSpec, FrameError, FrameProgress, MirrorResult, PairId, ResponseFramer,
};
use shadowtap_wire::http1::{FinalResponse, ResponseLimits};
use tokio::io::AsyncRead;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::error::ExchangeError;
use crate::reader::{fill, Answer};

/// What the mirror client reports for a compared request.
pub type MirrorReport = (PairId, MirrorResult);

#[derive(Debug)]
struct Ticket {
    pair: PairId,
    spec: Arc<CompareSpec>,
    /// Taken by the first report; a ticket dropped unreported reports `Failed`.
    reply: Mutex<Option<UnboundedSender<MirrorReport>>>,
}

impl Ticket {
    fn report(&self, result: MirrorResult) {
        let tx = self.reply.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            // The receiver is gone only when the agent stops: nothing to compare then.
            let _ = tx.send((self.pair, result));
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.report(MirrorResult::Failed);
    }
}

/// The comparison a mirrored request takes part in: its pair, its route's settings and
/// where the result goes. Clones share one report: the first result is sent, and when
/// the last clone goes without one, [`MirrorResult::Failed`] is (a request dropped from
/// the queue, a shutdown, an exchange that failed).
#[derive(Clone, Debug)]
pub struct CompareTicket(Arc<Ticket>);

impl PartialEq for CompareTicket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CompareTicket {}

impl CompareTicket {
    /// A ticket for `pair`, summarising with `spec`, reporting on `reply`.
    pub fn new(pair: PairId, spec: Arc<CompareSpec>, reply: UnboundedSender<MirrorReport>) -> Self {
        CompareTicket(Arc::new(Ticket {
            pair,
            spec,
            reply: Mutex::new(Some(reply)),
        }))
    }

    /// The pair.
    pub fn pair(&self) -> PairId {
        self.0.pair
    }

    /// The route's comparison settings.
    pub fn spec(&self) -> &Arc<CompareSpec> {
        &self.0.spec
    }

    /// Reports the result (only the first report of a ticket and its clones counts).
    pub fn report(&self, result: MirrorResult) {
        self.0.report(result);
    }
}

/// Reads one complete response (interim responses skipped) like
/// [`read_response`](crate::reader::read_response), and summarises it with `spec`; its
/// latency runs from `sent` to the final response's first byte. A response that ends
/// the connection is reported as not announced (the caller then never re-sends later
/// requests, the safe side).
pub(crate) async fn read_compared_response<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    request_is_head: bool,
    spec: Arc<CompareSpec>,
    limits: ResponseLimits,
    sent: Instant,
) -> Result<(Answer, shadowtap_compare::ResponseSummary), ExchangeError> {
    let mut framer = ResponseFramer::new(request_is_head, false, Some(spec), 0, limits);
    let mut any = !buf.is_empty();
    let ns = |at: Instant| u64::try_from(at.duration_since(sent).as_nanos()).unwrap_or(u64::MAX);
    let mut at_ns = ns(Instant::now());
    loop {
        match framer.feed(buf, at_ns).map_err(bad)? {
            FrameProgress::Complete { consumed, response } => {
                buf.advance(consumed);
                return finished(response);
            }
            FrameProgress::NeedMore { consumed } => buf.advance(consumed),
        }
        let n = fill(rd, buf).await?;
        at_ns = ns(Instant::now());
        if n == 0 {
            return match framer.end_of_stream(true) {
                Some(response) => finished(response),
                None if !any => Err(ExchangeError::ClosedBeforeAnswer),
                None => Err(ExchangeError::Closed),
            };
        }
        any = true;
    }
}

fn bad(e: FrameError) -> ExchangeError {
    match e {
        FrameError::Response { source } => ExchangeError::BadResponse { source },
        // Only the primary's capture elides bytes; a socket never does.
        FrameError::ElidedFraming => ExchangeError::Closed,
    }
}

fn finished(
    response: shadowtap_compare::Framed,
) -> Result<(Answer, shadowtap_compare::ResponseSummary), ExchangeError> {
    let reusable = response.reusable && !response.ends_http1;
    let summary = response
        .summary
        .unwrap_or_else(|| shadowtap_compare::ResponseSummary::new(response.status));
    Ok((
        Answer {
            response: FinalResponse {
                status: response.status,
                reusable,
            },
            announces_close: false,
        },
        summary,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shadowtap_compare::CompareMode;

    #[tokio::test]
    async fn summarises_with_the_route_settings() {
        let input: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Type: a/b\r\nDate: x\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n";
        let mut rd = input;
        let mut buf = BytesMut::new();
        let spec = Arc::new(CompareSpec::new(CompareMode::Body));
        let (answer, summary) = read_compared_response(
            &mut rd,
            &mut buf,
            false,
            spec,
            ResponseLimits::default(),
            Instant::now(),
        )
        .await
        .expect("a response");
        assert_eq!(
            answer.response,
            FinalResponse {
                status: 201,
                reusable: true
            }
        );
        assert_eq!(summary.status, 201);
        assert_eq!(summary.headers.len(), 1, "{:?}", summary.headers);
        assert_eq!(&*summary.headers[0].name, b"content-type");
        assert_eq!(summary.body.len, 3);
        assert!(summary.body.content.is_some(), "hashed in the body mode");
        assert_eq!(
            &buf[..],
            b"HTTP/1.1 200 OK\r\n",
            "the next response stays unread"
        );
    }

    #[tokio::test]
    async fn truncated_bad_and_close_delimited() {
        let spec = Arc::new(CompareSpec::new(CompareMode::Status));
        let read = |input: &'static [u8]| {
            let spec = spec.clone();
            async move {
                let mut rd = input;
                let mut buf = BytesMut::new();
                read_compared_response(
                    &mut rd,
                    &mut buf,
                    false,
                    spec,
                    ResponseLimits::default(),
                    Instant::now(),
                )
                .await
            }
        };
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").await,
            Err(ExchangeError::Closed)
        ));
        assert!(matches!(
            read(b"").await,
            Err(ExchangeError::ClosedBeforeAnswer)
        ));
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").await,
            Err(ExchangeError::BadResponse { .. })
        ));
        let (a, s) = read(b"HTTP/1.1 500 Oops\r\n\r\nuntil close")
            .await
            .expect("close-delimited");
        assert_eq!(
            (a.response.status, a.response.reusable, s.status),
            (500, false, 500)
        );
    }

    #[test]
    fn a_ticket_reports_once_and_failed_when_dropped_unreported() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let spec = Arc::new(CompareSpec::new(CompareMode::Status));
        let t = CompareTicket::new(PairId(1), spec.clone(), tx.clone());
        let clone = t.clone();
        t.report(MirrorResult::Response(
            shadowtap_compare::ResponseSummary::new(200),
        ));
        clone.report(MirrorResult::Failed);
        drop((t, clone));
        assert_eq!(
            rx.try_recv().expect("one report"),
            (
                PairId(1),
                MirrorResult::Response(shadowtap_compare::ResponseSummary::new(200))
            )
        );
        assert!(rx.try_recv().is_err(), "reported once");
        let t = CompareTicket::new(PairId(2), spec, tx);
        let clone = t.clone();
        drop(t);
        assert!(rx.try_recv().is_err(), "a clone still holds it");
        drop(clone);
        assert_eq!(
            rx.try_recv().expect("failed"),
            (PairId(2), MirrorResult::Failed)
        );
    }
}
