//! The capacity profile's figure the pre-warm schedule needs: rps one instance sustains.
use std::path::Path;

use crate::error::InputError;
use crate::formats::profile::{self, CapacityProfile};

/// Rps per instance of a capacity profile, read with the strict profile reader.
pub fn read_rps_per_instance(path: &Path) -> Result<f64, InputError> {
    Ok(rps_per_instance(&profile::read(path)?))
}

/// One instance runs as many workers as were measured: `sustainable_rps`, or
/// `rps_per_worker` x `workers_measured` when the search found no sustainable rate.
pub fn rps_per_instance(profile: &CapacityProfile) -> f64 {
    if profile.sustainable_rps.is_finite() && profile.sustainable_rps > 0.0 {
        profile.sustainable_rps
    } else {
        profile.rps_per_worker * f64::from(profile.workers_measured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(sustainable_rps: f64) -> CapacityProfile {
        let text = format!(
            r#"{{"version":1,"target":"t","measured_at":"2026-01-01T00:00:00Z","slo":"p95<200ms",
            "workers_measured":4,"sustainable_rps":{sustainable_rps},"rps_per_worker":45.5,
            "service_time_ms":{{"mean":20,"p95":40}},"curve":[]}}"#
        );
        CapacityProfile::parse(&text, Path::new("p.json")).unwrap()
    }

    #[test]
    fn sustainable_rps_or_per_worker_times_workers() {
        assert_eq!(rps_per_instance(&profile(180.0)), 180.0);
        assert_eq!(rps_per_instance(&profile(0.0)), 182.0);
    }
}
