//! The load generators the primary-path benchmark runs, as a user would: `wrk` (closed loop,
//! saturation) and `oha` (open loop at a fixed rate, latency from each request's scheduled
//! time), each started in the client's namespace with `ip netns exec`, and their reports
//! parsed. A report that cannot be parsed is an error naming the tool and its output.

use std::{net::SocketAddr, process::Command, time::Duration};

/// The request both tools send: a ~200-byte GET, as the issue's targets are stated for.
pub const PATH: &str = "/api/v1/items/1042?view=full";
/// Headers added to the request line and `Host` (which each tool writes itself).
pub const HEADERS: [&str; 3] = [
    "User-Agent: shadowtap-load/1.0 (benchmark)",
    "Accept: application/json",
    "X-Request-Id: 6f9c2a41d7e3b805-0000002a-0000-4000-8000-00000000abcd",
];

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measured {
    /// Answers per second over the run.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
    /// Requests answered.
    pub requests: u64,
    /// Failed requests (socket errors, timeouts) and non-2xx answers.
    pub errors: u64,
}

/// Why a run produced no figures.
#[derive(Debug)]
pub struct ToolError {
    /// `wrk` or `oha`.
    pub tool: &'static str,
    /// What went wrong, with the tool's output.
    pub detail: String,
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.tool, self.detail)
    }
}

fn url(target: SocketAddr) -> String {
    format!("http://{target}{PATH}")
}

