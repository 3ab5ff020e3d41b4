//! History ingest: a traffic CSV (any regular interval) or a Locust `_stats_history.csv`,
//! checked strictly and aggregated to an hourly rps series.
use std::path::Path;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::locust::aggregate_samples;
use super::series::{local_hour_to_time, HourlySeries};
use crate::error::InputError;
use crate::timestamp::{parse_stamp, Stamp};

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

/// One run of intervals that `--fill-gaps` interpolated.
#[derive(Debug, Clone, Serialize)]
pub struct FilledGap {
    /// Start of the first filled interval (RFC 3339).
    pub from: DateTime<FixedOffset>,
    /// Number of filled intervals (count).
    pub intervals: usize,
    /// Input line after which the gap lies (line number, 1 = header).
    pub after_line: usize,
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Requests,
    Rps,
    Locust,
}

pub(super) struct Row {
    pub(super) line: usize,
    /// Wall-clock seconds in the calendar zone.
    pub(super) local: i64,
    pub(super) value: Option<f64>,
}

/// Parse the bytes of a history file (see [`read_history`]).
pub fn parse_history(
    bytes: &[u8],
    path: &Path,
    options: IngestOptions,
) -> Result<Ingested, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|err| InputError::file(path, format!("cannot read the header: {err}")))?
        .clone();
    let find = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (kind, time_col, value_col, name_col) =
        if let (Some(t), Some(v)) = (find("Timestamp"), find("Requests/s")) {
            (Kind::Locust, t, v, find("Name"))
        } else {
            let time_col = find("timestamp").ok_or_else(|| header_error(path, &header))?;
            match (find("requests").or_else(|| find("value")), find("rps")) {
                (Some(v), None) => (Kind::Requests, time_col, v, None),
                (None, Some(v)) => (Kind::Rps, time_col, v, None),
                _ => return Err(header_error(path, &header)),
            }
        };
    let value_name = header[value_col].to_string();

    let mut rows = Vec::new();
    let mut zone: Option<i32> = options.tz_offset;
    let mut naive: Option<bool> = None;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line() as usize);
                return Err(InputError::at_line(
                    path,
                    line,
                    "row",
                    format!("unreadable CSV: {err}"),
                ));
            }
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        if kind == Kind::Locust {
            if let Some(name_col) = name_col {
                if record.get(name_col) != Some("Aggregated") {
                    continue;
                }
            }
        }
        let (Some(time_text), Some(value_text)) = (record.get(time_col), record.get(value_col))
        else {
            return Err(InputError::at_line(
                path,
                line,
                "row",
                format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            ));
        };
        let local = if kind == Kind::Locust {
            let utc: i64 = time_text.parse().map_err(|_| {
                InputError::at_line(
                    path,
                    line,
                    "Timestamp",
                    format!("'{time_text}' is not Unix seconds"),
                )
            })?;
            utc + i64::from(zone.unwrap_or(0))
        } else {
            let stamp = parse_stamp(time_text)
                .map_err(|message| InputError::at_line(path, line, "timestamp", message))?;
            let this_naive = stamp.offset_seconds.is_none();
            if *naive.get_or_insert(this_naive) != this_naive {
                return Err(InputError::at_line(
                    path,
                    line,
                    "timestamp",
                    "mixes stamps with and without a UTC offset; use one form throughout",
                ));
            }
            let zone = *zone.get_or_insert(stamp.offset_seconds.unwrap_or(0));
            to_zone(stamp, zone)
        };
        let value = parse_value(value_text, options.fill_gaps)
            .map_err(|message| InputError::at_line(path, line, &value_name, message))?;
        rows.push(Row { line, local, value });
    }
    if rows.len() < 2 {
        return Err(InputError::file(path, "needs at least two data rows"));
    }
    let offset = FixedOffset::east_opt(zone.unwrap_or(0)).expect("offset checked by the parser");
    match kind {
        Kind::Locust => aggregate_samples(rows, path, options, offset),
        Kind::Requests | Kind::Rps => aggregate_regular(rows, kind, path, options, offset),
    }
}

fn header_error(path: &Path, header: &csv::StringRecord) -> InputError {
    let found: Vec<&str> = header.iter().collect();
    InputError::at_line(
        path,
        1,
        "header",
        format!(
            "found [{}]; expected `timestamp,requests` (alias `timestamp,value`), `timestamp,rps`, or a Locust _stats_history.csv",
            found.join(",")
        ),
    )
}

fn to_zone(stamp: Stamp, zone: i32) -> i64 {
    stamp.utc_seconds(zone) + i64::from(zone)
}

fn parse_value(text: &str, allow_empty: bool) -> Result<Option<f64>, String> {
    if text.is_empty() {
        return if allow_empty {
            Ok(None)
        } else {
            Err("empty (use --fill-gaps to interpolate missing values)".into())
        };
    }
    let value: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !value.is_finite() {
        return Err(format!("'{text}' is not a finite number"));
    }
    if value < 0.0 {
        return Err(format!("{text} is negative; traffic cannot be"));
    }
    Ok(Some(value))
}

