//! Demand for the simulation: a traffic or forecast CSV read by the shared reader
//! (`crate::formats::traffic`), as rates, and resampled to the simulation step.
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::error::InputError;
use crate::formats::{
    self,
    traffic::{Column, Traffic, TrafficOptions},
};

/// How to fill a step that falls between two rows of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Interpolate {
    /// Each row's rate holds for its whole interval (steps average the rates they cover).
    Hold,
    /// Straight line between one row's timestamp and the next.
    Linear,
}

/// A traffic or forecast series at its own regular interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Timestamp of the first row.
    pub start: DateTime<Utc>,
    /// Spacing of the rows, seconds.
    pub interval_seconds: f64,
    /// Demand per row, requests per second.
    pub rps: Vec<f64>,
    /// Forecast upper bound per row (when the file has an `upper` column), requests per second.
    pub upper: Option<Vec<f64>>,
}

impl Series {
    /// Seconds covered by the series.
    pub fn span_seconds(&self) -> f64 {
        self.rps.len() as f64 * self.interval_seconds
    }
}

/// Read a traffic or forecast CSV with the shared reader ([`crate::formats::traffic`]):
/// naive stamps are UTC, Locust files are not accepted (they are not on a grid).
pub fn read(path: &Path, fill_gaps: bool) -> Result<Series, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|err| InputError::file(path, format!("cannot read traffic: {err}")))?;
    parse_text(&String::from_utf8_lossy(&bytes), path, fill_gaps)
}

/// Traffic from text already read (a Prometheus answer); `path` names it in errors.
pub fn parse_text(text: &str, path: &Path, fill_gaps: bool) -> Result<Series, InputError> {
    let options = TrafficOptions {
        tz_offset: Some(0),
        fill_gaps,
        accept_locust: false,
        read_upper: true,
    };
    parse(text, path, options)
}

/// Parse traffic CSV text (see [`read`]).
pub fn parse(text: &str, path: &Path, options: TrafficOptions) -> Result<Series, InputError> {
    let regular = match formats::traffic::parse(text, path, options)? {
        Traffic::Regular(regular) => regular,
        Traffic::Locust(_) => {
            return Err(InputError::file(
                path,
                "a Locust stats history is not a traffic CSV for simulate",
            ))
        }
    };
    let interval = regular.interval_seconds as f64;
    let mut rps = regular.values.clone();
    let mut upper = regular.upper.clone();
    if regular.column == Column::Requests {
        // Counts per row become rates; a forecast's bounds are counts too.
        rps.iter_mut()
            .chain(upper.iter_mut().flatten())
            .for_each(|v| *v /= interval);
    }
    Ok(Series {
        start: regular.start_utc(),
        interval_seconds: interval,
        rps,
        upper,
    })
}

/// Resample `values` (rows every `interval` seconds, the first at `offset` seconds
/// from the grid start) onto `steps` steps of `step` seconds. Steps the series does
/// not cover are NaN.
pub fn resample(
    values: &[f64],
    interval: f64,
    offset: f64,
    step: f64,
    steps: usize,
    mode: Interpolate,
) -> Vec<f64> {
    let span = values.len() as f64 * interval;
    (0..steps)
        .map(|k| {
            let from = k as f64 * step - offset;
            let to = from + step;
            match mode {
                Interpolate::Hold => hold_average(values, interval, from.max(0.0), to.min(span)),
                Interpolate::Linear => linear_at(values, interval, from),
            }
        })
        .collect()
}

/// Per step, the largest row rate that overlaps it (NaN where no row does): what a
/// step's mean hides when the rows are finer than the step.
pub fn step_peaks(values: &[f64], interval: f64, step: f64, steps: usize) -> Vec<f64> {
    let mut peaks = vec![f64::NAN; steps];
    for (i, &value) in values.iter().enumerate() {
        if value.is_nan() {
            continue;
        }
        let from = i as f64 * interval;
        let first = (from / step) as usize;
        let last = (((from + interval) / step).ceil() as usize).min(steps);
        for peak in &mut peaks[first.min(steps)..last] {
            if peak.is_nan() || *peak < value {
                *peak = value;
            }
        }
    }
    peaks
}

