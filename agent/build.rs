//! Builds the eBPF programs (ebpf/) for `bpfel-unknown-none` with the nightly toolchain and
//! leaves the object in `OUT_DIR`, where `datapath::object` embeds it in the binary.
//! `cargo xtask setup` installs what this needs (rust-src for nightly, bpf-linker on PATH).
//! The toolchain is `nightly` unless `SHADOWTAP_NIGHTLY` names another (a dated nightly, as
//! the Dockerfile pins; `cargo xtask setup` reads the same variable).

use anyhow::{anyhow, Context as _};

fn main() -> anyhow::Result<()> {
    let ebpf_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf");
    println!("cargo:rerun-if-env-changed=SHADOWTAP_NIGHTLY");
    let nightly = std::env::var("SHADOWTAP_NIGHTLY").ok();
    let toolchain = match nightly.as_deref() {
        Some(name) => aya_build::Toolchain::Custom(name),
        None => aya_build::Toolchain::default(),
    };
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "shadowtap-ebpf",
            root_dir: ebpf_dir,
            ..Default::default()
        }],
        toolchain,
    )
    .map_err(|e| anyhow!("{e:#}"))
    .context(
        "building the eBPF programs failed; run `cargo xtask setup` (nightly rust-src and \
         bpf-linker), or set AYA_BUILD_SKIP=1 for a check-only build",
    )
}
