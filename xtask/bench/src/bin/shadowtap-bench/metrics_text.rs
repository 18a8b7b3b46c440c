//! Reading the agent's Prometheus text exposition in the benchmarks.

use std::collections::BTreeMap;

/// The samples of `family` summed by the value of their `outcome` label.
pub fn sum_by_outcome(metrics: &str, family: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{family}{{");
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        let Some(labels) = line.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let outcome = labels
            .split_once("outcome=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(o, _)| o);
        let value = line
            .rsplit_once(' ')
            .and_then(|(_, v)| v.parse::<f64>().ok());
        if let (Some(outcome), Some(value)) = (outcome, value) {
            *out.entry(outcome.to_owned()).or_insert(0.0) += value;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_every_series_of_an_outcome() {
        let text = "# HELP x\n\
            shadowtap_x_total{route=\"a\",outcome=\"same\"} 3\n\
            shadowtap_x_total{route=\"b\",outcome=\"same\"} 4\n\
            shadowtap_x_total{route=\"b\",outcome=\"other\"} 1\n\
            shadowtap_x_totals{outcome=\"same\"} 100\n";
        let sums = sum_by_outcome(text, "shadowtap_x_total");
        assert_eq!(sums.get("same"), Some(&7.0));
        assert_eq!(sums.get("other"), Some(&1.0));
        assert_eq!(sums.len(), 2);
    }
}
