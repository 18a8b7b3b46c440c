//! The comparison of a primary response summary with a mirror response summary.
//!
//! In order, the first that holds decides the outcome: the status classes differ
//! (`status_class_differs`), the statuses differ (`status_differs`), in the headers and body
//! modes a compared header field differs (`headers_differ`), in the body mode the bodies'
//! lengths or hashes differ (`body_differs`); else `same`. Whatever the outcome, the first
//! differing header field and body offset are reported when the mode compares them.
//!
//! Header fields: names compare case-insensitively; the order of fields with different
//! names does not matter (RFC 9110 §5.3), the order of the values of one name does. The
//! first differing field is the one whose name sorts first among those that differ.

use std::collections::BTreeMap;

use crate::digest::{first_difference, BodyOffset};
use crate::outcome::Outcome;
use crate::spec::CompareSpec;
use crate::summary::ResponseSummary;

/// The first differing header field: its name and each side's values (joined with `, `),
/// `None` on the side that lacks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderDifference {
    /// The name, in lower case.
    pub name: Box<[u8]>,
    /// The primary's values.
    pub primary: Option<Vec<u8>>,
    /// The mirror's values.
    pub mirror: Option<Vec<u8>>,
}

/// What the comparison found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// The outcome.
    pub outcome: Outcome,
    /// The first differing header field (headers and body modes).
    pub header: Option<HeaderDifference>,
    /// Where the bodies first differ (body mode).
    pub body: Option<BodyOffset>,
    /// In the body mode, whether both bodies were hashed (else only lengths were compared).
    pub body_hashed: bool,
}

/// Compares a primary and a mirror response as the route's `spec` says.
pub fn compare(
    spec: &CompareSpec,
    primary: &ResponseSummary,
    mirror: &ResponseSummary,
) -> Comparison {
    let mode = spec.mode();
    let header = if mode.headers() {
        first_header_difference(spec, primary, mirror)
    } else {
        None
    };
    let (body, body_hashed) = if mode.body() {
        (
            first_difference(&primary.body, &mirror.body),
            primary.body.content.is_some() && mirror.body.content.is_some(),
        )
    } else {
        (None, false)
    };
    let outcome = if primary.status / 100 != mirror.status / 100 {
        Outcome::StatusClassDiffers
    } else if primary.status != mirror.status || primary.grpc_status != mirror.grpc_status {
        Outcome::StatusDiffers
    } else if header.is_some() {
        Outcome::HeadersDiffer
    } else if body.is_some() {
        Outcome::BodyDiffers
    } else {
        Outcome::Same
    };
    Comparison {
        outcome,
        header,
        body,
        body_hashed,
    }
}

/// The compared fields of one side: name → values in order.
fn fields<'a>(spec: &CompareSpec, s: &'a ResponseSummary) -> BTreeMap<&'a [u8], Vec<&'a [u8]>> {
    let mut map: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
    for h in &s.headers {
        // Summaries keep names in lower case; the selection is applied again so that a
        // summary built without it compares the same.
        if spec.compares_header(&h.name) {
            map.entry(&h.name).or_default().push(&h.value);
        }
    }
    map
}

