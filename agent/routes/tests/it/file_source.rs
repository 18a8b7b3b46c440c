use std::time::Duration;

use shadowtap_routes::{load_path, FileEvent, FileSourceError, FileWatch, StrictError};

use crate::util::fixture;

const MISSPELT: &str = "apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bad-route
  namespace: team
spec:
  rules:
  - filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {name: foo-v2, port: 8080}
        percnt: 42
";

#[test]
fn misspelt_field_is_an_error_naming_file_object_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, MISSPELT).unwrap();
    let err = load_path(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("routes.yaml"), "{msg}");
    assert!(msg.contains("HTTPRoute team/bad-route"), "{msg}");
    assert!(
        msg.contains("spec.rules[0].filters[0].requestMirror.percnt"),
        "{msg}"
    );
    assert!(matches!(
        err,
        FileSourceError::Object {
            source: StrictError::UnknownFields { .. },
            ..
        }
    ));
}

#[test]
fn unknown_kind_and_duplicates_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    )
    .unwrap();
    assert!(matches!(
        load_path(dir.path()),
        Err(FileSourceError::Object {
            source: StrictError::UnsupportedKind { .. },
            ..
        })
    ));
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n";
    std::fs::write(dir.path().join("a.yaml"), format!("{svc}---\n{svc}")).unwrap();
    assert!(matches!(
        load_path(dir.path()),
        Err(FileSourceError::Duplicate { .. })
    ));
}

#[test]
fn fixtures_load_strictly() {
    for f in [
        "foo-route-42.yaml",
        "announcement-gateway-42.yaml",
        "announcement-fraction-5-1000.yaml",
        "conformance-mirror.yaml",
    ] {
        load_path(&fixture(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    let all = load_path(&fixture("foo-route-42.yaml")).unwrap();
    assert_eq!(
        (
            all.routes.len(),
            all.services.len(),
            all.endpoint_slices.len(),
            all.pods.len()
        ),
        (1, 2, 2, 3)
    );
}

#[test]
fn watch_reloads_and_keeps_last_good_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    let good = std::fs::read_to_string(fixture("foo-route-42.yaml")).unwrap();
    std::fs::write(&path, &good).unwrap();
    let mut w = FileWatch::new(dir.path()).unwrap();
    assert!(w.poll().is_none());
    let before = w.current();
    std::fs::write(&path, good.replace("percent: 42", "percnt: 42")).unwrap();
    match w.poll() {
        Some(FileEvent::Rejected(e)) => assert!(e.to_string().contains("percnt"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.current(), before, "previous good store kept");
    std::fs::write(&path, good.replace("percent: 42", "percent: 10")).unwrap();
    match w.poll() {
        Some(FileEvent::Reloaded(s)) => assert_ne!(s, before),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn spawned_watch_sends_new_stores_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    let good = std::fs::read_to_string(fixture("foo-route-42.yaml")).unwrap();
    std::fs::write(&path, &good).unwrap();
    let (mut stores, mut errors, task) = FileWatch::new(&path)
        .unwrap()
        .spawn(Duration::from_millis(10));
    std::fs::write(&path, good.replace("percent: 42", "percnt: 42")).unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), errors.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(e.to_string().contains("percnt"));
    std::fs::write(&path, good.replace("percent: 42", "percent: 7")).unwrap();
    tokio::time::timeout(Duration::from_secs(5), stores.changed())
        .await
        .unwrap()
        .unwrap();
    let route = stores
        .borrow()
        .routes
        .values()
        .next()
        .map(|r| (**r).clone())
        .unwrap();
    let rules = route.spec.rules.unwrap();
    let f = rules[0].filters.as_ref().unwrap()[0]
        .request_mirror
        .as_ref()
        .unwrap()
        .percent;
    assert_eq!(f, Some(7));
    task.abort();
}

/// The YAML reader itself is strict too: a key given twice in one mapping is an error naming
/// the file and the key, never "the last one wins".
#[test]
fn duplicate_keys_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.yaml");
    let good = std::fs::read_to_string(fixture("foo-route-42.yaml")).unwrap();
    std::fs::write(
        &path,
        good.replace("percent: 42", "percent: 42\n        percent: 7"),
    )
    .unwrap();
    let err = load_path(&path).unwrap_err();
    assert!(matches!(err, FileSourceError::Yaml { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("dup.yaml"), "{msg}");
    assert!(
        msg.contains("duplicate entry with key \"percent\""),
        "{msg}"
    );
}

/// GRPCRoute documents load from the same YAML files as HTTPRoutes, strictly: a misspelt
/// field of a GRPCRoute is an error naming it.
#[test]
fn grpcroutes_load_from_the_same_files_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = "apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: rpc
  namespace: team
spec:
  rules:
  - matches:
    - method: {service: pkg.Svc, method: Get}
    filters:
    - type: RequestMirror
      requestMirror:
        backendRef: {name: foo-v2, port: 8080}
        percent: 42
";
    let http = MISSPELT
        .replace("percnt", "percent")
        .replace("bad-route", "web");
    std::fs::write(dir.path().join("routes.yaml"), format!("{http}---\n{grpc}")).unwrap();
    let store = load_path(dir.path()).unwrap();
    assert_eq!((store.routes.len(), store.grpc_routes.len()), (1, 1));
    let g = store.grpc_routes.values().next().unwrap();
    let m = g.spec.rules.as_ref().unwrap()[0].matches.as_ref().unwrap()[0]
        .method
        .as_ref()
        .unwrap();
    assert_eq!(
        (m.service.as_deref(), m.method.as_deref()),
        (Some("pkg.Svc"), Some("Get"))
    );

    std::fs::write(
        dir.path().join("routes.yaml"),
        grpc.replace("method: {service", "method: {srvice"),
    )
    .unwrap();
    let err = load_path(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("GRPCRoute team/rpc"), "{msg}");
    assert!(
        msg.contains("spec.rules[0].matches[0].method.srvice"),
        "{msg}"
    );
}
