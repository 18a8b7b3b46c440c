//! Per-route options given as annotations on the HTTPRoute.
//!
//! | annotation | value | effect |
//! |---|---|---|
//! | `shadowtap.dev/mirror-host` | a host name | replayed requests carry this `Host` instead of the client's |
//! | `shadowtap.dev/mirror-remove-headers` | comma-separated header names | those headers are removed from replayed requests (e.g. `Authorization, Cookie`) |
//! | `shadowtap.dev/flow-sampling` | `"true"` | the kernel may pre-sample flows at the endpoints this route mirrors from (effective when every mirroring route there asks for it, or with `--flow-sampling`) |
//! | `shadowtap.dev/compare` | `status`, `headers` or `body` | the primary's responses are captured and compared with the mirror's (off by default) |
//! | `shadowtap.dev/compare-ignore-headers` | comma-separated header names | compared headers leave these out, on top of the defaults (`date`, `server`, request ids, tracing) |

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use shadowtap_compare::{CompareMode, HeaderNames};

use crate::model::{CompareSetting, MirrorOptions};

/// Host rewrite annotation.
pub const MIRROR_HOST: &str = "shadowtap.dev/mirror-host";
/// Header removal annotation.
pub const MIRROR_REMOVE_HEADERS: &str = "shadowtap.dev/mirror-remove-headers";
/// Flow sampling annotation.
pub const FLOW_SAMPLING: &str = "shadowtap.dev/flow-sampling";
/// Comparison annotation: `status`, `headers` or `body`.
pub const COMPARE: &str = "shadowtap.dev/compare";
/// Header names the comparison ignores, on top of the defaults.
pub const COMPARE_IGNORE_HEADERS: &str = "shadowtap.dev/compare-ignore-headers";

/// What is wrong with a route's comparison annotations: the annotation and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareProblem {
    /// The annotation's name.
    pub annotation: &'static str,
    /// What is wrong, and what shadowtap does instead.
    pub detail: String,
}

/// The comparison a route asks for, and the problems of its annotations. An unknown mode
/// turns comparison off for the route; an invalid header name in the ignore list is left
/// out, the others apply. An ignore list without a mode is reported and has no effect.
pub fn compare_setting(meta: &ObjectMeta) -> (Option<CompareSetting>, Vec<CompareProblem>) {
    let mut problems = Vec::new();
    let Some(a) = meta.annotations.as_ref() else {
        return (None, problems);
    };
    let mode = match a.get(COMPARE).map(|v| v.trim()) {
        None => None,
        Some(v) => match CompareMode::parse(&v.to_ascii_lowercase()) {
            Ok(m) => Some(m),
            Err(e) => {
                problems.push(CompareProblem {
                    annotation: COMPARE,
                    detail: format!("{e}: the route does not compare"),
                });
                None
            }
        },
    };
    let mut ignore_headers = Vec::new();
    if let Some(list) = a.get(COMPARE_IGNORE_HEADERS) {
        let mut bad = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if HeaderNames::new([name]).is_ok() {
                ignore_headers.push(name.to_ascii_lowercase());
            } else {
                bad.push(format!("{name:?}"));
            }
        }
        if !bad.is_empty() {
            problems.push(CompareProblem {
                annotation: COMPARE_IGNORE_HEADERS,
                detail: format!("not header names (left out): {}", bad.join(", ")),
            });
        }
        if mode.is_none() && a.get(COMPARE).is_none() {
            problems.push(CompareProblem {
                annotation: COMPARE_IGNORE_HEADERS,
                detail: format!("has no effect without {COMPARE}"),
            });
        }
    }
    ignore_headers.sort();
    ignore_headers.dedup();
    let setting = mode.map(|mode| CompareSetting {
        mode,
        ignore_headers,
    });
    (setting, problems)
}

/// Headers that frame or route the request: removing them from a replayed request would
/// change how the mirror reads its body (`content-length`, `transfer-encoding`), which host
/// it is for (`host`; use `shadowtap.dev/mirror-host` instead), or the connection it shares
/// with other replayed requests (`connection`). `shadowtap.dev/mirror-remove-headers` may not
/// name them.
pub const FRAMING_HEADERS: [&str; 4] =
    ["connection", "content-length", "host", "transfer-encoding"];

