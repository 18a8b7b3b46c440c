//! Builds the eBPF programs (ebpf/) for `bpfel-unknown-none` with the nightly toolchain and
//! leaves the object in `OUT_DIR`, where `datapath::object` embeds it in the binary.
//! `cargo xtask setup` installs what this needs (rust-src for nightly, bpf-linker on PATH).

use anyhow::{anyhow, Context as _};

fn main() -> anyhow::Result<()> {
    let ebpf_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf");
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "shadowtap-ebpf",
            root_dir: ebpf_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .map_err(|e| anyhow!("{e:#}"))
    .context(
        "building the eBPF programs failed; run `cargo xtask setup` (nightly rust-src and \
         bpf-linker), or set AYA_BUILD_SKIP=1 for a check-only build",
    )
}
