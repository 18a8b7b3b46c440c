//! A GRPCRoute's fields that share HTTPRoute's schema, read through the HTTPRoute code.
//!
//! `metadata`, `spec.parentRefs`, `spec.hostnames`, `status.parents`, and each rule's
//! `backendRefs`, `filters` and `name` have the same fields in GRPCRoute and HTTPRoute
//! (gateway.networking.k8s.io/v1; GRPCRoute's filter types are a subset of HTTPRoute's),
//! but the generated Rust types are distinct. Rather than a second copy of the parentRef,
//! backendRef, ReferenceGrant and RequestMirror code (`parents.rs`, `references.rs`,
//! `mirror_spec.rs`, `filter_order.rs`), a GRPCRoute is converted once into an HTTPRoute
//! holding exactly those fields (rule matches left out: GRPCRoute matches are compiled
//! from the GRPCRoute itself, in `grpc_matches.rs`), and the shared code reads that. Rule
//! indexes are kept, so field paths in problems are the GRPCRoute's own.

use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use serde_json::Value;

/// The HTTPRoute carrying `route`'s shared fields. `Err` holds the deserialization error's
/// text; it cannot happen for a GRPCRoute the API server or the strict file reader
/// accepted (the shared fields are the same schema), and is reported as a problem if it
/// ever does.
pub fn shared_fields(route: &GrpcRoute) -> Result<HttpRoute, String> {
    let mut v = serde_json::to_value(route).map_err(|e| e.to_string())?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("kind".into(), Value::String("HTTPRoute".into()));
    }
    if let Some(rules) = v.pointer_mut("/spec/rules").and_then(Value::as_array_mut) {
        for rule in rules.iter_mut().filter_map(Value::as_object_mut) {
            rule.remove("matches");
        }
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_shared_field_survives() {
        let grpc: GrpcRoute = yaml_serde::from_str(
            r#"
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: team, labels: {a: b}, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, sectionName: grpc, port: 80}, {group: "", kind: Service, name: svc}]
  hostnames: [grpc.example.com]
  rules:
  - name: first
    matches: [{method: {service: pkg.Svc, method: Get}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x, value: y}]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: v2, port: 9000}, fraction: {numerator: 1, denominator: 8}}
    backendRefs:
    - name: v1
      port: 9000
      weight: 3
      filters:
      - type: RequestMirror
        requestMirror: {backendRef: {name: v3, port: 9000}, percent: 7}
status:
  parents:
  - parentRef: {name: gw}
    controllerName: example.com/gw
    conditions: [{type: Accepted, status: "False", reason: R, message: m, lastTransitionTime: "2026-01-01T00:00:00Z"}]
"#,
        )
        .unwrap();
        let http = shared_fields(&grpc).unwrap();
        assert_eq!(http.metadata, grpc.metadata);
        let refs = http.spec.parent_refs.as_ref().unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].section_name.as_deref(), Some("grpc"));
        assert_eq!(refs[0].port, Some(80));
        assert_eq!(refs[1].kind.as_deref(), Some("Service"));
        assert_eq!(http.spec.hostnames, grpc.spec.hostnames);
        let rule = &http.spec.rules.as_ref().unwrap()[0];
        assert_eq!(rule.name.as_deref(), Some("first"));
        assert!(rule.matches.is_none());
        let filters = rule.filters.as_ref().unwrap();
        assert_eq!(filters.len(), 2);
        let m = filters[1].request_mirror.as_ref().unwrap();
        assert_eq!(m.backend_ref.name, "v2");
        assert_eq!(
            m.fraction.as_ref().map(|f| (f.numerator, f.denominator)),
            Some((1, Some(8)))
        );
        let b = &rule.backend_refs.as_ref().unwrap()[0];
        assert_eq!(
            (b.name.as_str(), b.port, b.weight),
            ("v1", Some(9000), Some(3))
        );
        let bm = b.filters.as_ref().unwrap()[0]
            .request_mirror
            .as_ref()
            .unwrap();
        assert_eq!((bm.backend_ref.name.as_str(), bm.percent), ("v3", Some(7)));
        let st = &http.status.as_ref().unwrap().parents[0];
        assert_eq!(st.controller_name, "example.com/gw");
        assert_eq!(st.conditions[0].status, "False");
    }
}
