//! `shadowtap agent`: the DaemonSet entry point.

use std::process::ExitCode;

use anyhow::Context as _;

use super::{cpu_priority, plan_cmd::plan_config, AgentArgs};

/// Run the agent until SIGTERM/SIGINT; exit 0 after a clean detach.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let plan_cfg = plan_config(&args.source)?;
    cpu_priority::apply(args.cpu_priority)
        .with_context(|| format!("setting CPU priority {:?}", args.cpu_priority))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(crate::runtime::run(args, plan_cfg))?;
    Ok(ExitCode::SUCCESS)
}
