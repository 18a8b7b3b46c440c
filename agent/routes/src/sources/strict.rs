//! Strict reading of Kubernetes objects from YAML/JSON values.
//!
//! The generated types ignore unknown fields, so `percnt: 42` would silently become "neither
//! percent nor fraction set" = 100 %. Here every object is deserialized, serialized back, and any
//! key present in the input but absent from the round trip is reported as unknown, with its
//! field path. Keys whose input value is `null` are accepted (they mean "unset").

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::model::{Object, DEFAULT_NAMESPACE, GATEWAY_GROUP};

/// Why one object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StrictError {
    /// The document is not a mapping with `apiVersion` and `kind`.
    #[error("not a Kubernetes object (missing apiVersion or kind)")]
    NotAnObject,
    /// A kind (or apiVersion) the store does not hold.
    #[error("unsupported object {api_version} {kind}")]
    UnsupportedKind {
        /// apiVersion as written.
        api_version: String,
        /// kind as written.
        kind: String,
    },
    /// The object does not match its type.
    #[error("invalid {kind}: {source}")]
    Invalid {
        /// Kind of the object.
        kind: &'static str,
        /// Deserialization error.
        #[source]
        source: serde_json::Error,
    },
    /// Fields the type does not have (misspelt or unknown).
    #[error("unknown field{} {}", if fields.len() == 1 { "" } else { "s" }, fields.join(", "))]
    UnknownFields {
        /// Field paths, e.g. `spec.rules[0].filters[0].requestMirror.percnt`.
        fields: Vec<String>,
    },
    /// Re-serialization failed (should not happen for the supported kinds).
    #[error("cannot re-serialize {kind}: {source}")]
    Roundtrip {
        /// Kind of the object.
        kind: &'static str,
        /// Serialization error.
        #[source]
        source: serde_json::Error,
    },
}

/// `(kind, namespace/name)` of a raw document, for error messages.
pub(super) fn describe(value: &Value) -> String {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("?");
    let meta = value.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    let ns = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_NAMESPACE);
    format!("{kind} {ns}/{name}")
}

/// Reads one object strictly. The namespace defaults to [`DEFAULT_NAMESPACE`]; Gateway API
/// kinds are accepted as `v1` or `v1beta1` (same schema).
pub(super) fn parse_object(mut value: Value) -> Result<Object, StrictError> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or(StrictError::NotAnObject)?
        .to_owned();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(StrictError::NotAnObject)?
        .to_owned();
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        if meta.get("namespace").is_none_or(Value::is_null) {
            meta.insert("namespace".into(), Value::String(DEFAULT_NAMESPACE.into()));
        }
    }
    let gateway_version = api_version
        .strip_prefix(GATEWAY_GROUP)
        .and_then(|v| v.strip_prefix('/'));
    if matches!(gateway_version, Some("v1" | "v1beta1")) {
        if let Some(obj) = value.as_object_mut() {
            obj.insert(
                "apiVersion".into(),
                Value::String(format!("{GATEWAY_GROUP}/v1")),
            );
        }
    }
    let unsupported = || StrictError::UnsupportedKind {
        api_version: api_version.clone(),
        kind: kind.clone(),
    };
    match (api_version.as_str(), kind.as_str()) {
        (_, "HTTPRoute") if gateway_version.is_some() => {
            strict::<gateway_api::apis::standard::httproutes::HttpRoute>("HTTPRoute", value)
                .map(|o| Object::HttpRoute(Box::new(o)))
        }
        (_, "GRPCRoute") if gateway_version.is_some() => {
            strict::<gateway_api::apis::standard::grpcroutes::GrpcRoute>("GRPCRoute", value)
                .map(|o| Object::GrpcRoute(Box::new(o)))
        }
        (_, "Gateway") if gateway_version.is_some() => {
            strict::<gateway_api::apis::standard::gateways::Gateway>("Gateway", value)
                .map(|o| Object::Gateway(Box::new(o)))
        }
        (_, "ReferenceGrant") if gateway_version.is_some() => strict::<
            gateway_api::apis::standard::referencegrants::ReferenceGrant,
        >("ReferenceGrant", value)
        .map(|o| Object::ReferenceGrant(Box::new(o))),
        ("v1", "Service") => strict::<k8s_openapi::api::core::v1::Service>("Service", value)
            .map(|o| Object::Service(Box::new(o))),
        ("v1", "Pod") => strict::<k8s_openapi::api::core::v1::Pod>("Pod", value)
            .map(|o| Object::Pod(Box::new(o))),
        ("v1", "Namespace") => strict::<k8s_openapi::api::core::v1::Namespace>("Namespace", value)
            .map(|o| Object::Namespace(Box::new(o))),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            strict::<k8s_openapi::api::discovery::v1::EndpointSlice>("EndpointSlice", value)
                .map(|o| Object::EndpointSlice(Box::new(o)))
        }
        _ => Err(unsupported()),
    }
}

/// Deserializes `value` as `T`, rejecting fields `T` does not have.
fn strict<T: DeserializeOwned + Serialize>(
    kind: &'static str,
    value: Value,
) -> Result<T, StrictError> {
    let typed: T = serde_json::from_value(value.clone())
        .map_err(|source| StrictError::Invalid { kind, source })?;
    let back =
        serde_json::to_value(&typed).map_err(|source| StrictError::Roundtrip { kind, source })?;
    let mut fields = Vec::new();
    unknown_fields(&value, &back, "", &mut fields);
    if fields.is_empty() {
        Ok(typed)
    } else {
        Err(StrictError::UnknownFields { fields })
    }
}

/// Collects the paths of keys in `input` missing from `roundtrip`.
pub fn unknown_fields(input: &Value, roundtrip: &Value, path: &str, out: &mut Vec<String>) {
    match (input, roundtrip) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(bv) => unknown_fields(v, bv, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                unknown_fields(av, bv, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Object(_), _) => out.push(path.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn misspelt_mirror_field_is_named() {
        let v = json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r"},
            "spec": {"rules": [{"filters": [{"type": "RequestMirror",
                "requestMirror": {"backendRef": {"name": "b", "port": 80}, "percnt": 42}}]}]}
        });
        let err = parse_object(v).unwrap_err().to_string();
        assert!(
            err.contains("spec.rules[0].filters[0].requestMirror.percnt"),
            "{err}"
        );
    }

    #[test]
    fn nulls_and_empties_are_accepted() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "s", "labels": {}, "annotations": null},
            "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {}}
        });
        assert!(parse_object(v).is_ok());
    }

    #[test]
    fn unknown_kind_is_rejected() {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}});
        assert!(matches!(
            parse_object(v),
            Err(StrictError::UnsupportedKind { .. })
        ));
    }

    #[test]
    fn v1beta1_gateway_kinds_are_read() {
        let v = json!({
            "apiVersion": "gateway.networking.k8s.io/v1beta1",
            "kind": "ReferenceGrant",
            "metadata": {"name": "g", "namespace": "b"},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                "namespace": "a"}], "to": [{"group": "", "kind": "Service"}]}
        });
        assert!(matches!(parse_object(v), Ok(Object::ReferenceGrant(_))));
    }
}
