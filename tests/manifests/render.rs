//! The installations users apply, rendered as `kubectl apply -k` would: `kubectl kustomize`
//! on each overlay, alone and with the monitoring component. `cargo xtask setup` installs
//! kubectl when it is missing; here a missing kubectl is a failure, never a skip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::deploy::deploy_dir;

/// An overlay of `deploy/overlays/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// `host-attach`: TC egress on each pod's host-side veth (the default).
    HostAttach,
    /// `pod-attach`: TC ingress inside each pod's network namespace.
    PodAttach,
}

impl Overlay {
    /// Every overlay.
    pub const ALL: [Overlay; 2] = [Overlay::HostAttach, Overlay::PodAttach];

    /// Its directory under `deploy/`.
    pub fn dir(self) -> &'static str {
        match self {
            Overlay::HostAttach => "overlays/host-attach",
            Overlay::PodAttach => "overlays/pod-attach",
        }
    }
}

/// The monitoring component's directory under `deploy/`.
pub const MONITORING: &str = "components/monitoring";

/// What a user applies: an overlay, with or without the monitoring component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Installation {
    pub overlay: Overlay,
    pub monitoring: bool,
}

impl Installation {
    /// Every overlay, alone and with the monitoring component.
    pub fn all() -> Vec<Installation> {
        Overlay::ALL
            .iter()
            .flat_map(|&overlay| {
                [false, true].map(|monitoring| Installation {
                    overlay,
                    monitoring,
                })
            })
            .collect()
    }

    /// How messages name it.
    pub fn describe(self) -> String {
        if self.monitoring {
            format!(
                "deploy/{} + deploy/{MONITORING} (rendered)",
                self.overlay.dir()
            )
        } else {
            format!("deploy/{} (rendered)", self.overlay.dir())
        }
    }

    /// `kubectl kustomize` of the overlay, or of a kustomization that adds the component to
    /// it (written to a temporary directory, removed afterwards).
    pub fn render(self) -> String {
        let overlay = deploy_dir().join(self.overlay.dir());
        if !self.monitoring {
            return kustomize(&overlay);
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "shadowtap-kustomize-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("create a temporary kustomization directory");
        // kustomize refuses absolute paths to other kustomizations: refer to them relatively.
        let text = format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {}\ncomponents:\n  - {}\n",
            relative_to(&dir, &overlay),
            relative_to(&dir, &deploy_dir().join(MONITORING)),
        );
        fs::write(dir.join("kustomization.yaml"), text).expect("write the kustomization");
        let out = kustomize(&dir);
        let _ = fs::remove_dir_all(&dir);
        out
    }
}

/// `target` as a path relative to the directory `from` (both made absolute and canonical).
fn relative_to(from: &Path, target: &Path) -> String {
    let from = from.canonicalize().expect("canonical temporary directory");
    let target = target
        .canonicalize()
        .unwrap_or_else(|e| panic!("{} does not exist: {e}", target.display()));
    let up = "../".repeat(from.components().count() - 1);
    let down: PathBuf = target.components().skip(1).collect();
    format!("{up}{}", down.display())
}

/// `kubectl kustomize DIR`; panics with kubectl's message when it fails.
pub fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run kubectl (run `cargo xtask setup`, which installs it): {e}")
        });
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl kustomize prints UTF-8")
}
