//! Daily peaks of a forecast and the pre-warm schedule that covers its upper bound.
use chrono::{DateTime, Duration, FixedOffset};
use serde::Serialize;

use super::result::ForecastPoint;

/// The highest forecast hour of one local day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Start of the peak hour (RFC 3339).
    pub time: DateTime<FixedOffset>,
    /// Forecast mean rps of that hour (requests/s).
    pub rps: f64,
    /// Upper bound of the forecast interval at that hour (requests/s).
    pub upper: f64,
}

/// One step of the pre-warm schedule: from `at`, hold `instances`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrewarmStep {
    /// When the fleet must be at this size (RFC 3339): `lead` before a rise, at the hour for a fall.
    pub at: DateTime<FixedOffset>,
    /// Instances to hold from `at` (count) = ceil(upper / rps per instance), at least 1.
    pub instances: u32,
    /// The next daily peak this step leads to (RFC 3339), if any is inside the horizon.
    pub peak_time: Option<DateTime<FixedOffset>>,
}

/// The highest hour of each local calendar day of the forecast.
pub fn daily_peaks(points: &[ForecastPoint]) -> Vec<Peak> {
    let mut peaks: Vec<Peak> = Vec::new();
    for point in points {
        let candidate = Peak {
            time: point.timestamp,
            rps: point.rps,
            upper: point.upper,
        };
        match peaks.last_mut() {
            Some(last) if last.time.date_naive() == point.timestamp.date_naive() => {
                if point.rps > last.rps {
                    *last = candidate;
                }
            }
            _ => peaks.push(candidate),
        }
    }
    peaks
}

/// Instances to hold over time so that every hour's upper bound is covered from `lead` before it.
///
/// Hour h needs n_h = ceil(upper_h / rps_per_instance) on [start_h - lead, start_h + 1h);
/// the schedule is the running maximum of those needs, one step per change.
pub fn prewarm_schedule(
    points: &[ForecastPoint],
    peaks: &[Peak],
    rps_per_instance: f64,
    lead: Duration,
) -> Vec<PrewarmStep> {
    let needs: Vec<(DateTime<FixedOffset>, DateTime<FixedOffset>, u32)> = points
        .iter()
        .map(|p| {
            let instances = (p.upper / rps_per_instance).ceil().max(1.0) as u32;
            (
                p.timestamp - lead,
                p.timestamp + Duration::hours(1),
                instances,
            )
        })
        .collect();
    let mut breakpoints: Vec<DateTime<FixedOffset>> = needs.iter().map(|n| n.0).collect();
    breakpoints.extend(needs.iter().map(|n| n.1));
    breakpoints.sort();
    breakpoints.dedup();
    let mut steps: Vec<PrewarmStep> = Vec::new();
    for at in breakpoints {
        let Some(instances) = needs
            .iter()
            .filter(|(from, to, _)| *from <= at && at < *to)
            .map(|n| n.2)
            .max()
        else {
            continue; // after the horizon
        };
        if steps.last().map(|s| s.instances) != Some(instances) {
            let peak_time = peaks.iter().find(|p| p.time >= at).map(|p| p.time);
            steps.push(PrewarmStep {
                at,
                instances,
                peak_time,
            });
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn points(uppers: &[f64]) -> Vec<ForecastPoint> {
        let start = FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2024, 5, 6, 0, 0, 0)
            .unwrap();
        uppers
            .iter()
            .enumerate()
            .map(|(i, &upper)| ForecastPoint {
                timestamp: start + Duration::hours(i as i64),
                rps: upper * 0.8,
                lower: upper * 0.6,
                upper,
                holiday: None,
            })
            .collect()
    }

    #[test]
    fn peaks_are_per_local_day() {
        let mut uppers = vec![10.0; 48];
        uppers[14] = 50.0;
        uppers[24 + 20] = 40.0;
        let peaks = daily_peaks(&points(&uppers));
        assert_eq!(peaks.len(), 2);
        assert_eq!(peaks[0].time.to_rfc3339(), "2024-05-06T14:00:00+00:00");
        assert_eq!(peaks[1].upper, 40.0);
    }

    #[test]
    fn rises_start_lead_before_and_falls_wait_for_the_hour() {
        // 100 rps per instance: needs 1, 3, 3, 2.
        let forecast = points(&[90.0, 250.0, 300.0, 120.0]);
        let peaks = daily_peaks(&forecast);
        let steps = prewarm_schedule(&forecast, &peaks, 100.0, Duration::minutes(10));
        let summary: Vec<(String, u32)> = steps
            .iter()
            .map(|s| (s.at.format("%H:%M").to_string(), s.instances))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("23:50".into(), 1),
                ("00:50".into(), 3),
                ("03:00".into(), 2)
            ]
        );
        assert_eq!(steps[1].peak_time, Some(peaks[0].time));
    }
}