/// The names in `shadowtap.dev/mirror-remove-headers` that [`FRAMING_HEADERS`] forbids
/// (lowercased, sorted, deduplicated); [`mirror_options`] leaves them out.
pub fn rejected_remove_headers(meta: &ObjectMeta) -> Vec<String> {
    let mut out: Vec<String> = remove_header_names(meta)
        .into_iter()
        .filter(|h| FRAMING_HEADERS.contains(&h.as_str()))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn remove_header_names(meta: &ObjectMeta) -> Vec<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(MIRROR_REMOVE_HEADERS))
        .map(|v| {
            v.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The options a route's annotations ask for. Empty or malformed values are ignored, and so
/// are framing headers in `shadowtap.dev/mirror-remove-headers` (a plan problem, see
/// [`rejected_remove_headers`]).
pub fn mirror_options(meta: &ObjectMeta) -> MirrorOptions {
    let Some(a) = meta.annotations.as_ref() else {
        return MirrorOptions::default();
    };
    let host = a
        .get(MIRROR_HOST)
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()));
    let mut remove_headers: Vec<String> = remove_header_names(meta)
        .into_iter()
        .filter(|h| !FRAMING_HEADERS.contains(&h.as_str()))
        .collect();
    remove_headers.sort();
    remove_headers.dedup();
    let flow_sampling = a
        .get(FLOW_SAMPLING)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    MirrorOptions {
        host,
        remove_headers,
        flow_sampling,
        compare: compare_setting(meta).0,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            annotations: Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn annotations_parse() {
        let o = mirror_options(&meta(&[
            (MIRROR_HOST, " shadow.example "),
            (MIRROR_REMOVE_HEADERS, "Authorization, cookie,,Cookie"),
            (FLOW_SAMPLING, "True"),
        ]));
        assert_eq!(o.host.as_deref(), Some("shadow.example"));
        assert_eq!(o.remove_headers, vec!["authorization", "cookie"]);
        assert!(o.flow_sampling);
        assert!(mirror_options(&ObjectMeta::default()).is_default());
        assert!(!mirror_options(&meta(&[(FLOW_SAMPLING, "yes")])).flow_sampling);
        assert_eq!(mirror_options(&meta(&[(MIRROR_HOST, "  ")])).host, None);
    }

    #[test]
    fn compare_annotations_parse_and_validate() {
        let (s, p) = compare_setting(&meta(&[
            (COMPARE, " Headers "),
            (COMPARE_IGNORE_HEADERS, "ETag, x-build-id,,etag"),
        ]));
        assert!(p.is_empty(), "{p:?}");
        let s = s.expect("comparing");
        assert_eq!(s.mode, CompareMode::Headers);
        assert_eq!(s.ignore_headers, vec!["etag", "x-build-id"]);
        let spec = s.spec();
        assert!(!spec.compares_header(b"ETag") && !spec.compares_header(b"date"));
        assert!(spec.compares_header(b"content-type"));
        assert_eq!(
            mirror_options(&meta(&[(COMPARE, "body")])).compare,
            Some(CompareSetting {
                mode: CompareMode::Body,
                ignore_headers: Vec::new()
            })
        );
        assert_eq!(compare_setting(&ObjectMeta::default()), (None, Vec::new()));

        let (s, p) = compare_setting(&meta(&[(COMPARE, "everything")]));
        assert_eq!(s, None);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].annotation, COMPARE);
        assert!(p[0].detail.contains("everything"), "{}", p[0].detail);

        let (s, p) = compare_setting(&meta(&[
            (COMPARE, "status"),
            (COMPARE_IGNORE_HEADERS, "x ok, x-fine"),
        ]));
        assert_eq!(s.expect("comparing").ignore_headers, vec!["x-fine"]);
        assert_eq!(p.len(), 1);
        assert!(p[0].detail.contains("\"x ok\""), "{}", p[0].detail);

        let (s, p) = compare_setting(&meta(&[(COMPARE_IGNORE_HEADERS, "etag")]));
        assert_eq!(s, None);
        assert!(p[0].detail.contains("no effect"), "{}", p[0].detail);
    }

    #[test]
    fn framing_headers_are_not_removed() {
        let m = meta(&[(
            MIRROR_REMOVE_HEADERS,
            "Content-Length, authorization, Transfer-Encoding, HOST, connection, host",
        )]);
        assert_eq!(mirror_options(&m).remove_headers, vec!["authorization"]);
        assert_eq!(
            rejected_remove_headers(&m),
            vec!["connection", "content-length", "host", "transfer-encoding"]
        );
        assert!(rejected_remove_headers(&meta(&[(MIRROR_REMOVE_HEADERS, "Cookie")])).is_empty());
    }
}
