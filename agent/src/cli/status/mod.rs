//! `shadowtap status`: the local agent's per-route truth, read from its `/metrics`: for each
//! route, rule and mirror the configured against the observed fraction with a ±3σ verdict,
//! refusals, and per mirror backend the delivery outcomes, response classes and latency.

mod comparisons;
mod prom_text;
mod report;

use std::{
    fmt::Write as _,
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};
use shadowtap_wire::http1::{parse_response_head, Status};

use super::{StatusArgs, StatusOutput};
use report::Report;

/// Longest wait for the agent's answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The body of `GET path` from the agent's metrics server at `addr`.
pub(super) fn fetch(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("connecting to the agent's metrics at {addr}"))?;
    s.set_read_timeout(Some(TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: shadowtap\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .with_context(|| format!("reading {path}"))?;
    let head = match parse_response_head(&raw, false, 64) {
        Ok(Status::Complete(h)) => h,
        Ok(Status::Partial) => bail!("the agent's answer ended inside its head"),
        Err(e) => bail!("the agent's answer is not HTTP/1: {e}"),
    };
    if head.status != 200 {
        bail!("{path} answered {}", head.status);
    }
    Ok(String::from_utf8_lossy(&raw[head.len..]).into_owned())
}

/// One scrape of `addr`'s `/metrics`.
fn scrape(addr: SocketAddr) -> anyhow::Result<Vec<prom_text::Sample>> {
    Ok(prom_text::parse(&fetch(addr, "/metrics")?))
}

/// A byte count, in KiB or MiB past 1 KiB.
fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{:.2} %", v * 100.0))
}

fn seconds(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_infinite() => "> max bucket".to_owned(),
        Some(v) if v < 1.0 => format!("≤ {:.1} ms", v * 1000.0),
        Some(v) => format!("≤ {v:.2} s"),
        None => "-".to_owned(),
    }
}

/// The report as tables for people.
fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:>4} {:<28} {:>10} {:>9} {:>10} {:>9} {:<20} {:<16} {:>8}",
        "ROUTE",
        "RULE",
        "MIRROR",
        "CONFIGURED",
        "REQUESTS",
        "OBSERVED",
        "SELECTED",
        "±3σ BAND",
        "VERDICT",
        "SENT/S"
    );
    for m in &r.mirrors {
        let band = m.band.map_or_else(
            || "-".to_owned(),
            |(lo, hi)| format!("{:.2}–{:.2} %", lo * 100.0, hi * 100.0),
        );
        let rate = m
            .sent_per_second
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"));
        let _ = writeln!(
            out,
            "{:<32} {:>4} {:<28} {:>10} {:>9} {:>10} {:>9} {:<20} {:<16} {:>8}",
            m.route,
            m.rule,
            m.mirror,
            percent(Some(m.configured)),
            m.requests,
            percent(m.observed),
            m.selected,
            band,
            m.verdict,
            rate
        );
        let classes = m
            .responses
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            out,
            "{:>38} sent {} · responses {} · latency p50 {} p99 {}",
            "",
            m.sent,
            if classes.is_empty() { "-" } else { &classes },
            seconds(m.latency_p50),
            seconds(m.latency_p99)
        );
        for (reason, n) in m.lost.iter().filter(|(_, n)| **n > 0) {
            let _ = writeln!(out, "{:>38} lost: {reason} {n}", "");
        }
    }
    let h2 = &r.h2;
    if h2.connections + h2.midstream + h2.upgrades_declined > 0 {
        let _ = writeln!(
            out,
            "\nHTTP/2 (h2c): {} connections decoded, {} requests; {} upgrades declined; {} \
             opened before capture (h2_midstream: not decodable, mirrored once the client \
             reconnects)",
            h2.connections, h2.requests, h2.upgrades_declined, h2.midstream
        );
    }
    if !r.comparisons.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<32} {:>4} {:<28} {:>9} {:>9} {:<24} {:<24}",
            "COMPARING ROUTE",
            "RULE",
            "MIRROR",
            "COMPARED",
            "DIVERGENT",
            "PRIMARY P50/P99",
            "MIRROR P50/P99"
        );
        for c in &r.comparisons {
            let _ = writeln!(
                out,
                "{:<32} {:>4} {:<28} {:>9} {:>9} {:<24} {:<24}",
                c.route,
                c.rule,
                c.mirror,
                c.compared,
                c.divergent,
                format!("{} / {}", seconds(c.primary_p50), seconds(c.primary_p99)),
                format!("{} / {}", seconds(c.mirror_p50), seconds(c.mirror_p99)),
            );
            let outcomes = c
                .outcomes
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "{:>38} outcomes {} (shadowtap diff shows the divergent pairs)",
                "",
                if outcomes.is_empty() { "-" } else { &outcomes }
            );
        }
        if let Some(m) = &r.compare_memory {
            let _ = writeln!(
                out,
                "comparison memory: pending pairs {} (--compare-budget), connections' pairings \
                 {} (--compare-pairing-budget; {} connections stopped over it)",
                bytes(m.pending_pair_bytes),
                bytes(m.pairing_bytes),
                m.connections_over_budget
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:<36} {:<44} {:<24} {:>12} {:>12}",
        "MIRROR BACKEND", "OUTCOMES", "RESPONSES", "LATENCY P50", "P99"
    );
    for b in r.backends.iter().filter(|b| {
        b.outcomes
            .values()
            .chain(b.responses.values())
            .any(|v| *v > 0)
    }) {
        // Only what happened: a healthy backend shows `sent=N` and its classes.
        let join = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            out,
            "{:<36} {:<44} {:<24} {:>12} {:>12}",
            b.backend,
            join(&b.outcomes),
            join(&b.responses),
            seconds(b.latency_p50),
            seconds(b.latency_p99)
        );
    }
    out
}

