//! Pass/fail thresholds for CI: `p95<300ms`, `p99.9<1s`, `error_rate<1%`, `rps>200`.
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::units::parse_duration;

/// What a threshold is about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Statistic {
    /// A latency percentile (0..=100), in milliseconds.
    Percentile(f64),
    /// Mean latency, ms.
    Mean,
    /// Maximum latency, ms.
    Max,
    /// Failures / requests, as a fraction.
    ErrorRate,
    /// Requests per second over the run.
    Rps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// One parsed threshold; `value` is in ms for latencies, a fraction for error rate, rps for rps.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub expr: String,
    pub metric: Statistic,
    pub comparison: Comparison,
    pub value: f64,
}

impl Threshold {
    /// Does the measured value satisfy the threshold?
    pub fn holds(&self, measured: f64) -> bool {
        match self.comparison {
            Comparison::Less => measured < self.value,
            Comparison::LessOrEqual => measured <= self.value,
            Comparison::Greater => measured > self.value,
            Comparison::GreaterOrEqual => measured >= self.value,
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expr: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (at, comparison, op_len) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| {
                expr.find(op).map(|i| {
                    let cmp = match *op {
                        "<=" => Comparison::LessOrEqual,
                        ">=" => Comparison::GreaterOrEqual,
                        "<" => Comparison::Less,
                        _ => Comparison::Greater,
                    };
                    (i, cmp, op.len())
                })
            })
            .ok_or_else(|| {
                format!("threshold '{text}' has no comparison (expected e.g. p95<300ms, error_rate<1%, rps>200)")
            })?;
        let name = &expr[..at];
        let rhs = &expr[at + op_len..];
        let metric = match name {
            "mean" | "avg" => Statistic::Mean,
            "max" => Statistic::Max,
            "error_rate" | "errors" => Statistic::ErrorRate,
            "rps" => Statistic::Rps,
            "median" => Statistic::Percentile(50.0),
            p if p.starts_with('p') => {
                let q: f64 = p[1..].parse().map_err(|_| {
                    format!("threshold '{text}': '{p}' is not a percentile like p95 or p99.9")
                })?;
                if !(q > 0.0 && q <= 100.0) {
                    return Err(format!("threshold '{text}': percentile must be in (0, 100]"));
                }
                Statistic::Percentile(q)
            }
            other => {
                return Err(format!(
                    "threshold '{text}': unknown metric '{other}' (expected pNN, mean, max, error_rate or rps)"
                ))
            }
        };
        let value = match metric {
            Statistic::Percentile(_) | Statistic::Mean | Statistic::Max => {
                parse_duration(rhs)
                    .map_err(|e| format!("threshold '{text}': {e}"))?
                    .as_secs_f64()
                    * 1e3
            }
            Statistic::ErrorRate => {
                if let Some(p) = rhs.strip_suffix('%') {
                    p.parse::<f64>()
                        .map_err(|_| format!("threshold '{text}': '{rhs}' is not a percentage"))?
                        / 100.0
                } else {
                    rhs.parse::<f64>()
                        .map_err(|_| format!("threshold '{text}': '{rhs}' is not a number"))?
                }
            }
            Statistic::Rps => rhs
                .parse::<f64>()
                .map_err(|_| format!("threshold '{text}': '{rhs}' is not a number"))?,
        };
        check_possible(text, metric, comparison, value)?;
        Ok(Threshold {
            expr,
            metric,
            comparison,
            value,
        })
    }
}

/// Refuse a gate that can never fail or never pass: it would pass or fail CI for
/// a reason that has nothing to do with the service.
fn check_possible(
    text: &str,
    metric: Statistic,
    comparison: Comparison,
    value: f64,
) -> Result<(), String> {
    if !value.is_finite() {
        return Err(format!(
            "threshold '{text}': the value must be a finite number"
        ));
    }
    if value < 0.0 {
        return Err(format!(
            "threshold '{text}': the value must not be negative"
        ));
    }
    if metric == Statistic::ErrorRate && value > 1.0 {
        return Err(format!(
            "threshold '{text}': an error rate is at most 100% (write 1% or 0.01)"
        ));
    }
    let never_fails = match comparison {
        // `x >= 0` holds for every measurement; so does `error_rate <= 100%`.
        Comparison::GreaterOrEqual => value == 0.0,
        Comparison::LessOrEqual => metric == Statistic::ErrorRate && value == 1.0,
        _ => false,
    };
    let never_passes = match comparison {
        // Nothing measured is below zero, and no error rate is above 100%.
        Comparison::Less => value == 0.0,
        Comparison::Greater => metric == Statistic::ErrorRate && value == 1.0,
        _ => false,
    };
    if never_fails || never_passes {
        return Err(format!(
            "threshold '{text}' {} whatever is measured",
            if never_fails { "holds" } else { "fails" }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let t: Threshold = "p95<300ms".parse().unwrap();
        assert_eq!(t.metric, Statistic::Percentile(95.0));
        assert_eq!(t.comparison, Comparison::Less);
        assert!((t.value - 300.0).abs() < 1e-9);
        let t: Threshold = "p99.9 < 1s".parse().unwrap();
        assert_eq!(t.metric, Statistic::Percentile(99.9));
        assert!((t.value - 1000.0).abs() < 1e-9);
        let t: Threshold = "error_rate<1%".parse().unwrap();
        assert!((t.value - 0.01).abs() < 1e-12);
        let t: Threshold = "rps>=200".parse().unwrap();
        assert_eq!(t.comparison, Comparison::GreaterOrEqual);
        assert!(t.holds(200.0) && !t.holds(199.0));
    }

    #[test]
    fn rejects_bad_thresholds() {
        for bad in [
            "p95",
            "p95<300",
            "p200<1s",
            "latency<1s",
            "rps>lots",
            "error_rate<x%",
            "error_rate<150%",
            "error_rate<-1%",
            "rps>1e400",
            "p95<-5ms",
            "rps>=0",
            "error_rate<=100%",
            "p99<0ms",
        ] {
            assert!(
                bad.parse::<Threshold>().is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
