//! The capacity profile's figure the pre-warm schedule needs: rps one instance sustains.
use std::path::Path;

use serde::Deserialize;

use crate::error::InputError;

/// The fields of a capacity profile (DESIGN.md) this command reads; others are ignored.
#[derive(Debug, Deserialize)]
struct ProfileFields {
    /// Workers the load test measured (count): one instance is assumed to run as many.
    workers_measured: Option<f64>,
    /// Sustainable rps of the whole measured target at the SLO (requests/s).
    sustainable_rps: Option<f64>,
    /// Sustainable rps per worker at the SLO (requests/s).
    rps_per_worker: Option<f64>,
}

/// Rps per instance = `sustainable_rps`, or `rps_per_worker` x `workers_measured` when absent.
pub fn read_rps_per_instance(path: &Path) -> Result<f64, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| InputError::file(path, format!("cannot read capacity profile: {err}")))?;
    rps_per_instance(&text, path)
}

/// Parse a capacity profile's text (see [`read_rps_per_instance`]).
pub fn rps_per_instance(text: &str, path: &Path) -> Result<f64, InputError> {
    let fields: ProfileFields = serde_json::from_str(text).map_err(|err| {
        InputError::at_line(
            path,
            err.line(),
            "json",
            format!("not a capacity profile: {err}"),
        )
    })?;
    let positive = |value: Option<f64>| value.filter(|v| v.is_finite() && *v > 0.0);
    match (
        positive(fields.sustainable_rps),
        positive(fields.rps_per_worker),
        positive(fields.workers_measured),
    ) {
        (Some(rps), _, _) => Ok(rps),
        (None, Some(per_worker), Some(workers)) => Ok(per_worker * workers),
        _ => Err(InputError::file(
            path,
            "needs a positive `sustainable_rps`, or `rps_per_worker` and `workers_measured`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sustainable_rps_or_per_worker_times_workers() {
        let path = Path::new("p.json");
        let full =
            r#"{"version":1,"workers_measured":4,"sustainable_rps":180.0,"rps_per_worker":45.0}"#;
        assert_eq!(rps_per_instance(full, path).unwrap(), 180.0);
        let partial = r#"{"workers_measured":4,"rps_per_worker":45.5}"#;
        assert_eq!(rps_per_instance(partial, path).unwrap(), 182.0);
        assert!(rps_per_instance(r#"{"workers_measured":4}"#, path).is_err());
        assert!(rps_per_instance("{oops", path)
            .unwrap_err()
            .to_string()
            .contains("p.json:1"));
    }
}