fn run(tool: &'static str, netns: &str, args: &[String]) -> Result<String, ToolError> {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, tool])
        .args(args)
        .output()
        .map_err(|e| ToolError {
            tool,
            detail: format!("could not start it ({e}); `cargo xtask bench primary` installs it"),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(ToolError {
            tool,
            detail: format!(
                "exited with {}: {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(stdout)
}

/// `wrk`: `connections` keep-alive connections on one thread, each sending its next
/// request as soon as the answer arrives, for `duration`.
pub fn wrk(
    netns: &str,
    target: SocketAddr,
    connections: usize,
    duration: Duration,
) -> Result<Measured, ToolError> {
    let mut args = vec![
        "--threads".to_owned(),
        "1".to_owned(),
        "--connections".to_owned(),
        connections.to_string(),
        "--duration".to_owned(),
        format!("{}s", duration.as_secs().max(1)),
        "--latency".to_owned(),
    ];
    for h in HEADERS {
        args.extend(["--header".to_owned(), h.to_owned()]);
    }
    args.push(url(target));
    let text = run("wrk", netns, &args)?;
    parse_wrk(&text).ok_or_else(|| ToolError {
        tool: "wrk",
        detail: format!("unreadable report:\n{text}"),
    })
}

/// A wrk duration (`245.12us`, `1.23ms`, `2.00s`, `1.5m`) in µs.
fn wrk_duration_us(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(n * scale)
}

/// The figures of a `wrk --latency` report.
pub fn parse_wrk(text: &str) -> Option<Measured> {
    let mut m = Measured::default();
    let (mut p50, mut p99, mut rps, mut requests) = (None, None, None, None);
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => p50 = wrk_duration_us(v),
            ["99%", v] => p99 = wrk_duration_us(v),
            ["Requests/sec:", v] => rps = v.parse().ok(),
            [n, "requests", "in", ..] => requests = n.parse().ok(),
            ["Non-2xx", "or", "3xx", "responses:", n] => m.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                // `connect 0, read 0, write 0, timeout 0`
                for pair in rest.chunks(2) {
                    if let [_, n] = pair {
                        m.errors += n.trim_end_matches(',').parse::<u64>().ok()?;
                    }
                }
            }
            _ => {}
        }
    }
    m.p50_us = p50?;
    m.p99_us = p99?;
    m.rps = rps?;
    m.requests = requests?;
    Some(m)
}

/// `oha`: `rate` requests per second over `connections` keep-alive connections for
/// `duration`, each latency counted from the request's scheduled time
/// (`--latency-correction`: a late answer is charged to the requests it delayed).
pub fn oha(
    netns: &str,
    target: SocketAddr,
    rate: f64,
    connections: usize,
    duration: Duration,
) -> Result<Measured, ToolError> {
    let mut args = vec![
        "--no-tui".to_owned(),
        "--output-format".to_owned(),
        "json".to_owned(),
        "--latency-correction".to_owned(),
        "-z".to_owned(),
        format!("{}ms", duration.as_millis().max(1)),
        "-c".to_owned(),
        connections.to_string(),
        "-q".to_owned(),
        format!("{rate:.0}"),
    ];
    for h in HEADERS {
        args.extend(["-H".to_owned(), h.to_owned()]);
    }
    args.push(url(target));
    let text = run("oha", netns, &args)?;
    parse_oha(&text).ok_or_else(|| ToolError {
        tool: "oha",
        detail: format!("unreadable report:\n{text}"),
    })
}

/// The figures of an `oha --output-format json` report (times in seconds).
pub fn parse_oha(text: &str) -> Option<Measured> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let secs = |x: &serde_json::Value| x.as_f64().map(|s| s * 1e6);
    let summary = v.get("summary")?;
    let pct = v.get("latencyPercentiles")?;
    let count = |key: &str| -> u64 {
        v.get(key)
            .and_then(|d| d.as_object())
            .map(|d| d.values().filter_map(serde_json::Value::as_u64).sum())
            .unwrap_or(0)
    };
    let ok_2xx = v
        .get("statusCodeDistribution")
        .and_then(|d| d.as_object())
        .map(|d| {
            d.iter()
                .filter(|(code, _)| code.starts_with('2'))
                .filter_map(|(_, n)| n.as_u64())
                .sum::<u64>()
        })
        .unwrap_or(0);
    let answered = count("statusCodeDistribution");
    Some(Measured {
        rps: summary.get("requestsPerSec")?.as_f64()?,
        p50_us: secs(pct.get("p50")?)?,
        p99_us: secs(pct.get("p99")?)?,
        requests: answered,
        errors: count("errorDistribution") + (answered - ok_2xx),
    })
}

/// The first line of `tool --version` (or `-v`, which wrk answers), for the report.
pub fn version(tool: &str) -> String {
    for flag in ["--version", "-v"] {
        if let Ok(out) = Command::new(tool).arg(flag).output() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if let Some(line) = text.lines().find(|l| !l.trim().is_empty()) {
                if line
                    .to_ascii_lowercase()
                    .contains(&tool.to_ascii_lowercase())
                {
                    return line.trim().to_owned();
                }
            }
        }
    }
    format!("{tool} (version unknown)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 4s test @ http://10.1.0.2:8080/api\n  1 threads and 32 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     1.31ms  412.50us  12.04ms   88.12%\n    Req/Sec    24.51k     1.20k   26.00k    70.00%\n  Latency Distribution\n     50%    1.25ms\n     75%    1.40ms\n     90%    1.66ms\n     99%    2.91ms\n  97532 requests in 4.00s, 14.60MB read\n  Non-2xx or 3xx responses: 3\n  Socket errors: connect 0, read 2, write 0, timeout 1\nRequests/sec:  24380.45\nTransfer/sec:      3.65MB\n";

    #[test]
    fn reads_a_wrk_report() {
        let m = parse_wrk(WRK).expect("parsed");
        assert_eq!(m.p50_us, 1250.0);
        assert!((m.p99_us - 2910.0).abs() < 1e-6);
        assert_eq!(m.rps, 24380.45);
        assert_eq!(m.requests, 97532);
        assert_eq!(m.errors, 6);
    }

    #[test]
    fn a_wrk_report_without_latency_distribution_is_refused() {
        let text = WRK.replace("     50%    1.25ms\n", "");
        assert_eq!(parse_wrk(&text), None);
        assert_eq!(wrk_duration_us("12.5us"), Some(12.5));
        assert_eq!(wrk_duration_us("2.00s"), Some(2e6));
        assert_eq!(wrk_duration_us("7xs"), None);
    }

    #[test]
    fn reads_an_oha_report() {
        let text = r#"{"summary":{"successRate":1.0,"total":5.0,"requestsPerSec":4999.2},
            "latencyPercentiles":{"p10":0.0001,"p50":0.000089,"p99":0.00151},
            "statusCodeDistribution":{"200":24990,"503":2},
            "errorDistribution":{"connection closed":3}}"#;
        let m = parse_oha(text).expect("parsed");
        assert_eq!(m.rps, 4999.2);
        assert!((m.p50_us - 89.0).abs() < 1e-6);
        assert!((m.p99_us - 1510.0).abs() < 1e-6);
        assert_eq!(m.requests, 24992);
        assert_eq!(m.errors, 5);
    }

    #[test]
    fn an_oha_report_without_percentiles_is_refused() {
        assert_eq!(parse_oha(r#"{"summary":{"requestsPerSec":1.0}}"#), None);
        assert_eq!(parse_oha("not json"), None);
    }
}
