//! History ingest: a traffic CSV (any regular interval) or a Locust `_stats_history.csv`,
//! read by [`crate::formats::traffic`] and aggregated to an hourly rps series.
use std::path::Path;

use chrono::FixedOffset;
use serde::Serialize;

use super::locust::aggregate_samples;
use super::series::HourlySeries;
use crate::error::InputError;
pub use crate::formats::traffic::FilledGap;
use crate::formats::traffic::{self, Column, RegularTraffic, Traffic, TrafficOptions};

/// How to read the history.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestOptions {
    /// Zone (seconds east of UTC) of naive stamps and of the model's calendar.
    pub tz_offset: Option<i32>,
    /// Interpolate missing intervals and empty values instead of failing.
    pub fill_gaps: bool,
}

/// What ingest read, and everything it did to the data.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// Which column carried the traffic: `requests` (count per interval, alias `value`), `rps`, or `locust`.
    pub column: String,
    /// Data rows read (count).
    pub rows: usize,
    /// Interval between rows (seconds); the median spacing for Locust files.
    pub interval_seconds: i64,
    /// Hours in the aggregated series (count).
    pub hours: usize,
    /// Runs of missing intervals filled by linear interpolation (`--fill-gaps`).
    pub filled: Vec<FilledGap>,
    /// Incomplete first or last hours left out (count of hours).
    pub dropped_partial_hours: usize,
}

/// The ingested history.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub series: HourlySeries,
    pub report: IngestReport,
}

/// Read and check a history file: the only I/O of the forecast core.
pub fn read_history(path: &Path, options: IngestOptions) -> Result<Ingested, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|err| InputError::file(path, format!("cannot read history: {err}")))?;
    parse_history(&bytes, path, options)
}

/// Parse the bytes of a history file (see [`read_history`]).
pub fn parse_history(
    bytes: &[u8],
    path: &Path,
    options: IngestOptions,
) -> Result<Ingested, InputError> {
    let traffic_options = TrafficOptions {
        tz_offset: options.tz_offset,
        fill_gaps: options.fill_gaps,
        accept_locust: true,
        read_upper: false,
    };
    match traffic::parse(&String::from_utf8_lossy(bytes), path, traffic_options)? {
        Traffic::Locust(samples) => aggregate_samples(samples.rows, path, options, samples.offset),
        Traffic::Regular(regular) => aggregate_regular(regular, path),
    }
}

fn aggregate_regular(traffic: RegularTraffic, path: &Path) -> Result<Ingested, InputError> {
    let RegularTraffic {
        column,
        offset,
        rows,
        start_local: first,
        interval_seconds: interval,
        values,
        filled,
        ..
    } = traffic;
    // The model is hourly: only intervals that tile an hour aggregate without guessing.
    if 3600 % interval != 0 {
        return Err(InputError::file(
            path,
            format!("rows are {interval} s apart; the interval must divide an hour (1 min, 5 min, 15 min, 30 min, 1 h ...)"),
        ));
    }
    // Aggregate whole hours; incomplete first/last hours are dropped and reported.
    let per_hour = (3600 / interval) as usize;
    let first_hour = first.div_euclid(3600);
    let lead = ((first - first_hour * 3600) / interval) as usize;
    let skip = if lead == 0 { 0 } else { per_hour - lead };
    let whole = (values.len() - skip.min(values.len())) / per_hour;
    let dropped = usize::from(skip > 0) + usize::from(skip + whole * per_hour < values.len());
    if whole == 0 {
        return Err(InputError::file(path, "holds no complete hour of data"));
    }
    let rps: Vec<f64> = values[skip..skip + whole * per_hour]
        .chunks_exact(per_hour)
        .map(|hour| {
            let sum: f64 = hour.iter().sum();
            match column {
                Column::Requests => sum / 3600.0,
                _ => sum / per_hour as f64,
            }
        })
        .collect();
    let start_hour = first_hour + i64::from(skip > 0);
    Ok(finish(
        rows,
        column.name(),
        interval,
        start_hour,
        rps,
        filled,
        dropped,
        offset,
    ))
}

