//! `shadowtap replay --pcap FILE`: the reconstruction pipeline on a capture file, and with
//! `--routes` the same matching, sampling and (unless `--dry-run`) replay as the agent.
//! HTTP/1.x requests and the requests of cleartext HTTP/2 connections (prior knowledge or
//! `Upgrade: h2c`) are both decoded, routed and replayed like live ones: HTTP/2 requests
//! over HTTP/2.

use std::{
    net::{SocketAddr, ToSocketAddrs},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use anyhow::{bail, Context as _};
use shadowtap_mirror::{
    BackendId, MirrorRequest, NoOwnFlows, ReplayConfig, Replayer, RewriteOptions, Tally, Wake,
};
use shadowtap_reconstruct::{
    pcap::{decode_pcap_all, Captured},
    render::{json_line, json_line_h2, summary, summary_h2},
    Config, H2FlowRequest, Reconstructor, Request,
};
use shadowtap_routes::{plan, plan::MirrorTarget, PlanConfig, Sampler};

use super::ReplayArgs;
use crate::{
    pipeline::{MirrorSink, Pipeline},
    wiring::{sync_backends, ReplayerSink},
};

/// Prints what would be mirrored.
struct DryRun;

impl MirrorSink for DryRun {
    fn submit(
        &mut self,
        mirror: &MirrorTarget,
        request: &Request,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        println!(
            "{}",
            serde_json::json!({
                "mirror": mirror.backend.to_string(),
                "method": request.method().as_str(),
                "target": String::from_utf8_lossy(request.target()),
                "bytes": request.len(),
            })
        );
        Ok(())
    }

    fn submit_h2(
        &mut self,
        mirror: &MirrorTarget,
        request: &H2FlowRequest,
        _: Option<Tally>,
    ) -> Result<(), &'static str> {
        let p = &request.request.pseudo;
        println!(
            "{}",
            serde_json::json!({
                "mirror": mirror.backend.to_string(),
                "method": String::from_utf8_lossy(&p.method),
                "target": String::from_utf8_lossy(p.path.as_deref().unwrap_or_default()),
                "bytes": request.request.body.len(),
                "http2": true,
            })
        );
        Ok(())
    }
}

/// Sends every sampled request to one fixed backend (`--to URL`).
struct ToUrl {
    replayer: Replayer,
    id: BackendId,
}

impl MirrorSink for ToUrl {
    fn submit(
        &mut self,
        _mirror: &MirrorTarget,
        request: &Request,
        tally: Option<Tally>,
    ) -> Result<(), &'static str> {
        self.replayer
            .submit_tallied(&self.id, MirrorRequest::from_decoded(request), tally)
            .map_err(|r| r.as_str())
    }

    fn submit_h2(
        &mut self,
        _mirror: &MirrorTarget,
        request: &H2FlowRequest,
        tally: Option<Tally>,
    ) -> Result<(), &'static str> {
        crate::wiring::submit_h2(&self.replayer, &self.id, request, tally, Wake::Now)
    }
}

fn parse_url(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--to {url}: only http:// URLs are supported"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {with_port}"))?
        .next()
        .with_context(|| format!("{with_port} resolves to no address"))
}

fn feed<S: MirrorSink>(requests: &[Captured], mut pipeline: Pipeline<S>) -> Pipeline<S> {
    for r in requests {
        match r {
            Captured::Http1(r) => pipeline.handle(r),
            Captured::Http2(r) => pipeline.handle_h2(r),
        }
    }
    pipeline
}

fn print_pipeline<S: MirrorSink>(p: &Pipeline<S>) {
    let c = p.counters();
    eprintln!(
        "routing: decoded {} marked {} not_matched {} matched_without_mirror {} matched_with_mirrors {}; \
         draws {} not_sampled {} submitted {} refused {}",
        c.decoded,
        c.marked,
        c.not_matched_total(),
        c.matched_without_mirror,
        c.matched_with_mirrors,
        c.draws,
        c.not_sampled,
        c.submitted,
        c.refused_total()
    );
}

/// Run `shadowtap replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let (requests, counters) = decode_pcap_all(&args.pcap, &Config::default())
        .with_context(|| format!("decoding {}", args.pcap.display()))?;
    if args.print {
        for r in &requests {
            match r {
                Captured::Http1(r) => println!("{}", json_line(r)),
                Captured::Http2(r) => println!("{}", json_line_h2(r)),
            }
        }
    }
    eprint!("{}", summary(&counters.reconstruct, 0));
    if counters.h2.iter().any(|(_, v)| v != 0) {
        // Every flow ended at the end of the file: no stream is still open.
        eprint!("{}", summary_h2(&counters.h2, 0));
    }
    let Some(routes) = &args.routes else {
        return Ok(ExitCode::SUCCESS);
    };
    let Some(node) = &args.node else {
        bail!("--routes needs --node NAME (the node whose endpoints the capture shows)");
    };
    let store = shadowtap_routes::load_path(routes)
        .with_context(|| format!("reading routes from {}", routes.display()))?;
    let p = Arc::new(plan(&store, node, &PlanConfig::default()));
    for problem in &p.problems {
        eprintln!("route problem: {problem}");
    }
    let recon = Reconstructor::new(Config::default());
    let sampler = Sampler::new(args.seed);
    let marker = ReplayConfig::default().marker_name;
    if args.dry_run {
        let mut pipeline = Pipeline::new(recon, sampler, DryRun, &marker);
        pipeline.set_plan(p);
        print_pipeline(&feed(&requests, pipeline));
        return Ok(ExitCode::SUCCESS);
    }
    let rt = tokio::runtime::Runtime::new().context("starting a runtime")?;
    rt.block_on(async {
        let replayer = Replayer::new(ReplayConfig::default(), Arc::new(NoOwnFlows))?;
        let pipeline = if let Some(url) = &args.to {
            let addr = parse_url(url)?;
            let id = BackendId::new("cli", "to", addr.port());
            replayer.set_backend(&id, RewriteOptions::default())?;
            replayer.set_endpoints(&id, vec![addr]);
            let mut pl = Pipeline::new(
                recon,
                sampler,
                ToUrl {
                    replayer: replayer.clone(),
                    id,
                },
                &marker,
            );
            pl.set_plan(p);
            print_pipeline(&feed(&requests, pl));
            None
        } else {
            sync_backends(&replayer, &p, &Default::default());
            let mut pl =
                Pipeline::new(recon, sampler, ReplayerSink::new(replayer.clone()), &marker);
            pl.set_plan(p);
            Some(feed(&requests, pl))
        };
        if let Some(pl) = &pipeline {
            print_pipeline(pl);
        }
        let report = replayer.shutdown(Duration::from_secs(10)).await;
        for (backend, s) in replayer.snapshot().backends {
            eprintln!(
                "replay {backend}: submitted {} sent {} dropped {:?}",
                s.submitted, s.sent, s.dropped
            );
        }
        if !report.drained {
            eprintln!(
                "replay: {} requests dropped at the deadline",
                report.dropped
            );
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_url("http://127.0.0.1:8081/x")
                .expect("url")
                .to_string(),
            "127.0.0.1:8081"
        );
        assert_eq!(parse_url("http://127.0.0.1").expect("url").port(), 80);
        assert!(parse_url("https://x").is_err());
    }
}
