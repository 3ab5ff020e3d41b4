//! The capacity profile (JSON) that `loadtest --find-capacity` writes and
//! `simulate --capacity` reads: what one worker sustains at the SLO.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::InputError;

/// Current schema version.
pub const VERSION: u32 = 1;

/// A measured capacity profile (schema in DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityProfile {
    /// Schema version (1).
    pub version: u32,
    /// What was measured (URL or scenario name).
    pub target: String,
    /// When, RFC 3339.
    pub measured_at: String,
    /// The SLO the capacity was found at, e.g. `p95<200ms`.
    pub slo: String,
    /// Workers of the measured target, workers.
    pub workers_measured: u32,
    /// Highest rate that held the SLO for the whole target, rps.
    pub sustainable_rps: f64,
    /// `sustainable_rps / workers_measured`, rps per worker.
    pub rps_per_worker: f64,
    /// Service time of one request, ms.
    pub service_time_ms: ServiceTimeMs,
    /// The measured load → latency curve.
    pub curve: Vec<CurvePoint>,
}

/// Service-time statistics, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTimeMs {
    /// Mean, ms.
    pub mean: f64,
    /// 95th percentile, ms.
    pub p95: f64,
}

/// One measured rate on the load → latency curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvePoint {
    /// Offered rate, rps.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Failed share of requests, fraction 0..1.
    pub error_rate: f64,
}

impl CapacityProfile {
    /// Parse and check a profile; `file` names the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, InputError> {
        let profile: CapacityProfile = serde_json::from_str(text).map_err(|err| {
            let message = err.to_string();
            let field = message.split('`').nth(1).unwrap_or("profile").to_string();
            InputError::at_line(file, err.line().max(1), field, message)
        })?;
        profile.check().map_err(|(field, message)| {
            InputError::at_line(file, line_of(text, field), field, message)
        })?;
        Ok(profile)
    }

    fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.version != VERSION {
            return Err((
                "version",
                format!("unsupported version {} (expected {VERSION})", self.version),
            ));
        }
        if !positive(self.rps_per_worker) {
            return Err(("rps_per_worker", "must be > 0".into()));
        }
        if !positive(self.service_time_ms.mean) {
            return Err(("mean", "service_time_ms.mean must be > 0".into()));
        }
        if self.workers_measured == 0 {
            return Err(("workers_measured", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Read a capacity profile; every problem is an [`InputError`] (exit 2).
pub fn read(path: &Path) -> Result<CapacityProfile, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| InputError::file(path, format!("cannot read capacity profile: {err}")))?;
    CapacityProfile::parse(&text, path)
}

/// Line where `"key"` first appears, 1 when absent.
fn line_of(text: &str, key: &str) -> usize {
    let quoted = format!("\"{key}\"");
    text.lines()
        .position(|l| l.contains(&quoted))
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
  "version": 1,
  "target": "http://127.0.0.1:8080/",
  "measured_at": "2026-11-25T02:00:00Z",
  "slo": "p95<200ms",
  "workers_measured": 4,
  "sustainable_rps": 160.0,
  "rps_per_worker": 40.0,
  "service_time_ms": { "mean": 20.0, "p95": 60.0 },
  "curve": [ { "rps": 100.0, "p50_ms": 21.0, "p95_ms": 70.0, "p99_ms": 95.0, "error_rate": 0.0 } ]
}"#;

    #[test]
    fn round_trips() {
        let p = CapacityProfile::parse(GOOD, Path::new("p.json")).unwrap();
        assert_eq!(p.rps_per_worker, 40.0);
        let back = serde_json::to_string(&p).unwrap();
        assert_eq!(
            CapacityProfile::parse(&back, Path::new("p.json")).unwrap(),
            p
        );
    }

    #[test]
    fn errors_name_the_field() {
        let bad = GOOD.replace("\"rps_per_worker\": 40.0", "\"rps_per_worker\": -1");
        let err = CapacityProfile::parse(&bad, Path::new("p.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.json:8: rps_per_worker"), "{err}");
        let bad = GOOD.replace("\"slo\"", "\"sloo\"");
        let err = CapacityProfile::parse(&bad, Path::new("p.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sloo"), "{err}");
    }
}
