//! The `shadowtap` binary: `agent`, `plan`, `replay`.

use std::process::ExitCode;

use clap::Parser;
use shadowtap_agent::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.log_format);
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("shadowtap: {e:#}");
            ExitCode::FAILURE
        }
    }
}