#[allow(clippy::too_many_arguments)] // a plain record constructor
pub(super) fn finish(
    rows: usize,
    column: &str,
    interval: i64,
    start_hour: i64,
    rps: Vec<f64>,
    filled: Vec<FilledGap>,
    dropped: usize,
    offset: FixedOffset,
) -> Ingested {
    let series = HourlySeries {
        offset,
        start_hour,
        rps,
    };
    let report = IngestReport {
        column: column.to_string(),
        rows,
        interval_seconds: interval,
        hours: series.len(),
        filled,
        dropped_partial_hours: dropped,
    };
    Ingested { series, report }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, options: IngestOptions) -> Result<Ingested, InputError> {
        parse_history(text.as_bytes(), Path::new("h.csv"), options)
    }

    #[test]
    fn five_minute_rps_is_averaged_and_counts_are_summed_per_hour() {
        let rows: String = (0..24)
            .map(|k| {
                format!(
                    "2024-03-04T{:02}:{:02}:00Z,{}\n",
                    k / 12,
                    (k % 12) * 5,
                    k % 12
                )
            })
            .collect();
        let rps = parse(&format!("timestamp,rps\n{rows}"), IngestOptions::default()).unwrap();
        assert_eq!(rps.series.rps, vec![5.5, 5.5]);
        assert_eq!(rps.report.interval_seconds, 300);
        let counts = parse(
            &format!("timestamp,requests\n{rows}"),
            IngestOptions::default(),
        )
        .unwrap();
        assert_eq!(counts.series.rps, vec![66.0 / 3600.0, 66.0 / 3600.0]);
    }

    #[test]
    fn zoned_stamps_keep_their_offset_or_move_to_tz() {
        let text = "timestamp,rps\n2024-03-04T00:00:00-05:00,1\n2024-03-04T01:00:00-05:00,2\n";
        let own = parse(text, IngestOptions::default()).unwrap();
        assert_eq!(
            own.series.time_at(0).to_rfc3339(),
            "2024-03-04T00:00:00-05:00"
        );
        let utc = parse(
            text,
            IngestOptions {
                tz_offset: Some(0),
                fill_gaps: false,
            },
        )
        .unwrap();
        assert_eq!(
            utc.series.time_at(0).to_rfc3339(),
            "2024-03-04T05:00:00+00:00"
        );
    }

    #[test]
    fn locust_history_uses_the_aggregated_rows_averaged_per_hour() {
        let mut text = String::from("Timestamp,User Count,Type,Name,Requests/s,Failures/s\n");
        for second in 0..7200i64 {
            let t = 1_700_002_800 + second; // 2023-11-14 23:00:00 UTC
            text.push_str(&format!(
                "{t},10,GET,/,1.0,0\n{t},10,,Aggregated,{},0\n",
                if second < 3600 { 10.0 } else { 20.0 }
            ));
        }
        let ingested = parse(&text, IngestOptions::default()).unwrap();
        assert_eq!(ingested.series.rps, vec![10.0, 20.0]);
        assert_eq!(ingested.report.column, "locust");
        assert_eq!(ingested.report.interval_seconds, 1);
    }

    #[test]
    fn fill_gaps_interpolates_linearly_and_reports_each_run() {
        let text = "timestamp,rps\n2024-03-04 00:00,10\n2024-03-04 01:00,\n2024-03-04 02:00,30\n2024-03-04 05:00,60\n";
        let filled = parse(
            text,
            IngestOptions {
                tz_offset: None,
                fill_gaps: true,
            },
        )
        .unwrap();
        assert_eq!(filled.series.rps, vec![10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        let runs: Vec<(usize, usize)> = filled
            .report
            .filled
            .iter()
            .map(|g| (g.intervals, g.after_line))
            .collect();
        assert_eq!(runs, vec![(1, 2), (2, 4)]);
    }
}