/// Mean of the piecewise-constant series over `[from, to)` (series time).
fn hold_average(values: &[f64], interval: f64, from: f64, to: f64) -> f64 {
    if to <= from {
        return f64::NAN;
    }
    let first = (from / interval) as usize;
    let mut sum = 0.0;
    let mut i = first;
    while i < values.len() {
        let lo = (i as f64 * interval).max(from);
        if lo >= to {
            break;
        }
        let hi = ((i + 1) as f64 * interval).min(to);
        sum += values[i] * (hi - lo).max(0.0);
        i += 1;
    }
    sum / (to - from)
}

/// Linear interpolation between row timestamps; the last row holds for its interval.
fn linear_at(values: &[f64], interval: f64, at: f64) -> f64 {
    if at < 0.0 || at >= values.len() as f64 * interval {
        return f64::NAN;
    }
    let position = at / interval;
    let i = position as usize;
    if i + 1 >= values.len() {
        return values[values.len() - 1];
    }
    let f = position - i as f64;
    values[i] + (values[i + 1] - values[i]) * f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TrafficOptions {
        TrafficOptions {
            tz_offset: Some(0),
            read_upper: true,
            ..TrafficOptions::default()
        }
    }

    #[test]
    fn step_peaks_keep_the_busiest_row_of_each_step() {
        // 10-second rows, 60-second steps: a 30 s burst in the second minute.
        let mut rows = vec![10.0; 12];
        rows[7..10].iter_mut().for_each(|v| *v = 50.0);
        let peaks = step_peaks(&rows, 10.0, 60.0, 3);
        assert_eq!(&peaks[..2], &[10.0, 50.0]);
        assert!(peaks[2].is_nan()); // no row reaches the third step
                                    // A row straddling two steps counts in both.
        assert_eq!(step_peaks(&[1.0, 7.0], 45.0, 60.0, 2), vec![7.0, 7.0]);
    }

    #[test]
    fn requests_become_rates_and_interval_is_read() {
        let s = parse(
            "timestamp,requests\n2026-01-01 00:00,6000\n2026-01-01 00:10,12000\n",
            Path::new("t.csv"),
            options(),
        )
        .unwrap();
        assert_eq!(s.interval_seconds, 600.0);
        assert_eq!(s.rps, vec![10.0, 20.0]);
        assert!(s.upper.is_none());
    }

    #[test]
    fn forecast_columns_are_read() {
        let s = parse(
            "timestamp,rps,lower,upper\n2026-01-01T00:00:00Z,10,8,12\n2026-01-01T01:00:00Z,20,15,25\n",
            Path::new("f.csv"),
            options(),
        )
        .unwrap();
        assert_eq!(s.upper, Some(vec![12.0, 25.0]));
    }

    #[test]
    fn irregular_rows_and_bad_values_name_the_line() {
        let err = parse(
            "timestamp,rps\n2026-01-01 00:00,1\n2026-01-01 00:01,1\n2026-01-01 00:03,1\n",
            Path::new("t.csv"),
            options(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("t.csv:4: timestamp"), "{err}");
        let err = parse(
            "timestamp,rps\n2026-01-01 00:00,1\n2026-01-01 00:01,x\n",
            Path::new("t.csv"),
            options(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("t.csv:3: rps"), "{err}");
    }

    #[test]
    fn hold_upsamples_and_averages_when_downsampling() {
        // Rows every 60 s: 10 then 20. At 10 s steps: six 10s then six 20s.
        let up = resample(&[10.0, 20.0], 60.0, 0.0, 10.0, 12, Interpolate::Hold);
        assert_eq!(&up[..6], &[10.0; 6]);
        assert_eq!(&up[6..], &[20.0; 6]);
        // One 120 s step averages both rows.
        let down = resample(&[10.0, 20.0], 60.0, 0.0, 120.0, 1, Interpolate::Hold);
        assert_eq!(down, vec![15.0]);
    }

    #[test]
    fn linear_interpolates_between_rows() {
        let v = resample(&[10.0, 20.0], 60.0, 0.0, 30.0, 4, Interpolate::Linear);
        assert_eq!(v, vec![10.0, 15.0, 20.0, 20.0]);
    }

    #[test]
    fn uncovered_steps_are_nan() {
        let v = resample(&[10.0], 60.0, 120.0, 60.0, 4, Interpolate::Hold);
        assert!(v[0].is_nan() && v[1].is_nan() && v[3].is_nan());
        assert_eq!(v[2], 10.0);
    }
}