/// Most common positive spacing of the first rows: robust to a gap or two.
fn detect_interval(rows: &[Row]) -> Option<i64> {
    let mut counts = std::collections::BTreeMap::new();
    for pair in rows.windows(2).take(2000) {
        let step = pair[1].local - pair[0].local;
        if step > 0 {
            *counts.entry(step).or_insert(0usize) += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(step, n)| (n, -step))
        .map(|(step, _)| step)
}

fn aggregate_regular(
    rows: Vec<Row>,
    kind: Kind,
    path: &Path,
    options: IngestOptions,
    offset: FixedOffset,
) -> Result<Ingested, InputError> {
    let interval = detect_interval(&rows).ok_or_else(|| {
        InputError::at_line(
            path,
            rows[1].line,
            "timestamp",
            "no two rows are apart in time",
        )
    })?;
    if 3600 % interval != 0 {
        return Err(InputError::file(
            path,
            format!("rows are {interval} s apart; the interval must divide an hour (1 min, 5 min, 15 min, 30 min, 1 h ...)"),
        ));
    }
    let stamp_of = |local: i64| local_to_text(local, offset);
    let mut slots: Vec<Option<f64>> = Vec::with_capacity(rows.len());
    let mut gaps: Vec<(usize, usize, i64, usize)> = Vec::new(); // (line before, line after, first missing, count)
    slots.push(rows[0].value);
    for pair in rows.windows(2) {
        let (prev, row) = (&pair[0], &pair[1]);
        let step = row.local - prev.local;
        let hard_error = if step == 0 {
            Some(format!(
                "duplicate of line {} ({})",
                prev.line,
                stamp_of(prev.local)
            ))
        } else if step < 0 {
            Some(format!(
                "{} is earlier than line {} ({}); rows must be sorted by time",
                stamp_of(row.local),
                prev.line,
                stamp_of(prev.local)
            ))
        } else if step % interval != 0 {
            Some(format!(
                "{} is off the {interval} s grid of the rows before",
                stamp_of(row.local)
            ))
        } else {
            None
        };
        // Unsorted, duplicate or off-grid rows outrank gaps: they are usually the cause.
        if let Some(message) = hard_error {
            return Err(InputError::at_line(path, row.line, "timestamp", message));
        }
        let missing = (step / interval - 1) as usize;
        if missing > 0 {
            gaps.push((prev.line, row.line, prev.local + interval, missing));
            slots.extend(std::iter::repeat_n(None, missing));
        }
        slots.push(row.value);
    }
    if let (false, Some(gap)) = (options.fill_gaps, gaps.first()) {
        return Err(gap_error(path, gap, gaps.len(), interval, offset));
    }
    let first = rows[0].local;
    let filled = fill_missing(&mut slots, first, interval, &rows, offset);
    let values: Vec<f64> = slots.into_iter().map(|v| v.expect("filled")).collect();

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
            match kind {
                Kind::Requests => sum / 3600.0,
                _ => sum / per_hour as f64,
            }
        })
        .collect();
    let start_hour = first_hour + i64::from(skip > 0);
    let column = if kind == Kind::Requests {
        "requests"
    } else {
        "rps"
    };
    Ok(finish(
        rows.len(),
        column,
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

fn gap_error(
    path: &Path,
    &(before, after, first_missing, count): &(usize, usize, i64, usize),
    total: usize,
    interval: i64,
    offset: FixedOffset,
) -> InputError {
    let more = if total > 1 {
        format!("; {} more gap(s) after it", total - 1)
    } else {
        String::new()
    };
    InputError::at_line(
        path,
        after,
        "timestamp",
        format!(
            "gap: {count} missing {interval} s interval(s) from {} between line {before} and this row{more}; use --fill-gaps to interpolate",
            local_to_text(first_missing, offset)
        ),
    )
}

/// Linear interpolation of every `None` between its known neighbours (held flat at the edges).
pub(super) fn fill_missing(
    slots: &mut [Option<f64>],
    first: i64,
    interval: i64,
    rows: &[Row],
    offset: FixedOffset,
) -> Vec<FilledGap> {
    let mut filled = Vec::new();
    let mut index = 0;
    while index < slots.len() {
        if slots[index].is_some() {
            index += 1;
            continue;
        }
        let start = index;
        while index < slots.len() && slots[index].is_none() {
            index += 1;
        }
        let left = start.checked_sub(1).and_then(|i| slots[i]);
        let right = slots.get(index).copied().flatten();
        let span = (index - start + 1) as f64;
        for (k, slot) in slots[start..index].iter_mut().enumerate() {
            let fraction = (k + 1) as f64 / span;
            *slot = Some(match (left, right) {
                (Some(a), Some(b)) => a + (b - a) * fraction,
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => 0.0,
            });
        }
        let from_local = first + start as i64 * interval;
        let before = rows.partition_point(|r| r.local < from_local);
        let after_line = before.checked_sub(1).map_or(1, |i| rows[i].line);
        filled.push(FilledGap {
            from: local_hour_to_time(0, offset) + chrono::Duration::seconds(from_local),
            intervals: index - start,
            after_line,
        });
    }
    filled
}

pub(super) fn local_to_text(local: i64, offset: FixedOffset) -> String {
    (local_hour_to_time(0, offset) + chrono::Duration::seconds(local)).to_rfc3339()
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
