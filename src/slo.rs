//! The latency objective, one type for every command: loadtest's `--slo` (what the
//! capacity search holds), the capacity profile's `slo`, and simulate's `--slo-p95`
//! and policy `[slo] p95_ms`. Written as a threshold on latency, `p95<200ms`.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::loadtest::threshold::{Comparison, Statistic, Threshold};

/// An upper bound on a latency statistic (a percentile, the mean or the max).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySlo(Threshold);

impl LatencySlo {
    /// `pP<Lms`: the P-th percentile of response times under `limit_ms`.
    pub fn percentile(percentile: f64, limit_ms: f64) -> LatencySlo {
        LatencySlo(Threshold {
            expr: format!("p{percentile}<{limit_ms}ms"),
            metric: Statistic::Percentile(percentile),
            comparison: Comparison::Less,
            value: limit_ms,
        })
    }

    /// The bound, ms.
    pub fn limit_ms(&self) -> f64 {
        self.0.value
    }

    /// What is bounded: a percentile, the mean or the max.
    pub fn statistic(&self) -> Statistic {
        self.0.metric
    }

    /// Does a measured latency (ms) meet the objective?
    pub fn holds(&self, measured_ms: f64) -> bool {
        self.0.holds(measured_ms)
    }

    /// The objective as a loadtest threshold (the same grammar).
    pub fn threshold(&self) -> &Threshold {
        &self.0
    }
}

impl FromStr for LatencySlo {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let threshold: Threshold = text.parse()?;
        // An objective bounds latency from above: `p95>1ms` would search inverted,
        // `error_rate<1%` is not a latency.
        let latency = matches!(
            threshold.metric,
            Statistic::Percentile(_) | Statistic::Mean | Statistic::Max
        );
        let upper = matches!(
            threshold.comparison,
            Comparison::Less | Comparison::LessOrEqual
        );
        if !(latency && upper) {
            return Err(format!(
                "'{text}': must be an upper bound on latency such as p95<200ms"
            ));
        }
        Ok(LatencySlo(threshold))
    }
}

impl fmt::Display for LatencySlo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Written as its text, `"p95<200ms"`, in the profile and every JSON report.
impl Serialize for LatencySlo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Read back strictly: a profile whose `slo` is not an objective is refused.
impl<'de> Deserialize<'de> for LatencySlo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_upper_bounds_only() {
        let slo: LatencySlo = "p95 < 200ms".parse().unwrap();
        assert_eq!(slo.to_string(), "p95<200ms");
        assert_eq!(slo.limit_ms(), 200.0);
        assert!(slo.holds(199.9) && !slo.holds(200.0));
        let inclusive: LatencySlo = "max<=2s".parse().unwrap();
        assert!(inclusive.holds(2000.0));
        assert_eq!(inclusive.statistic(), Statistic::Max);
        for bad in ["p95>1ms", "error_rate<1%", "rps<100", "p95"] {
            assert!(bad.parse::<LatencySlo>().is_err(), "{bad}");
        }
        assert!("p95>1ms"
            .parse::<LatencySlo>()
            .unwrap_err()
            .contains("must be an upper bound on latency"));
    }

    #[test]
    fn a_percentile_objective_reads_back_as_written() {
        let slo = LatencySlo::percentile(95.0, 300.0);
        assert_eq!(slo.to_string(), "p95<300ms");
        assert_eq!("p95<300ms".parse::<LatencySlo>().unwrap(), slo);
        let json = serde_json::to_string(&slo).unwrap();
        assert_eq!(json, "\"p95<300ms\"");
        assert_eq!(serde_json::from_str::<LatencySlo>(&json).unwrap(), slo);
        let err = serde_json::from_str::<LatencySlo>("\"rps>5\"").unwrap_err();
        assert!(err.to_string().contains("upper bound on latency"), "{err}");
    }
}
