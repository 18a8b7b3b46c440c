//! `shadowtap plan`: a dry run of what would be captured and mirrored.

use std::process::ExitCode;

use anyhow::Context as _;
use shadowtap_routes::{plan, render_json, render_table, KubeSourceConfig, PlanConfig, Store};

use super::{PlanArgs, PlanOutput, SourceArgs};

/// Parse `--label-selector` (Kubernetes label selector syntax: `=`, `==`, `!=`, `in`, `notin`,
/// `key`, `!key`) into the selector of the routes whose mirrors shadowtap implements.
pub fn parse_selector(selector: &str) -> anyhow::Result<shadowtap_routes::MirrorSelector> {
    Ok(shadowtap_routes::MirrorSelector::parse(selector)?)
}

/// The plan configuration from the source flags.
pub fn plan_config(source: &SourceArgs) -> anyhow::Result<PlanConfig> {
    Ok(PlanConfig {
        selector: parse_selector(&source.label_selector)?,
        ..PlanConfig::default()
    })
}

/// Load the store once, from files or from the cluster.
pub fn load_store(source: &SourceArgs, node: &str) -> anyhow::Result<Store> {
    if let Some(path) = &source.routes {
        return shadowtap_routes::load_path(path)
            .with_context(|| format!("reading routes from {}", path.display()));
    }
    let rt = tokio::runtime::Runtime::new().context("starting a runtime")?;
    rt.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the Kubernetes API (or pass --routes PATH)")?;
        let mut source = shadowtap_routes::kube_source::start(client, KubeSourceConfig::new(node));
        let store = source
            .initial()
            .await
            .context("listing objects from the Kubernetes API")?;
        source.task.abort();
        Ok((*store).clone())
    })
}

/// Run `shadowtap plan`: print the plan; exit 1 when it found problems (so a pipeline can
/// gate on it), 0 otherwise.
pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let cfg = plan_config(&args.source)?;
    let store = load_store(&args.source, &args.node)?;
    let p = plan(&store, &args.node, &cfg);
    match args.output {
        PlanOutput::Table => print!("{}", render_table(&p, &p.problems)),
        PlanOutput::Json => println!("{}", render_json(&p, &p.problems)?),
    }
    Ok(if p.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_parse() {
        let m = parse_selector("shadowtap.dev/mirror=enabled,team=a").expect("parse");
        assert_eq!(m.to_string(), "shadowtap.dev/mirror=enabled,team=a");
        assert!(
            parse_selector("team!").is_err(),
            "never read as the key `team!`"
        );
        assert!(parse_selector("a=b=c").is_err());
    }
}
