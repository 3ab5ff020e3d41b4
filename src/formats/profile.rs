//! The capacity profile (JSON) that `loadtest --find-capacity` writes and
//! `simulate --capacity` reads: what one worker sustains at the SLO.
use std::path::Path;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::located::Source;
use crate::error::InputError;
use crate::slo::LatencySlo;

/// Current schema version.
pub const VERSION: u32 = 1;

/// A measured capacity profile (schema in DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityProfile {
    /// Schema version (1).
    #[serde(deserialize_with = "supported_version")]
    pub version: u32,
    /// What was measured (URL or scenario name).
    pub target: String,
    /// When, RFC 3339.
    pub measured_at: String,
    /// The SLO the capacity was found at, e.g. `p95<200ms`.
    pub slo: LatencySlo,
    /// Workers of the measured target, workers.
    #[serde(deserialize_with = "at_least_one")]
    pub workers_measured: u32,
    /// Highest rate that held the SLO for the whole target, rps.
    pub sustainable_rps: f64,
    /// `sustainable_rps / workers_measured`, rps per worker.
    #[serde(deserialize_with = "positive")]
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
    #[serde(deserialize_with = "positive")]
    pub mean: f64,
    /// 95th percentile, ms.
    pub p95: f64,
}

/// One measured rate on the load → latency curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvePoint {
    /// Offered rate, rps (> 0: simulate interpolates p95 over it).
    #[serde(deserialize_with = "positive")]
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms (> 0: simulate's latency model follows it).
    #[serde(deserialize_with = "positive")]
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Failed share of requests, fraction 0..1.
    pub error_rate: f64,
}

impl CapacityProfile {
    /// Parse and check a profile; `file` names the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, InputError> {
        // The checks run inside deserialization, so serde_json places them on their line.
        Source::new(file, text).json("profile")
    }
}

/// Read a capacity profile; every problem is an [`InputError`] (exit 2).
pub fn read(path: &Path) -> Result<CapacityProfile, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| InputError::file(path, format!("cannot read capacity profile: {err}")))?;
    CapacityProfile::parse(&text, path)
}

fn supported_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let version = u32::deserialize(deserializer)?;
    if version == VERSION {
        Ok(version)
    } else {
        Err(D::Error::custom(format!(
            "unsupported version {version} (expected {VERSION})"
        )))
    }
}

fn positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(D::Error::custom(format!("{value} must be > 0")))
    }
}

fn at_least_one<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let value = u32::deserialize(deserializer)?;
    if value >= 1 {
        Ok(value)
    } else {
        Err(D::Error::custom("must be at least 1"))
    }
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
        assert!(err.ends_with("  |   \"rps_per_worker\": -1,"), "{err}");
        let bad = GOOD.replace("\"version\": 1", "\"version\": 2");
        let err = CapacityProfile::parse(&bad, Path::new("p.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.json:2: version: unsupported"), "{err}");
        let bad = GOOD.replace("\"mean\": 20.0", "\"mean\": 0");
        let err = CapacityProfile::parse(&bad, Path::new("p.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.json:9: service_time_ms.mean"), "{err}");
        let bad = GOOD.replace("\"slo\"", "\"sloo\"");
        let err = CapacityProfile::parse(&bad, Path::new("p.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sloo"), "{err}");
        let bad = GOOD.replace("\"p95_ms\": 70.0", "\"p95_ms\": -3");
        let err = CapacityProfile::parse(&bad, Path::new("p.json"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.json:10: curve[0].p95_ms"), "{err}");
    }
}
