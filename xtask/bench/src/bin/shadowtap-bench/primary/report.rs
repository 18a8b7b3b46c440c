//! The primary-path benchmark's report: medians across rounds with their spread (min–max),
//! ratios against no agent taken within each round (then their median, so a round that was
//! slow for everyone does not move them), CPU per request, the exact configuration, and the
//! issue's targets next to the figures.

use std::{collections::BTreeMap, time::Duration};

use super::{tools, Config, Settings, Slot, CLOSED_CONNECTIONS, OPEN_CONNECTIONS};

/// Targets (issue 17): client p50 and p99 at fixed rates, saturation, agent CPU.
const P50_MAX: f64 = 1.05;
const P99_MAX: f64 = 1.15;
const SATURATION_MIN: f64 = 0.80;
const CPU_MIRRORED_MAX_US: f64 = 4.0;
const CPU_NOT_SAMPLED_MAX_US: f64 = 1.5;

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Median, min and max.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median(v.to_vec()), min, max)
}

fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        "—".to_owned()
    } else if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}

/// `median (min–max)` of a latency in µs.
fn us_cell(v: &[f64]) -> String {
    let (m, lo, hi) = spread(v);
    format!("{} ({}–{})", fmt_us(m), fmt_us(lo), fmt_us(hi))
}

/// The median of per-round ratios `config / no agent`, with their spread: `1.02× (0.97–1.10)`.
fn ratio(values: &[f64], base: &[f64]) -> Option<(f64, String)> {
    let r: Vec<f64> = values
        .iter()
        .zip(base)
        .filter(|(_, b)| **b > 0.0)
        .map(|(v, b)| v / b)
        .collect();
    if r.is_empty() {
        return None;
    }
    let (m, lo, hi) = spread(&r);
    Some((m, format!("{m:.2}× ({lo:.2}–{hi:.2})")))
}

fn per_request_us(cpu_s: f64, n: u64) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        cpu_s * 1e6 / n as f64
    }
}

/// One slot in a line, for the progress log.
pub fn one_line(s: &Slot, settings: &Settings) -> String {
    let fixed: Vec<String> = settings
        .rates
        .iter()
        .zip(&s.fixed)
        .map(|(r, m)| format!("{r:.0}/s p50 {} p99 {}", fmt_us(m.p50_us), fmt_us(m.p99_us)))
        .collect();
    format!(
        "{}; saturation {:.0}/s p99 {}; served {} mirrored {} decoded {}; cpu agent {:.2}s proxy {:.2}s backends {:.2}s; lost {:?}",
        fixed.join(", "),
        s.saturation.rps,
        fmt_us(s.saturation.p99_us),
        s.served,
        s.mirrored,
        s.decoded,
        s.cpu.agent_cpu,
        s.cpu.proxy_cpu,
        s.cpu.backends_cpu,
        s.lost
    )
}

