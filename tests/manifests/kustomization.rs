//! The kustomize layout of `deploy/`: a base, the overlays (each one tested), the monitoring
//! component; every kustomization read strictly; every file listed by exactly the
//! kustomization of its directory, and none left over.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::deploy::{deploy_dir, EXAMPLES_DIR, SCRAPE_JOBS_FILE};
use crate::render::{Overlay, MONITORING};
use crate::schemas::Kustomization;
use crate::strict::{parse_manifests, Object};

const KUSTOMIZATION_FILE: &str = "kustomization.yaml";

/// The names of the entries of `dir` that `keep` accepts.
fn names_of(dir: &Path, keep: fn(&Path) -> bool) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| keep(p))
        .map(|p| {
            p.file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// The files of `dir` (names), without subdirectories.
fn files_of(dir: &Path) -> BTreeSet<String> {
    names_of(dir, Path::is_file)
}

/// The subdirectories of `dir` (names).
fn dirs_of(dir: &Path) -> BTreeSet<String> {
    names_of(dir, Path::is_dir)
}

/// Reads `deploy/<rel>/kustomization.yaml` strictly.
fn kustomization(rel: &str) -> Kustomization {
    let file = format!("deploy/{rel}/{KUSTOMIZATION_FILE}");
    let text = fs::read_to_string(deploy_dir().join(rel).join(KUSTOMIZATION_FILE))
        .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
    let mut objects = parse_manifests(&file, &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(objects.len(), 1, "{file}: one document");
    match objects.remove(0).1 {
        Object::Kustomization(k) => *k,
        _ => panic!("{file}: not a Kustomization or Component"),
    }
}

/// The path of each patch of `k` (inline patches have none).
fn patch_paths(k: &Kustomization, file: &str) -> Vec<String> {
    k.patches
        .iter()
        .flatten()
        .filter_map(|p| {
            let obj = p
                .as_object()
                .unwrap_or_else(|| panic!("{file}: a patch is an object"));
            obj.get("path").map(|v| {
                v.as_str()
                    .unwrap_or_else(|| panic!("{file}: patches[].path is a string"))
                    .to_owned()
            })
        })
        .collect()
}

#[test]
fn deploy_holds_a_base_overlays_a_component_and_nothing_else() {
    let dir = deploy_dir();
    assert_eq!(
        dirs_of(&dir),
        ["base", "components", "overlays", EXAMPLES_DIR]
            .map(str::to_owned)
            .into(),
        "deploy/: directories"
    );
    assert_eq!(
        files_of(&dir),
        ["Dockerfile", SCRAPE_JOBS_FILE].map(str::to_owned).into(),
        "deploy/: top-level files (everything to apply is in base/, overlays/, components/)"
    );
    let overlays: BTreeSet<String> = Overlay::ALL
        .iter()
        .map(|o| {
            o.dir()
                .strip_prefix("overlays/")
                .expect("under overlays/")
                .to_owned()
        })
        .collect();
    assert_eq!(
        dirs_of(&dir.join("overlays")),
        overlays,
        "deploy/overlays/: every overlay is rendered and checked by these tests (render::Overlay)"
    );
    assert_eq!(
        dirs_of(&dir.join("components")),
        [MONITORING
            .strip_prefix("components/")
            .expect("under components/")]
        .map(str::to_owned)
        .into(),
        "deploy/components/"
    );
}

#[test]
fn base_lists_exactly_its_manifests() {
    let k = kustomization("base");
    let file = "deploy/base/kustomization.yaml";
    assert_eq!(
        (k.api_version.as_str(), k.kind.as_str()),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
        "{file}"
    );
    let listed: Vec<&str> = k.resources.iter().map(String::as_str).collect();
    let unique: BTreeSet<String> = listed.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "{file}: a resource is listed twice"
    );
    let mut on_disk = files_of(&deploy_dir().join("base"));
    on_disk.remove(KUSTOMIZATION_FILE);
    assert_eq!(
        unique, on_disk,
        "{file}: resources must be exactly the other files of deploy/base/"
    );
    assert!(
        k.patches.is_none() && k.components.is_none() && k.namespace.is_none(),
        "{file}: the base patches nothing; overlays and components do"
    );
}

#[test]
fn overlays_build_on_the_base_with_their_own_patches_only() {
    for overlay in Overlay::ALL {
        let rel = overlay.dir();
        let file = format!("deploy/{rel}/{KUSTOMIZATION_FILE}");
        let k = kustomization(rel);
        assert_eq!(
            (k.api_version.as_str(), k.kind.as_str()),
            ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
            "{file}"
        );
        assert_eq!(
            k.resources,
            vec!["../../base".to_owned()],
            "{file}: an overlay's only resource is the base"
        );
        assert!(
            k.components.is_none(),
            "{file}: monitoring is the user's choice, not the overlay's"
        );
        let patches: BTreeSet<String> = patch_paths(&k, &file).into_iter().collect();
        let mut on_disk = files_of(&deploy_dir().join(rel));
        on_disk.remove(KUSTOMIZATION_FILE);
        assert_eq!(
            patches, on_disk,
            "{file}: every other file of the overlay is one of its patches, and each exists"
        );
    }
}

#[test]
fn monitoring_is_a_component_listing_exactly_its_files() {
    let file = format!("deploy/{MONITORING}/{KUSTOMIZATION_FILE}");
    let k = kustomization(MONITORING);
    assert_eq!(
        (k.api_version.as_str(), k.kind.as_str()),
        ("kustomize.config.k8s.io/v1alpha1", "Component"),
        "{file}: a kustomize Component, added to any overlay"
    );
    let mut used: BTreeSet<String> = k.resources.iter().cloned().collect();
    for generator in k.config_map_generator.iter().flatten() {
        for f in generator
            .get("files")
            .and_then(|f| f.as_array())
            .into_iter()
            .flatten()
        {
            let f = f.as_str().expect("configMapGenerator files are strings");
            // `key=path` or `path`.
            used.insert(f.rsplit('=').next().expect("a path").to_owned());
        }
    }
    let mut on_disk = files_of(&deploy_dir().join(MONITORING));
    on_disk.remove(KUSTOMIZATION_FILE);
    assert_eq!(
        used, on_disk,
        "{file}: resources and configMapGenerator files must be exactly the component's files"
    );
}
