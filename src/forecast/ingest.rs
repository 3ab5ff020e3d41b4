//! History ingest: a traffic CSV (any regular interval) or a Locust `_stats_history.csv`,
//! read by [`crate::formats::traffic`] and aggregated to an hourly rps series.
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::locust::aggregate_samples;
use super::series::{local_hour_to_time, HourlySeries};
use crate::error::InputError;
use crate::formats::located::Source;
pub use crate::formats::traffic::FilledGap;
use crate::formats::traffic::{
    self, local_to_text, Column, ParsedRows, Row, TrafficOptions, MAX_INTERVALS,
};

/// How to read the history.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestOptions {
    /// Zone (seconds east of UTC) of naive stamps and of the model's calendar.
    pub tz_offset: Option<i32>,
    /// Interpolate missing intervals and empty values instead of failing.
    pub fill_gaps: bool,
}

/// A run of whole hours ingest filled or masked.
#[derive(Debug, Clone, Serialize)]
pub struct HourRun {
    /// First hour of the run (RFC 3339).
    pub from: DateTime<FixedOffset>,
    /// Hours in the run (count).
    pub hours: usize,
}

/// What ingest read, and everything it did to the data.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// What the file was: `csv`, `grafana-csv`, `prometheus`, `cloudwatch` or `locust`.
    pub format: String,
    /// Which column carried the traffic: `requests` (count per interval, alias `value`), `rps`, or `locust`.
    pub column: String,
    /// Data rows read (count).
    pub rows: usize,
    /// Interval between rows (seconds): the greatest spacing dividing nearly all gaps; the
    /// median spacing for Locust files.
    pub interval_seconds: i64,
    /// Hours in the aggregated series, masked ones included (count).
    pub hours: usize,
    /// Runs of absent hours filled by linear interpolation between the hours around them:
    /// short gaps (at most 3 hours), or every gap with `--fill-gaps`.
    pub filled: Vec<HourRun>,
    /// Longer runs of absent hours (an outage): masked out of the fit and the scores,
    /// never interpolated.
    pub masked: Vec<HourRun>,
    /// Hours with some rows absent, each read from the rows it has (count).
    pub partial_hours: usize,
    /// Incomplete first or last hours left out (count of hours).
    pub dropped_partial_hours: usize,
    /// What reading did to the rows: sorted, duplicates merged, series summed ...
    pub notes: Vec<String>,
}

impl IngestReport {
    /// The report of a clean hourly rps series read as is (callers that build a series
    /// themselves: samples, tests).
    pub fn hourly(hours: usize) -> IngestReport {
        IngestReport {
            format: "csv".into(),
            column: "rps".into(),
            rows: hours,
            interval_seconds: 3600,
            hours,
            filled: Vec::new(),
            masked: Vec::new(),
            partial_hours: 0,
            dropped_partial_hours: 0,
            notes: Vec::new(),
        }
    }
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
    let text = String::from_utf8_lossy(bytes);
    let parsed = traffic::parse_rows(&text, path, traffic_options, true)?;
    if parsed.column == Column::Locust {
        return aggregate_samples(parsed.rows, path, options, parsed.offset);
    }
    aggregate_rows(parsed, &Source::new(path, &text), options)
}

/// Absent runs of at most this many whole hours are interpolated; longer ones (an
/// outage) are masked out of the fit.
pub const MAX_FILLED_HOURS: usize = 3;