fn first_header_difference(
    spec: &CompareSpec,
    primary: &ResponseSummary,
    mirror: &ResponseSummary,
) -> Option<HeaderDifference> {
    let p = fields(spec, primary);
    let m = fields(spec, mirror);
    let mut names: Vec<&[u8]> = p.keys().chain(m.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().find_map(|name| {
        let (pv, mv) = (p.get(name), m.get(name));
        (pv != mv).then(|| HeaderDifference {
            name: name.into(),
            primary: pv.map(|v| v.join(&b", "[..])),
            mirror: mv.map(|v| v.join(&b", "[..])),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::BodyDigest;
    use crate::spec::CompareMode;
    use crate::summary::HeaderField;

    fn summary(status: u16, headers: &[(&str, &str)], body: &[u8]) -> ResponseSummary {
        ResponseSummary {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| HeaderField {
                    name: n.to_ascii_lowercase().into_bytes().into(),
                    value: v.as_bytes().into(),
                })
                .collect(),
            body: BodyDigest::of(body),
            grpc_status: None,
            latency: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn a_differing_grpc_status_is_a_status_difference() {
        let status = CompareSpec::new(CompareMode::Status);
        let mut ok = summary(200, &[], b"");
        ok.observe_grpc_status(b"grpc-status", b"0");
        let mut not_found = summary(200, &[], b"");
        not_found.observe_grpc_status(b"Grpc-Status", b" 5 ");
        assert_eq!(not_found.grpc_status.as_deref(), Some(&b"5"[..]));
        assert_eq!(compare(&status, &ok, &ok).outcome, Outcome::Same);
        assert_eq!(
            compare(&status, &ok, &not_found).outcome,
            Outcome::StatusDiffers
        );
        // Present on one side only.
        let plain = summary(200, &[], b"");
        assert_eq!(
            compare(&status, &ok, &plain).outcome,
            Outcome::StatusDiffers
        );
        // The HTTP status class still comes first.
        let mut failed = summary(503, &[], b"");
        failed.observe_grpc_status(b"grpc-status", b"14");
        assert_eq!(
            compare(&status, &ok, &failed).outcome,
            Outcome::StatusClassDiffers
        );
    }

    #[test]
    fn every_compared_outcome() {
        let body = CompareSpec::new(CompareMode::Body);
        let a = summary(
            200,
            &[("content-type", "text/plain"), ("date", "x")],
            b"hello",
        );
        let cases = [
            (
                summary(
                    200,
                    &[("content-type", "text/plain"), ("date", "y")],
                    b"hello",
                ),
                Outcome::Same,
            ),
            (summary(500, &[], b""), Outcome::StatusClassDiffers),
            (
                summary(201, &[("content-type", "text/plain")], b"hello"),
                Outcome::StatusDiffers,
            ),
            (
                summary(200, &[("content-type", "text/html")], b"hello"),
                Outcome::HeadersDiffer,
            ),
            (
                summary(200, &[("content-type", "text/plain")], b"hellO"),
                Outcome::BodyDiffers,
            ),
        ];
        for (m, want) in cases {
            assert_eq!(compare(&body, &a, &m).outcome, want, "{m:?}");
        }
    }

    #[test]
    fn modes_limit_what_is_compared() {
        let a = summary(200, &[("content-type", "text/plain")], b"hello");
        let b = summary(200, &[("content-type", "text/html")], b"bye");
        let status = CompareSpec::new(CompareMode::Status);
        let headers = CompareSpec::new(CompareMode::Headers);
        let body = CompareSpec::new(CompareMode::Body);
        assert_eq!(compare(&status, &a, &b).outcome, Outcome::Same);
        let c = compare(&headers, &a, &b);
        assert_eq!(c.outcome, Outcome::HeadersDiffer);
        assert_eq!(c.body, None);
        let c = compare(&body, &a, &b);
        assert_eq!(c.outcome, Outcome::HeadersDiffer);
        assert_eq!(c.body, Some(BodyOffset { from: 0, to: 4 }));
        assert!(c.body_hashed);
        // The status decides first, but the differences are still reported.
        let d = summary(404, &[], b"hello");
        let c = compare(&body, &a, &d);
        assert_eq!(c.outcome, Outcome::StatusClassDiffers);
        assert_eq!(
            c.header.map(|h| h.name),
            Some(b"content-type".to_vec().into())
        );
    }

    #[test]
    fn header_order_and_case() {
        let spec = CompareSpec::new(CompareMode::Headers);
        let a = summary(200, &[("A", "1"), ("B", "2"), ("A", "3")], b"");
        let same = summary(200, &[("b", "2"), ("a", "1"), ("a", "3")], b"");
        assert_eq!(compare(&spec, &a, &same).outcome, Outcome::Same);
        let swapped = summary(200, &[("a", "3"), ("b", "2"), ("a", "1")], b"");
        let c = compare(&spec, &a, &swapped);
        assert_eq!(
            c.header,
            Some(HeaderDifference {
                name: b"a".to_vec().into(),
                primary: Some(b"1, 3".to_vec()),
                mirror: Some(b"3, 1".to_vec()),
            })
        );
        let extra = summary(200, &[("a", "1"), ("b", "2"), ("a", "3"), ("c", "x")], b"");
        let c = compare(&spec, &a, &extra);
        assert_eq!(
            c.header.as_ref().map(|h| (&h.primary, &h.mirror)),
            Some((&None, &Some(b"x".to_vec())))
        );
        // Framing fields never count: chunked against Content-Length.
        let te = summary(
            200,
            &[
                ("a", "1"),
                ("b", "2"),
                ("a", "3"),
                ("Transfer-Encoding", "chunked"),
            ],
            b"",
        );
        assert_eq!(compare(&spec, &a, &te).outcome, Outcome::Same);
    }

    #[test]
    fn unhashed_bodies_compare_by_length() {
        let spec = CompareSpec::new(CompareMode::Body);
        let mut a = summary(200, &[], b"abc");
        a.body = BodyDigest::unhashed(3);
        let b = summary(200, &[], b"xyz");
        let c = compare(&spec, &a, &b);
        assert_eq!((c.outcome, c.body_hashed), (Outcome::Same, false));
        let b = summary(200, &[], b"xyzw");
        assert_eq!(compare(&spec, &a, &b).outcome, Outcome::BodyDiffers);
    }
}
