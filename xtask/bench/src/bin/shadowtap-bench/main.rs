//! shadowtap's benchmarks that need the real kernel (run by `cargo xtask bench ...`, which
//! builds the release agent first). Each prints a table and writes it to
//! `target/bench-results/<name>.md` at the top of the workspace.

mod capacity;
mod compare;
mod h2_capacity;
mod h2_decode;
mod h2_server;
mod kernel;
mod metrics_text;
mod primary;
mod scale;
mod usage;

use std::process::ExitCode;

/// The port every test server listens on.
pub const PORT: u16 = 8080;

const USAGE: &str = "\
usage: shadowtap-bench <benchmark>   (root; `cargo xtask bench <benchmark>` builds the agent first)
  kernel    per-packet cost of the kernel programs: no-op vs map miss vs captured
  capacity  mirror capacity at 100 %: rate, losses, agent CPU per request, peak RSS
  scale     agent RSS, heap estimate and CPU with 10 000 idle keep-alive flows
  primary   the client's latency and throughput: no agent, shadowtap, an nginx mirror proxy
  compare   the primary path's cost of shadow comparison: mirroring without, with status, with body
  h2-decode    HTTP/2 decoding: shadowtap-h2 next to the h2 crate's server, same bytes
  h2-capacity  mirror capacity for 200 B gRPC unary calls at 100 %, agent CPU per call";

fn main() -> ExitCode {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "kernel" => kernel::run(),
        "capacity" => capacity::run(),
        "scale" => scale::run(),
        "primary" => primary::run(),
        "compare" => compare::run(),
        "h2-decode" => h2_decode::run(),
        "h2-capacity" => h2_capacity::run(),
        "-h" | "--help" | "help" => println!("{USAGE}"),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// Extra arguments of `shadowtap agent` from `SHADOWTAP_BENCH_AGENT_ARGS` (split on spaces;
/// e.g. `--cpu-priority normal`), for the benchmarks that start an agent.
pub fn agent_args_from_env() -> Vec<String> {
    std::env::var("SHADOWTAP_BENCH_AGENT_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Writes `text` to `target/bench-results/<name>.md` at the top of the workspace.
pub fn write_result(name: &str, text: &str) {
    // This package is `xtask/bench/`.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("target")
        .join("bench-results");
    if std::fs::create_dir_all(&dir).is_ok() {
        let path = dir.join(format!("{name}.md"));
        if std::fs::write(&path, text).is_ok() {
            println!("written to {}", path.display());
        }
    }
}