/// Bucket the rows into hours of the wall clock: counts are summed and divided by 3600,
/// rps averaged; an hour with some rows absent is read from the rows it has (counts: their
/// mean per interval); absent hours are filled (short runs) or masked (long ones).
fn aggregate_rows(
    parsed: ParsedRows,
    source: &Source,
    options: IngestOptions,
) -> Result<Ingested, InputError> {
    let time_name = parsed.time_name().to_string();
    let ParsedRows {
        column,
        format,
        offset,
        rows,
        interval_seconds: interval,
        mut notes,
        ..
    } = parsed;
    // The model is hourly: coarser rows cannot be split into hours without guessing.
    if interval > 3600 {
        return Err(source.whole_file(format!(
            "rows are {interval} s apart: coarser than an hour, and the model is hourly"
        )));
    }
    let known: Vec<&Row> = rows.iter().filter(|row| row.value.is_some()).collect();
    let (Some(first), Some(last)) = (known.first(), known.last()) else {
        return Err(source.whole_file("holds no value"));
    };
    let first_hour = first.local.div_euclid(3600);
    let span = last.local.div_euclid(3600) - first_hour + 1;
    // A stamp in the wrong year must not allocate every hour up to it.
    if span > MAX_INTERVALS as i64 {
        let jump = known
            .windows(2)
            .max_by_key(|pair| pair[1].local - pair[0].local)
            .expect("two rows at least");
        return Err(source.at_line(
            jump[1].line,
            &time_name,
            format!(
                "{} is {} hours after line {}: the series would span more than {MAX_INTERVALS} hours (a stamp in the wrong year?)",
                local_to_text(jump[1].local, offset),
                (jump[1].local - jump[0].local) / 3600,
                jump[0].line
            ),
        ));
    }
    let hours = span as usize;
    let mut sums = vec![(0.0f64, 0usize); hours];
    for row in &known {
        let slot = &mut sums[(row.local.div_euclid(3600) - first_hour) as usize];
        slot.0 += row.value.unwrap_or(0.0);
        slot.1 += 1;
    }
    let per_hour = 3600.0 / interval as f64;
    let complete = |n: usize| n as f64 >= per_hour - 0.5;
    // Incomplete (or empty) hours before the first complete one and after the last are
    // left out: every gap left has a known hour on each side.
    let (Some(start), Some(last_complete)) = (
        sums.iter().position(|&(_, n)| complete(n)),
        sums.iter().rposition(|&(_, n)| complete(n)),
    ) else {
        return Err(source.whole_file("holds no complete hour of data"));
    };
    let end = last_complete + 1;
    let dropped = start + (hours - end);
    let partial_hours = sums[start..end]
        .iter()
        .filter(|&&(_, n)| n > 0 && !complete(n))
        .count();
    let mut rps: Vec<f64> = sums[start..end]
        .iter()
        .map(|&(sum, n)| match (n, column) {
            (0, _) => f64::NAN,
            (n, Column::Requests) => sum / n as f64 / interval as f64,
            (n, _) => sum / n as f64,
        })
        .collect();
    let start_hour = first_hour + start as i64;
    let (filled, masked) = fill_or_mask(&mut rps, start_hour, offset, options.fill_gaps);
    if partial_hours > 0 {
        notes.push(format!(
            "{partial_hours} hour(s) with some rows absent: read from the rows they have"
        ));
    }
    let filled_hours: usize = filled.iter().map(|run| run.hours).sum();
    if filled_hours > 0 {
        notes.push(format!(
            "{filled_hours} absent hour(s) in {} short gap(s) filled by linear interpolation",
            filled.len()
        ));
    }
    for run in &masked {
        notes.push(format!(
            "{} absent hours from {} (an outage?) masked out of the fit, not interpolated",
            run.hours,
            run.from.format("%Y-%m-%d %H:%M")
        ));
    }
    let series = HourlySeries {
        offset,
        start_hour,
        rps,
    };
    let report = IngestReport {
        format: format.to_string(),
        column: column.name().to_string(),
        rows: rows.len(),
        interval_seconds: interval,
        hours: series.len(),
        filled,
        masked,
        partial_hours,
        dropped_partial_hours: dropped,
        notes,
    };
    Ok(Ingested { series, report })
}

