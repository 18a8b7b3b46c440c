//! The checker itself: the strict reader accepts a valid manifest and rejects misspelt
//! fields, type mismatches and wrong kinds, naming the file, the object and the field — in
//! crafted documents and in the real manifests.

use std::fs;

use crate::deploy::deploy_dir;
use crate::strict::parse_manifests;

const MINIMAL_DAEMONSET: &str = "\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ds
  namespace: ns
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      serviceAccountName: sa
      containers:
        - name: c
          image: i
          ports:
            - containerPort: 9090
";

#[test]
fn checker_accepts_a_minimal_daemonset() {
    let objects = parse_manifests("test.yaml", MINIMAL_DAEMONSET).expect("a valid DaemonSet");
    assert_eq!(objects.len(), 1);
}

#[test]
fn checker_rejects_a_misspelt_daemonset_field() {
    let text = MINIMAL_DAEMONSET.replace("serviceAccountName", "serviceAcountName");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("a misspelt field is rejected");
    for part in [
        "test.yaml",
        "DaemonSet ns/ds",
        "spec.template.spec.serviceAcountName",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }

    // The same mistake in the real manifest.
    let path = deploy_dir().join("base/daemonset.yaml");
    let real = fs::read_to_string(&path).expect("deploy/base/daemonset.yaml is readable");
    assert!(real.contains("serviceAccountName:"));
    let err = parse_manifests(
        "deploy/base/daemonset.yaml",
        &real.replace("serviceAccountName:", "serviceAcountName:"),
    )
    .err()
    .expect("a misspelt field in the real DaemonSet is rejected");
    assert!(
        err.contains("deploy/base/daemonset.yaml")
            && err.contains("spec.template.spec.serviceAcountName"),
        "{err}"
    );
}

#[test]
fn checker_rejects_an_unknown_cluster_role_field() {
    let text = "\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: r
rules:
  - apiGroups: [\"\"]
    resources: [pods]
    verbs: [list]
    resourceNamez: [p]
";
    let err = parse_manifests("role.yaml", text)
        .err()
        .expect("an unknown field is rejected");
    for part in ["role.yaml", "ClusterRole r", "rules[0].resourceNamez"] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn checker_rejects_a_misspelt_example_route_field() {
    let path = deploy_dir().join("examples/httproute-42-percent.yaml");
    let real =
        fs::read_to_string(&path).expect("deploy/examples/httproute-42-percent.yaml is readable");
    assert!(real.contains("percent: 42"));
    let err = parse_manifests("example.yaml", &real.replace("percent: 42", "percnt: 42"))
        .err()
        .expect("a misspelt RequestMirror field is rejected");
    for part in [
        "example.yaml",
        "HTTPRoute default/foo-route",
        "spec.rules[0].filters[0].requestMirror.percnt",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn checker_rejects_a_type_mismatch_naming_the_field() {
    let text = MINIMAL_DAEMONSET.replace("containerPort: 9090", "containerPort: metrics");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("a string port is rejected");
    for part in [
        "test.yaml",
        "DaemonSet ns/ds",
        "spec.template.spec.containers[0].ports[0].containerPort",
    ] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

#[test]
fn checker_rejects_a_wrong_kind() {
    let text = MINIMAL_DAEMONSET.replace("kind: DaemonSet", "kind: Daemonset");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("an unknown kind is rejected");
    assert!(
        err.contains("test.yaml") && err.contains("Daemonset"),
        "{err}"
    );

    // A kind under the apiVersion of another.
    let text = MINIMAL_DAEMONSET.replace("apiVersion: apps/v1", "apiVersion: v1");
    let err = parse_manifests("test.yaml", &text)
        .err()
        .expect("a DaemonSet of apiVersion v1 is rejected");
    assert!(err.contains("DaemonSet ns/ds"), "{err}");
}

#[test]
fn checker_reads_every_document_of_a_file() {
    let text = format!(
        "{MINIMAL_DAEMONSET}---\n{}",
        MINIMAL_DAEMONSET.replace("name: ds", "name: ds2")
    );
    let objects = parse_manifests("two.yaml", &text).expect("two valid documents");
    assert_eq!(objects.len(), 2);
    let bad = format!(
        "{MINIMAL_DAEMONSET}---\n{}",
        MINIMAL_DAEMONSET.replace("name: c", "nme: c")
    );
    let err = parse_manifests("two.yaml", &bad)
        .err()
        .expect("the second document is checked too");
    assert!(
        err.contains("two.yaml (document 2)") && err.contains("nme"),
        "{err}"
    );
}
