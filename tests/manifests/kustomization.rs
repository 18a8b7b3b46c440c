//! `kustomization.yaml` lists exactly the manifests to apply, and they exist.

use std::collections::BTreeSet;

use crate::deploy::{load_deploy, only, KUSTOMIZATION_FILE, OPTIONAL_MANIFESTS, SCRAPE_JOBS_FILE};

#[test]
fn kustomization_lists_every_installation_manifest() {
    let d = load_deploy();
    let (file, k) = only(&d.kustomizations, "Kustomization");
    assert_eq!(file, KUSTOMIZATION_FILE);
    assert_eq!(k.api_version, "kustomize.config.k8s.io/v1beta1");
    assert_eq!(k.kind, "Kustomization");

    let listed: Vec<&str> = k.resources.iter().map(String::as_str).collect();
    let mut seen = BTreeSet::new();
    for r in &listed {
        assert!(seen.insert(*r), "deploy/{file}: {r} is listed twice");
        assert!(
            d.dir.join(r).is_file(),
            "deploy/{file}: lists {r}, which does not exist"
        );
    }
    for (optional, api_version) in OPTIONAL_MANIFESTS {
        let versions = d
            .files
            .get(*optional)
            .unwrap_or_else(|| panic!("deploy/{optional} (an optional manifest) is missing"));
        assert!(
            versions.iter().all(|v| v == api_version),
            "deploy/{optional} is left out of the Kustomization as an add-on's {api_version} \
             object, but holds {versions:?}"
        );
    }
    let expected: BTreeSet<&str> = d
        .files
        .iter()
        .filter(|(rel, versions)| {
            !rel.starts_with("examples/")
                && rel.as_str() != KUSTOMIZATION_FILE
                && !versions.is_empty()
                && !OPTIONAL_MANIFESTS.iter().any(|(o, _)| o == rel)
        })
        .map(|(rel, _)| rel.as_str())
        .collect();
    assert_eq!(
        seen, expected,
        "deploy/{file}: resources must be exactly the installation manifests of deploy/ \
         (not the examples, not {SCRAPE_JOBS_FILE}, not the optional {OPTIONAL_MANIFESTS:?})"
    );
}