/// Interpolate runs of absent hours (NaN) of at most [`MAX_FILLED_HOURS`] (or all with
/// `fill_all`) between their neighbours; leave longer runs masked. Returns both lists.
pub fn fill_or_mask(
    rps: &mut [f64],
    start_hour: i64,
    offset: FixedOffset,
    fill_all: bool,
) -> (Vec<HourRun>, Vec<HourRun>) {
    let (mut filled, mut masked) = (Vec::new(), Vec::new());
    let mut index = 0;
    while index < rps.len() {
        if !rps[index].is_nan() {
            index += 1;
            continue;
        }
        let begin = index;
        while index < rps.len() && rps[index].is_nan() {
            index += 1;
        }
        let run = HourRun {
            from: local_hour_to_time(start_hour + begin as i64, offset),
            hours: index - begin,
        };
        if run.hours > MAX_FILLED_HOURS && !fill_all {
            masked.push(run);
            continue;
        }
        // The first and last hours are known (edges are complete hours).
        let (left, right) = (rps[begin - 1], rps[index]);
        let span = (run.hours + 1) as f64;
        for (k, slot) in rps[begin..index].iter_mut().enumerate() {
            *slot = left + (right - left) * (k + 1) as f64 / span;
        }
        filled.push(run);
    }
    (filled, masked)
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
        format: "locust".to_string(),
        column: column.to_string(),
        rows,
        interval_seconds: interval,
        hours: series.len(),
        filled: filled
            .into_iter()
            .map(|gap| HourRun {
                from: gap.from,
                hours: gap.intervals,
            })
            .collect(),
        masked: Vec::new(),
        partial_hours: 0,
        dropped_partial_hours: dropped,
        notes: Vec::new(),
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
    fn short_gaps_are_filled_by_default_and_long_ones_masked_unless_fill_gaps() {
        let text = "timestamp,rps\n2024-03-04 00:00,10\n2024-03-04 01:00,\n2024-03-04 02:00,30\n2024-03-04 05:00,60\n2024-03-04 10:00,10\n";
        let default = parse(text, IngestOptions::default()).unwrap();
        let rps = &default.series.rps;
        assert_eq!(rps[..6], [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        assert!(rps[6..10].iter().all(|v| v.is_nan()), "{rps:?}");
        assert_eq!(rps[10], 10.0);
        let runs = |runs: &[HourRun]| runs.iter().map(|r| r.hours).collect::<Vec<_>>();
        assert_eq!(runs(&default.report.filled), vec![1, 2]);
        assert_eq!(runs(&default.report.masked), vec![4]);
        let all = parse(
            text,
            IngestOptions {
                tz_offset: None,
                fill_gaps: true,
            },
        )
        .unwrap();
        assert_eq!(runs(&all.report.filled), vec![1, 2, 4]);
        assert!(all.series.rps.iter().all(|v| !v.is_nan()));
    }

    #[test]
    fn absent_rows_newest_first_duplicates_and_epoch_stamps() {
        // Hourly counts, newest first, every other hour absent, one stamp twice, epoch seconds.
        let start = 1_709_510_400; // 2024-03-04 00:00 UTC
        let mut lines: Vec<String> = (0..48)
            .filter(|h| h % 2 == 0 || h % 3 == 0)
            .map(|h| format!("{},{}", start + h * 3600, 3600 * (h + 1)))
            .collect();
        lines.push(format!("{},{}", start + 6 * 3600, 3600));
        lines.reverse();
        let text = format!("timestamp,requests\n{}\n", lines.join("\n"));
        let ingested = parse(&text, IngestOptions::default()).unwrap();
        let report = &ingested.report;
        assert_eq!(
            report.interval_seconds, 3600,
            "2 h apart mostly, 1 h divides all"
        );
        assert!(report
            .notes
            .iter()
            .any(|n| n.contains("newest first") || n.contains("sorted")));
        assert!(report
            .notes
            .iter()
            .any(|n| n.contains("1 row(s) repeated") && n.contains("summed")));
        let rps = &ingested.series.rps;
        assert_eq!(rps[6], 7.0 + 1.0, "duplicates of a count are summed");
        assert_eq!(
            rps[1], 2.0,
            "an absent hour between 1 and 3 rps is interpolated"
        );
        assert_eq!(
            ingested.series.time_at(0).to_rfc3339(),
            "2024-03-04T00:00:00+00:00"
        );
    }

    #[test]
    fn a_lone_row_before_a_gap_at_the_start_is_left_out_not_a_panic() {
        // 00:55 alone, nothing until 03:00, then whole hours of 5-minute rows.
        let mut text = String::from("timestamp,requests\n2024-03-04 00:55,5\n");
        for k in 0..36 {
            text.push_str(&format!(
                "2024-03-04 {:02}:{:02},6\n",
                3 + k / 12,
                (k % 12) * 5
            ));
        }
        text.push_str("2024-03-04 06:00,5\n");
        let ingested = parse(&text, IngestOptions::default()).unwrap();
        assert_eq!(ingested.series.rps, vec![72.0 / 3600.0; 3]);
        assert_eq!(ingested.report.dropped_partial_hours, 4);
        assert!(ingested.report.masked.is_empty() && ingested.report.filled.is_empty());
    }

    #[test]
    fn off_grid_stamps_are_bucketed_into_hours() {
        // Every 5 minutes at :MM:53, as the Twitter series: 12 rows per hour.
        let rows: String = (0..36)
            .map(|k| {
                format!(
                    "2015-03-02 {:02}:{:02}:53,{}\n",
                    10 + k / 12,
                    (k % 12) * 5 + 2,
                    6
                )
            })
            .collect();
        let ingested = parse(
            &format!("timestamp,value\n{rows}"),
            IngestOptions::default(),
        )
        .unwrap();
        assert_eq!(ingested.report.interval_seconds, 300);
        assert_eq!(ingested.series.rps, vec![72.0 / 3600.0; 3]);
    }
}
