//! shadowtap's benchmarks that need the real kernel (run by `cargo xtask bench ...`). Each
//! prints a table and writes it to `target/bench-results/<name>.md`.

mod capacity;
mod kernel;
mod primary;
mod scale;
mod usage;

use std::process::ExitCode;

/// The port every test server listens on.
pub const PORT: u16 = 8080;

fn main() -> ExitCode {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "kernel" => kernel::run(),
        "capacity" => capacity::run(),
        "scale" => scale::run(),
        "primary" => primary::run(),
        _ => {
            eprintln!("usage: shadowtap-bench kernel|capacity|scale|primary");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// Writes `text` to `target/bench-results/<name>.md`.
pub fn write_result(name: &str, text: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("bench-results");
    if std::fs::create_dir_all(&dir).is_ok() {
        let path = dir.join(format!("{name}.md"));
        if std::fs::write(&path, text).is_ok() {
            println!("written to {}", path.display());
        }
    }
}
