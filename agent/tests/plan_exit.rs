//! `shadowtap plan` exits 1 when the routes have problems and 0 when they have none, so a
//! pipeline can gate on it.

use std::{path::PathBuf, process::Command};

fn fixture() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("routes/tests/fixtures/foo-route-42.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn plan(yaml: &str, name: &str) -> std::process::Output {
    let dir =
        std::env::temp_dir().join(format!("shadowtap-plan-exit-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let file = dir.join("routes.yaml");
    std::fs::write(&file, yaml).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["plan", "--node", "node-a", "--routes"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running shadowtap plan: {e}"));
    std::fs::remove_dir_all(&dir).ok();
    out
}

#[test]
fn plan_exits_non_zero_on_problems() {
    let clean = plan(&fixture(), "clean");
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    // The mirror names a Service that does not exist.
    let broken = fixture().replacen("          name: foo-v2\n", "          name: missing\n", 1);
    assert_ne!(broken, fixture(), "the fixture changed shape");
    let out = plan(&broken, "broken");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("PROBLEMS (1)"), "{text}");
}
