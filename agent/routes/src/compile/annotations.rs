//! Per-route options given as annotations on the HTTPRoute.
//!
//! | annotation | value | effect |
//! |---|---|---|
//! | `shadowtap.dev/mirror-host` | a host name | replayed requests carry this `Host` instead of the client's |
//! | `shadowtap.dev/mirror-remove-headers` | comma-separated header names | those headers are removed from replayed requests (e.g. `Authorization, Cookie`) |
//! | `shadowtap.dev/flow-sampling` | `"true"` | the kernel may pre-sample flows at the endpoints this route mirrors from (effective when every mirroring route there asks for it, or with `--flow-sampling`) |

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::MirrorOptions;

/// Host rewrite annotation.
pub const MIRROR_HOST: &str = "shadowtap.dev/mirror-host";
/// Header removal annotation.
pub const MIRROR_REMOVE_HEADERS: &str = "shadowtap.dev/mirror-remove-headers";
/// Flow sampling annotation.
pub const FLOW_SAMPLING: &str = "shadowtap.dev/flow-sampling";

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
