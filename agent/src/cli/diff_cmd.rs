//! `shadowtap diff`: the recent divergent primary/mirror pairs of comparing routes, read
//! from the local agent (`/debug/divergences`), newest first; sensitive header values were
//! redacted by the agent before they were stored.

use std::{fmt::Write as _, process::ExitCode};

use anyhow::Context as _;

use super::{status::fetch, DiffArgs, StatusOutput};
use crate::pipeline::{DivergenceDoc, DivergenceEntry};

fn body_offset(e: &DivergenceEntry) -> String {
    match e.first_body_offset {
        Some((from, to)) if to == from + 1 => format!(", bodies differ at byte {from}"),
        Some((from, to)) => format!(", bodies differ within bytes {from}..{to}"),
        None => String::new(),
    }
}

/// The pairs as text for people.
pub fn table(doc: &DivergenceDoc, limit: usize) -> String {
    let mut out = String::new();
    if doc.pairs.is_empty() {
        let _ = writeln!(
            out,
            "no divergent pairs (the agent keeps the last {})",
            doc.capacity
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{} divergent pairs (newest first; the agent keeps the last {})",
        doc.pairs.len(),
        doc.capacity
    );
    for e in doc.pairs.iter().take(limit) {
        let _ = writeln!(
            out,
            "\n#{} {} rule {} -> {}: {}",
            e.pair, e.route, e.rule, e.mirror, e.outcome
        );
        let _ = writeln!(out, "  {} {}", e.method, e.target);
        let status = |s: u16, grpc: &Option<String>| match grpc {
            Some(g) => format!("{s} grpc-status {g}"),
            None => s.to_string(),
        };
        let _ = writeln!(
            out,
            "  primary {} ({} body bytes, {} µs)   mirror {} ({} body bytes, {} µs){}",
            status(e.primary_status, &e.primary_grpc_status),
            e.primary_body_bytes,
            e.primary_latency_us,
            status(e.mirror_status, &e.mirror_grpc_status),
            e.mirror_body_bytes,
            e.mirror_latency_us,
            body_offset(e)
        );
        if let Some(h) = &e.first_header {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".to_owned());
            let _ = writeln!(
                out,
                "  header {}: primary {:?}, mirror {:?}",
                h.name,
                show(&h.primary),
                show(&h.mirror)
            );
        }
    }
    out
}

/// Run `shadowtap diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let json = fetch(args.metrics_addr, "/debug/divergences")?;
    let doc: DivergenceDoc =
        serde_json::from_str(&json).context("reading the agent's /debug/divergences")?;
    match args.output {
        StatusOutput::Table => print!("{}", table(&doc, args.limit)),
        StatusOutput::Json => println!("{}", serde_json::to_string_pretty(&doc)?),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::DivergentHeader;

    #[test]
    fn pairs_read_for_people() {
        let doc = DivergenceDoc {
            capacity: 256,
            pairs: vec![DivergenceEntry {
                route: "default/foo".into(),
                rule: 0,
                mirror: "default/foo-v2:8080".into(),
                pair: 7,
                method: "GET".into(),
                target: "/x".into(),
                outcome: "headers_differ".into(),
                primary_status: 200,
                mirror_status: 200,
                primary_grpc_status: Some("0".into()),
                mirror_grpc_status: Some("5".into()),
                primary_body_bytes: 2,
                mirror_body_bytes: 3,
                first_header: Some(DivergentHeader {
                    name: "set-cookie".into(),
                    primary: Some("[redacted]".into()),
                    mirror: None,
                }),
                first_body_offset: Some((1, 2)),
                primary_latency_us: 120,
                mirror_latency_us: 900,
            }],
        };
        let t = table(&doc, 10);
        assert!(
            t.contains("#7 default/foo rule 0 -> default/foo-v2:8080: headers_differ"),
            "{t}"
        );
        assert!(t.contains("bodies differ at byte 1"), "{t}");
        assert!(
            t.contains("primary 200 grpc-status 0 (2 body bytes")
                && t.contains("mirror 200 grpc-status 5 (3 body bytes"),
            "{t}"
        );
        assert!(
            t.contains("header set-cookie: primary \"[redacted]\", mirror \"(absent)\""),
            "{t}"
        );
        assert!(table(&DivergenceDoc::default(), 10).starts_with("no divergent pairs"));
        let back: DivergenceDoc =
            serde_json::from_str(&serde_json::to_string(&doc).expect("json")).expect("parse");
        assert_eq!(back, doc);
    }
}
