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

/// The options a route's annotations ask for. Empty or malformed values are ignored.
pub fn mirror_options(meta: &ObjectMeta) -> MirrorOptions {
    let Some(a) = meta.annotations.as_ref() else {
        return MirrorOptions::default();
    };
    let host = a
        .get(MIRROR_HOST)
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()));
    let mut remove_headers: Vec<String> = a
        .get(MIRROR_REMOVE_HEADERS)
        .map(|v| {
            v.split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
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
}