/// Per-slot CPU figures of one configuration (µs): (agent or proxy per client request, per
/// mirrored request, agent per decoded request, backends per client request).
fn cpu_figures(config: Config, s: &Slot) -> [f64; 4] {
    let component = match config {
        Config::Nginx => s.cpu.proxy_cpu,
        _ => s.cpu.agent_cpu,
    };
    let has_component = matches!(
        config,
        Config::Nginx | Config::Shadowtap | Config::NotSampled
    );
    let nan = f64::NAN;
    [
        if has_component {
            per_request_us(component, s.served)
        } else {
            nan
        },
        if has_component {
            per_request_us(component, s.mirrored)
        } else {
            nan
        },
        if config == Config::Nginx {
            nan
        } else {
            per_request_us(s.cpu.agent_cpu, s.decoded)
        },
        per_request_us(s.cpu.backends_cpu, s.served),
    ]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{} cores ({cpu}), Linux {kernel}, load average at the end {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The whole report.
pub fn render(results: &[(Config, Vec<Slot>)], settings: &Settings, elapsed: Duration) -> String {
    let base = &results[0].1;
    let mut out = String::new();
    out.push_str(&format!(
        "primary path: the client's view of foo-v1 (HTTP/1.1 GET of ~200 B, keep-alive) with each configuration in the path\n\n\
         * backends: {}\n\
         * agent: `shadowtap agent --routes DIR --seed 42{}` (release build)\n\
         * machine: {}; the load generator, both backends, the agent or proxy and foo-v2 share it\n\
         * {} interleaved rounds of (a) (b) (b0) (c), each configuration started fresh for its slot; run took {:.0} s\n\
         * fixed rates: `{}` open loop, {OPEN_CONNECTIONS} connections, {} s per rate, `--latency-correction` (latency from each request's scheduled time: no coordinated omission); rates {} req/s{}\n\
         * saturation: `{}` closed loop, 1 thread, {CLOSED_CONNECTIONS} connections, {} s\n\
         * CPU: user + system time from /proc/<pid>/stat over the measurements (agent: its process; proxy: nginx master + workers; backends: both nginx), divided by the requests foo-v1 served, or foo-v2 served (mirrored), or the agent decoded; softirq time spent in the kernel programs is charged to whichever process sent the packet, not to the agent\n\
         * cells: median across rounds (min–max); ratios: median across rounds of the ratio to (a) in the same round (min–max)\n\
         * command: `cargo xtask bench primary` (environment: SHADOWTAP_BENCH_ROUNDS, SHADOWTAP_BENCH_SECS, SHADOWTAP_BENCH_RATES, SHADOWTAP_BENCH_BACKEND=own, SHADOWTAP_BENCH_AGENT_ARGS)\n\n",
        settings.backends.describe(),
        settings
            .agent_args
            .iter()
            .map(|a| format!(" {a}"))
            .collect::<String>(),
        machine(),
        settings.rounds,
        elapsed.as_secs_f64(),
        tools::version("oha"),
        settings.secs.as_secs(),
        settings
            .rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        settings.calibrated.map_or(String::new(), |s| format!(
            " (1/8, 1/4, 1/2 of the no-agent saturation {s:.0} req/s measured with wrk before the rounds)"
        )),
        tools::version("wrk"),
        settings.secs.as_secs(),
    ));

    // Fixed rates.
    out.push_str("latency at fixed rates (oha)\n\n| configuration |");
    for r in &settings.rates {
        out.push_str(&format!(" {r:.0}/s p50 | p50 ratio | p99 | p99 ratio |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(4 * settings.rates.len()));
    out.push('\n');
    for (config, slots) in results {
        out.push_str(&format!("| {} |", config.label()));
        for i in 0..settings.rates.len() {
            for pick in [
                |m: &tools::Measured| m.p50_us,
                |m: &tools::Measured| m.p99_us,
            ] {
                let v: Vec<f64> = slots.iter().map(|s| pick(&s.fixed[i])).collect();
                let b: Vec<f64> = base.iter().map(|s| pick(&s.fixed[i])).collect();
                let r = if *config == Config::NoAgent {
                    "—".to_owned()
                } else {
                    ratio(&v, &b).map_or("—".to_owned(), |(_, t)| t)
                };
                out.push_str(&format!(" {} | {r} |", us_cell(&v)));
            }
        }
        out.push('\n');
    }

    // Saturation, mirroring and cost.
    out.push_str(
        "\nsaturation (wrk), mirroring and CPU per request\n\n\
         | configuration | req/s | ratio | p50 | p99 | mirrored | lost (agent counted) | client errors | agent/proxy CPU per client request | per mirrored request | agent CPU per decoded request | backends CPU per client request |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut cpu_medians: BTreeMap<&'static str, [f64; 4]> = BTreeMap::new();
    for (config, slots) in results {
        let rps: Vec<f64> = slots.iter().map(|s| s.saturation.rps).collect();
        let base_rps: Vec<f64> = base.iter().map(|s| s.saturation.rps).collect();
        let (m, lo, hi) = spread(&rps);
        let r = if *config == Config::NoAgent {
            "—".to_owned()
        } else {
            ratio(&rps, &base_rps).map_or("—".to_owned(), |(_, t)| t)
        };
        let served: u64 = slots.iter().map(|s| s.served).sum();
        let mirrored: u64 = slots.iter().map(|s| s.mirrored).sum();
        let mut lost = BTreeMap::<String, f64>::new();
        for (reason, n) in slots.iter().flat_map(|s| &s.lost) {
            *lost.entry(reason.clone()).or_default() += n;
        }
        let lost = match config {
            Config::NoAgent | Config::Nginx => "—".to_owned(),
            _ if lost.is_empty() => "0".to_owned(),
            _ => lost
                .iter()
                .map(|(r, n)| format!("{r} {n:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let errors: u64 = slots
            .iter()
            .map(|s| s.saturation.errors + s.fixed.iter().map(|f| f.errors).sum::<u64>())
            .sum();
        let figures: Vec<[f64; 4]> = slots.iter().map(|s| cpu_figures(*config, s)).collect();
        let cell = |i: usize| {
            let v: Vec<f64> = figures
                .iter()
                .map(|f| f[i])
                .filter(|x| x.is_finite())
                .collect();
            if v.is_empty() {
                "—".to_owned()
            } else {
                us_cell(&v)
            }
        };
        let med: [f64; 4] = std::array::from_fn(|i| {
            median(
                figures
                    .iter()
                    .map(|f| f[i])
                    .filter(|x| x.is_finite())
                    .collect(),
            )
        });
        cpu_medians.insert(config.label(), med);
        out.push_str(&format!(
            "| {} | {m:.0} ({lo:.0}–{hi:.0}) | {r} | {} | {} | {:.1} % ({mirrored} / {served}) | {lost} | {errors} | {} | {} | {} | {} |\n",
            config.label(),
            us_cell(&slots.iter().map(|s| s.saturation.p50_us).collect::<Vec<_>>()),
            us_cell(&slots.iter().map(|s| s.saturation.p99_us).collect::<Vec<_>>()),
            100.0 * mirrored as f64 / served.max(1) as f64,
            cell(0),
            cell(1),
            cell(2),
            cell(3),
        ));
    }

    out.push_str(&targets(results, settings, &cpu_medians));
    out
}

/// The targets next to the figures of (b) and (b0).
fn targets(
    results: &[(Config, Vec<Slot>)],
    settings: &Settings,
    cpu: &BTreeMap<&'static str, [f64; 4]>,
) -> String {
    let find = |c: Config| {
        results
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, s)| s.as_slice())
            .unwrap_or(&[])
    };
    let (base, b) = (find(Config::NoAgent), find(Config::Shadowtap));
    let mut out = String::from(
        "\ntargets (issue 17), shadowtap (b) against no agent (a)\n\n| target | figure | verdict |\n|---|---:|---|\n",
    );
    for (i, r) in settings.rates.iter().enumerate() {
        for (name, max, pick) in [
            (
                "p50",
                P50_MAX,
                (|m: &tools::Measured| m.p50_us) as fn(&tools::Measured) -> f64,
            ),
            ("p99", P99_MAX, |m: &tools::Measured| m.p99_us),
        ] {
            let v: Vec<f64> = b.iter().map(|s| pick(&s.fixed[i])).collect();
            let w: Vec<f64> = base.iter().map(|s| pick(&s.fixed[i])).collect();
            if let Some((m, text)) = ratio(&v, &w) {
                out.push_str(&format!(
                    "| client {name} at {r:.0} req/s ≤ {max:.2}× | {text} | {} |\n",
                    verdict(m <= max)
                ));
            }
        }
    }
    let v: Vec<f64> = b.iter().map(|s| s.saturation.rps).collect();
    let w: Vec<f64> = base.iter().map(|s| s.saturation.rps).collect();
    if let Some((m, text)) = ratio(&v, &w) {
        out.push_str(&format!(
            "| saturation ≥ {SATURATION_MIN:.2}× | {text} | {} |\n",
            verdict(m >= SATURATION_MIN)
        ));
    }
    let not_sampled = cpu
        .get(Config::NotSampled.label())
        .map_or(f64::NAN, |f| f[2]);
    if not_sampled.is_finite() {
        out.push_str(&format!(
            "| agent CPU per captured-but-not-sampled request ≤ {CPU_NOT_SAMPLED_MAX_US} µs | {} (b0: agent CPU / requests decoded) | {} |\n",
            fmt_us(not_sampled),
            verdict(not_sampled <= CPU_NOT_SAMPLED_MAX_US)
        ));
    }
    // (b) mirrors 42 %: its CPU also pays for the 58 % not sampled. The marginal cost of a
    // mirrored request removes them at (b0)'s price, per round.
    let marginal: Vec<f64> = b
        .iter()
        .filter(|s| s.mirrored > 0)
        .map(|s| {
            let others = s.decoded.saturating_sub(s.mirrored) as f64;
            (s.cpu.agent_cpu * 1e6 - others * not_sampled) / s.mirrored as f64
        })
        .filter(|x| x.is_finite())
        .collect();
    let raw = cpu
        .get(Config::Shadowtap.label())
        .map_or(f64::NAN, |f| f[1]);
    if !marginal.is_empty() {
        let (m, lo, hi) = spread(&marginal);
        out.push_str(&format!(
            "| agent CPU per mirrored request ≤ {CPU_MIRRORED_MAX_US} µs | {} ({}–{}) marginal: (b)'s agent CPU minus its not-sampled requests at (b0)'s price, per mirrored request; {} all of (b)'s agent CPU per mirrored request | {} |\n",
            fmt_us(m),
            fmt_us(lo),
            fmt_us(hi),
            fmt_us(raw),
            verdict(m <= CPU_MIRRORED_MAX_US)
        ));
    }
    if let Some(f) = cpu.get(Config::Nginx.label()) {
        out.push_str(&format!(
            "| for comparison: nginx proxy CPU per mirrored request | {} ({} per client request) | — |\n",
            fmt_us(f[1]),
            fmt_us(f[0])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_taken_within_rounds() {
        // Round 2 is slow for everyone: the per-round ratio stays 1.1.
        let (m, text) = ratio(&[110.0, 220.0, 110.0], &[100.0, 200.0, 100.0]).expect("ratio");
        assert!((m - 1.1).abs() < 1e-9);
        assert_eq!(text, "1.10× (1.10–1.10)");
        assert!(ratio(&[1.0], &[0.0]).is_none());
    }

    #[test]
    fn spreads_and_medians() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
        assert_eq!(per_request_us(0.002, 1000), 2.0);
        assert!(per_request_us(1.0, 0).is_nan());
    }
}