fn print(r: &Report, output: StatusOutput) -> anyhow::Result<()> {
    match output {
        StatusOutput::Table => print!("{}", table(r)),
        StatusOutput::Json => println!("{}", serde_json::to_string_pretty(r)?),
    }
    Ok(())
}

/// Run `shadowtap status`. Exits 1 when a mirror is outside its band.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let mut previous: Option<(Vec<prom_text::Sample>, Instant)> = None;
    loop {
        let samples = scrape(args.metrics_addr)?;
        let now = Instant::now();
        let before = previous
            .as_ref()
            .map(|(s, t)| (s.as_slice(), now.duration_since(*t).as_secs_f64().max(1e-3)));
        let r = report::build(&samples, before);
        if args.watch && args.output == StatusOutput::Table {
            // Clear the terminal and go home, then draw.
            print!("\x1b[2J\x1b[H");
        }
        print(&r, args.output)?;
        if !args.watch {
            let outside = r.mirrors.iter().any(|m| m.verdict == "outside");
            return Ok(if outside {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        previous = Some((samples, now));
        std::thread::sleep(Duration::from_secs(args.interval_secs.max(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::comparisons::{CompareMemory, ComparisonRow};
    use super::*;

    #[test]
    fn comparison_memory_beside_the_comparing_routes() {
        let mut r = Report {
            comparisons: vec![ComparisonRow {
                route: "default/foo".to_owned(),
                rule: "0".to_owned(),
                mirror: "default/foo-v2:8080".to_owned(),
                ..ComparisonRow::default()
            }],
            compare_memory: Some(CompareMemory {
                pending_pair_bytes: 512,
                pairing_bytes: 3 << 20,
                connections_over_budget: 2,
            }),
            ..Report::default()
        };
        let text = table(&r);
        assert!(
            text.contains(
                "comparison memory: pending pairs 512 B (--compare-budget), connections' \
                 pairings 3.0 MiB (--compare-pairing-budget; 2 connections stopped over it)"
            ),
            "{text}"
        );
        r.comparisons.clear();
        assert!(!table(&r).contains("comparison memory"));
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
