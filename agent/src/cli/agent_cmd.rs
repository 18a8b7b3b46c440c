//! `shadowtap agent`: the DaemonSet entry point.

use std::{process::ExitCode, time::Duration};

use anyhow::Context as _;
use shadowtap_reconstruct::Budgets;
use shadowtap_routes::LeaseConfig;

use super::{cpu_priority, plan_cmd::plan_config, AgentArgs};
use shadowtap_mirror::ReplayConfig;

use crate::runtime::{AgentConfig, RouteSource};

/// The runtime's configuration from the command line.
pub fn agent_config(args: &AgentArgs) -> anyhow::Result<AgentConfig> {
    Ok(AgentConfig {
        source: args
            .source
            .routes
            .clone()
            .map_or(RouteSource::Kubernetes, RouteSource::Files),
        node_name: args.node_name.clone(),
        plan: shadowtap_routes::PlanConfig {
            flow_sampling: args.flow_sampling,
            ..plan_config(&args.source)?
        },
        metrics_addr: args.metrics_addr,
        attach: args.attach.into(),
        tc_links: args.tc_links.into(),
        xdp_ifaces: args.xdp_ifaces.clone(),
        seed: args.seed,
        ring_bytes: args.ring_bytes,
        ring_wakeup_bytes: args.ring_wakeup_bytes,
        ring_drain: Duration::from_micros(args.ring_drain_us),
        budgets: Budgets {
            reassembly_bytes: args.reassembly_budget,
            inflight_bytes: args.body_budget,
            ..Budgets::default()
        },
        mirror: ReplayConfig {
            marker_name: args.marker_header.clone(),
            queue_bytes: args.replay_queue_budget,
            queue_depth: args.mirror_queue_depth,
            max_connections: args.mirror_connections,
            pipeline_depth: args.mirror_pipeline_depth,
            request_timeout: Duration::from_millis(args.mirror_timeout_ms),
            connect_timeout: Duration::from_millis(args.mirror_connect_timeout_ms),
            ..ReplayConfig::default()
        },
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        comparator: shadowtap_compare::ComparatorConfig {
            budget_bytes: args.compare_budget,
            pairing_budget_bytes: args.compare_pairing_budget,
            pair_timeout: Duration::from_millis(args.compare_pair_timeout_ms),
            log_capacity: args.compare_log,
            ..shadowtap_compare::ComparatorConfig::default()
        },
        lease: lease_config(args)?,
    })
}

/// The Lease election's settings, checked now so that bad values stop the agent at startup.
fn lease_config(args: &AgentArgs) -> anyhow::Result<LeaseConfig> {
    let lease = LeaseConfig::new(
        args.lease_namespace.clone(),
        args.node_name.clone(),
        Duration::from_secs(args.lease_duration_secs),
        Duration::from_secs(args.lease_renew_secs),
    );
    lease
        .params()
        .context("--lease-duration-secs / --lease-renew-secs")?;
    Ok(lease)
}

/// Run the agent until SIGTERM/SIGINT; exit 0 after a clean detach.
pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let cfg = agent_config(&args)?;
    cpu_priority::apply(args.cpu_priority)
        .with_context(|| format!("setting CPU priority {:?}", args.cpu_priority))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(crate::runtime::run(cfg))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(extra: &[&str]) -> AgentArgs {
        let mut argv = vec!["shadowtap", "agent", "--node-name", "node-a"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Agent(a) => *a,
            other => panic!("not the agent command: {other:?}"),
        }
    }

    #[test]
    fn the_lease_defaults_to_the_contract() {
        let lease = agent_config(&args(&[])).expect("valid").lease;
        assert_eq!(
            lease,
            LeaseConfig::new(
                "shadowtap-system",
                "node-a",
                Duration::from_secs(15),
                Duration::from_secs(5)
            )
        );
        assert_eq!(lease.name, "shadowtap-route-events");
    }

    #[test]
    fn a_renewal_period_not_shorter_than_the_lease_stops_the_agent() {
        let err = agent_config(&args(&[
            "--lease-duration-secs",
            "5",
            "--lease-renew-secs",
            "5",
        ]))
        .expect_err("renewing as late as the lease expires is refused");
        let text = format!("{err:#}");
        assert!(text.contains("--lease-renew-secs"), "{text}");
        assert!(text.contains("shorter than the lease duration"), "{text}");
        let err = agent_config(&args(&["--lease-duration-secs", "0"])).expect_err("zero lease");
        assert!(
            format!("{err:#}").contains("whole number of seconds"),
            "{err:#}"
        );
    }
}
