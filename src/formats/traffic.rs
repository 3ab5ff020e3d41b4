//! Traffic CSV (DESIGN.md): `timestamp,requests` (alias `timestamp,value`) or
//! `timestamp,rps`, optional forecast columns `lower,upper`, and Locust's
//! `_stats_history.csv` where a command accepts it. One reader for forecast and
//! simulate: header rules, stamps, interval detection and gap handling live here;
//! what a command does with the rows (hourly aggregation, resampling) stays in its core.
use std::path::Path;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use super::located::Source;
use crate::error::InputError;
use crate::timestamp::{parse_stamp, shorten};

/// How a command reads traffic.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrafficOptions {
    /// Zone (seconds east of UTC) of naive stamps and of the rows' wall clock; `None`:
    /// the first row's offset (UTC for naive stamps).
    pub tz_offset: Option<i32>,
    /// Interpolate missing intervals and empty values instead of failing.
    pub fill_gaps: bool,
    /// Recognise a Locust `_stats_history.csv` (irregular samples, Unix-second stamps).
    pub accept_locust: bool,
    /// Read a forecast's `upper` column when there is one.
    pub read_upper: bool,
}

/// Which column carries the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Requests counted in each interval (header `requests`, alias `value`).
    Requests,
    /// Mean requests per second of each interval.
    Rps,
    /// Locust's `Requests/s` of the `Aggregated` rows.
    Locust,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::Requests => "requests",
            Column::Rps => "rps",
            Column::Locust => "locust",
        }
    }
}

/// One data row as read.
#[derive(Debug, Clone)]
pub struct Row {
    /// Line in the file (1 = header).
    pub line: usize,
    /// Wall-clock seconds in the reader's zone.
    pub local: i64,
    /// Traffic; `None` for an empty value (only with `fill_gaps`).
    pub value: Option<f64>,
    /// Forecast upper bound, when read.
    pub upper: Option<f64>,
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

/// Rows on one regular grid, gaps filled or refused.
#[derive(Debug, Clone)]
pub struct RegularTraffic {
    pub column: Column,
    /// Zone of `start_local`.
    pub offset: FixedOffset,
    /// Data rows read (count).
    pub rows: usize,
    /// Wall-clock seconds (in `offset`) of the first row.
    pub start_local: i64,
    /// Spacing of the grid, seconds.
    pub interval_seconds: i64,
    /// One value per interval, in the column's unit (counts or rps).
    pub values: Vec<f64>,
    /// The `upper` column on the same grid, when read and present.
    pub upper: Option<Vec<f64>>,
    /// Runs filled by interpolation.
    pub filled: Vec<FilledGap>,
}

impl RegularTraffic {
    /// UTC time of the first row.
    pub fn start_utc(&self) -> DateTime<Utc> {
        let utc = self.start_local - i64::from(self.offset.local_minus_utc());
        DateTime::from_timestamp(utc, 0).unwrap_or_default()
    }
}

/// Locust samples: about one a second, not on a grid (the command aggregates them).
#[derive(Debug, Clone)]
pub struct LocustSamples {
    pub offset: FixedOffset,
    pub rows: Vec<Row>,
}

/// What a traffic file held.
#[derive(Debug, Clone)]
pub enum Traffic {
    Regular(RegularTraffic),
    Locust(LocustSamples),
}

/// Read a traffic file. Errors name the file, the line and the column.
pub fn read(path: &Path, options: TrafficOptions) -> Result<Traffic, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|err| InputError::file(path, format!("cannot read traffic: {err}")))?;
    parse(&String::from_utf8_lossy(&bytes), path, options)
}

/// Most intervals a series may span once its gaps are filled: ten million is
/// 19 years of one-minute rows, 116 days of one-second rows.
pub const MAX_INTERVALS: usize = 10_000_000;

/// Rows read from any supported form, before they are put on a grid.
#[derive(Debug, Clone)]
pub struct ParsedRows {
    pub column: Column,
    /// What the file was: `csv`, `grafana-csv`, `prometheus`, `cloudwatch`, `locust`.
    pub format: &'static str,
    pub offset: FixedOffset,
    /// In time order once `repair` sorted them (else as read).
    pub rows: Vec<Row>,
    /// The inferred spacing (seconds): the greatest that divides nearly all gaps; the
    /// median spacing for Locust samples.
    pub interval_seconds: i64,
    /// What reading did to the rows (sorted, duplicates merged, series summed ...).
    pub notes: Vec<String>,
    has_upper: bool,
    time_name: String,
}

/// Parse traffic text (see [`read`]).
pub fn parse(text: &str, path: &Path, options: TrafficOptions) -> Result<Traffic, InputError> {
    let parsed = parse_rows(text, path, options, false)?;
    let source = Source::new(path, text);
    if parsed.column == Column::Locust {
        return Ok(Traffic::Locust(LocustSamples {
            offset: parsed.offset,
            rows: parsed.rows,
        }));
    }
    regular(parsed, &source, options).map(Traffic::Regular)
}

/// Read the rows of a traffic file of any supported form, detected by content: CSV (comma
/// or semicolon, a header; Grafana's export included), Prometheus `query_range` JSON,
/// CloudWatch `get-metric-data` JSON, a Locust history. With `repair` (forecast's ingest)
/// rows are sorted, duplicate stamps merged (counts summed, rps averaged; each with a
/// note) and empty values read as absent; else they are kept as read.
pub fn parse_rows(
    text: &str,
    path: &Path,
    options: TrafficOptions,
    repair: bool,
) -> Result<ParsedRows, InputError> {
    let source = Source::new(path, text);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    let mut parsed = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        super::metrics_json::parse(&source, options.tz_offset)?
    } else {
        parse_csv(&source, options, repair)?
    };
    if parsed.rows.len() < 2 {
        return Err(
            source.whole_file("needs at least two data rows (the interval is read from them)")
        );
    }
    if parsed.column == Column::Locust {
        check_locust_order(&parsed.rows, &source, &parsed.time_name)?;
        return Ok(parsed);
    }
    if repair {
        sort_and_merge(&mut parsed);
    }
    parsed.interval_seconds = infer_interval(&parsed.rows).ok_or_else(|| {
        // Merged duplicates can leave a single row: name the last one read.
        let line = parsed
            .rows
            .get(1)
            .or(parsed.rows.last())
            .map_or(1, |row| row.line);
        source.at_line(line, &parsed.time_name, "no two rows are apart in time")
    })?;
    Ok(parsed)
}

/// Sort by time (stable) and merge rows of one stamp: counts are summed, rps averaged.
fn sort_and_merge(parsed: &mut ParsedRows) {
    let rows = &mut parsed.rows;
    let unsorted = rows.windows(2).filter(|w| w[1].local < w[0].local).count();
    if unsorted > 0 {
        let newest_first = unsorted == rows.len() - 1;
        rows.sort_by_key(|row| row.local);
        parsed.notes.push(if newest_first {
            "rows were newest first: read in time order".to_string()
        } else {
            format!("rows were not in time order ({unsorted} steps back): sorted by time")
        });
    }
    let mut merged: Vec<Row> = Vec::with_capacity(rows.len());
    let mut duplicates = 0usize;
    let mut run = 1usize;
    for row in rows.drain(..) {
        match merged.last_mut() {
            Some(last) if last.local == row.local => {
                duplicates += 1;
                run += 1;
                last.value = match (last.value, row.value) {
                    (Some(a), Some(b)) if parsed.column == Column::Rps => {
                        // A running mean over the run of duplicates.
                        Some(a + (b - a) / run as f64)
                    }
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
            }
            _ => {
                run = 1;
                merged.push(row);
            }
        }
    }
    *rows = merged;
    if duplicates > 0 {
        let how = if parsed.column == Column::Rps {
            "averaged (rps)"
        } else {
            "summed (counts)"
        };
        parsed.notes.push(format!(
            "{duplicates} row(s) repeated an earlier stamp: values of one stamp {how}"
        ));
    }
}

fn check_locust_order(rows: &[Row], source: &Source, time_name: &str) -> Result<(), InputError> {
    // Samples are not on a grid, but they are in time order, once each.
    for pair in rows.windows(2) {
        if pair[1].local <= pair[0].local {
            let what = if pair[1].local == pair[0].local {
                "duplicate of"
            } else {
                "earlier than"
            };
            return Err(source.at_line(
                pair[1].line,
                time_name,
                format!("{what} line {}; rows must be sorted by time", pair[0].line),
            ));
        }
    }
    Ok(())
}

/// Names a time column may have (any case): ours, Grafana's, pandas' and Prophet's.
const TIME_NAMES: [&str; 5] = ["timestamp", "time", "date", "datetime", "ds"];

fn parse_csv(
    source: &Source,
    options: TrafficOptions,
    repair: bool,
) -> Result<ParsedRows, InputError> {
    let text = source.text.trim_start_matches('\u{feff}');
    // Grafana's older exports separate with semicolons.
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.contains(';') && !first_line.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|err| source.whole_file(format!("cannot read the header: {err}")))?
        .clone();
    // Header names are matched case-insensitively: `Timestamp,RPS` is the same file.
    let find = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let locust = options.accept_locust && find("Requests/s").is_some();
    let time_col = TIME_NAMES
        .iter()
        .find_map(|name| find(name))
        .ok_or_else(|| header_error(source, &header, options))?;
    let grafana = !locust && header[time_col].eq_ignore_ascii_case("time");
    let series_col = if grafana { find("series") } else { None };
    let (column, value_col) = if locust {
        (Column::Locust, find("Requests/s").unwrap_or(time_col))
    } else {
        // A file with both prefers `rps`: it needs no interval to be read.
        match (
            find("rps"),
            find("requests").or_else(|| find("count")),
            find("value"),
        ) {
            (Some(c), _, _) => (Column::Rps, c),
            (None, Some(c), _) => (Column::Requests, c),
            // Grafana plots rates: its `Value` column is read as rps.
            (None, None, Some(c)) if grafana => (Column::Rps, c),
            (None, None, Some(c)) => (Column::Requests, c),
            // Grafana's newer export names the value column after the series.
            (None, None, None) if grafana && header.len() == 2 => (Column::Rps, 1 - time_col),
            (None, None, None) => return Err(header_error(source, &header, options)),
        }
    };
    let name_col = if locust { find("Name") } else { None };
    let upper_col = if options.read_upper && !locust {
        find("upper")
    } else {
        None
    };
    let value_name = header[value_col].to_string();
    let time_name = header[time_col].to_string();

    let mut rows = Vec::new();
    let mut zone = options.tz_offset;
    let mut naive: Option<bool> = None;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line() as usize);
                return Err(source.at_line(line, "row", format!("unreadable CSV: {err}")));
            }
        }
        let line = record.position().map_or(0, |p| p.line() as usize);
        // A row with a field more or less than the header is a shifted or cut row
        // (an unquoted comma, a truncated export): reading it by position would be a guess.
        if record.len() != header.len() {
            return Err(source.at_line(
                line,
                "row",
                format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            ));
        }
        if let Some(name_col) = name_col {
            if record.get(name_col) != Some("Aggregated") {
                continue;
            }
        }
        // Every column index comes from the header, whose length the row has.
        let (time_text, value_text) = (&record[time_col], &record[value_col]);
        let local = if locust {
            let utc: i64 = time_text.parse().map_err(|_| {
                source.at_line(
                    line,
                    &time_name,
                    format!("'{}' is not Unix seconds", shorten(time_text)),
                )
            })?;
            utc + i64::from(zone.unwrap_or(0))
        } else {
            let stamp = parse_stamp_or_epoch(time_text)
                .map_err(|message| source.at_line(line, &time_name, message))?;
            let this_naive = stamp.offset_seconds.is_none();
            if *naive.get_or_insert(this_naive) != this_naive {
                return Err(source.at_line(
                    line,
                    &time_name,
                    "mixes stamps with and without a UTC offset; use one form throughout",
                ));
            }
            let zone = *zone.get_or_insert(stamp.offset_seconds.unwrap_or(0));
            stamp.utc_seconds(zone) + i64::from(zone)
        };
        let value = parse_value(value_text, options.fill_gaps || repair)
            .map_err(|message| source.at_line(line, &value_name, message))?;
        let upper = match upper_col {
            Some(col) => parse_value(record.get(col).unwrap_or(""), options.fill_gaps)
                .map_err(|message| source.at_line(line, "upper", message))?,
            None => None,
        };
        rows.push(Row {
            line,
            local,
            value,
            upper,
        });
    }
    let offset = FixedOffset::east_opt(zone.unwrap_or(0))
        .ok_or_else(|| source.whole_file("UTC offset out of range"))?;
    let mut notes = Vec::new();
    if series_col.is_some() {
        // One row per series and stamp: the traffic of a stamp is the sum of its series.
        let mut by_stamp: std::collections::BTreeMap<i64, Row> = std::collections::BTreeMap::new();
        for row in rows.drain(..) {
            by_stamp
                .entry(row.local)
                .and_modify(|kept| {
                    kept.value = match (kept.value, row.value) {
                        (Some(a), Some(b)) => Some(a + b),
                        (a, b) => a.or(b),
                    }
                })
                .or_insert(row);
        }
        rows = by_stamp.into_values().collect();
        notes.push("Grafana export: the series' values of one stamp summed".to_string());
    }
    Ok(ParsedRows {
        column,
        format: if locust {
            "locust"
        } else if grafana {
            "grafana-csv"
        } else {
            "csv"
        },
        offset,
        rows,
        interval_seconds: 0,
        notes,
        has_upper: upper_col.is_some(),
        time_name,
    })
}

/// A stamp as text, or Unix seconds or milliseconds (13 digits and more) as a number: UTC.
fn parse_stamp_or_epoch(text: &str) -> Result<crate::timestamp::Stamp, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        if let Ok(number) = text.parse::<f64>() {
            return crate::timestamp::from_epoch(number).ok_or_else(|| {
                format!(
                    "'{}' is out of range as Unix seconds or milliseconds",
                    shorten(text)
                )
            });
        }
    }
    parse_stamp(text).map_err(|_| {
        format!(
            "'{}' is not a timestamp ({}, or Unix seconds/milliseconds)",
            shorten(text),
            crate::timestamp::EXPECTED
        )
    })
}

impl ParsedRows {
    /// Rows from a JSON metrics export (values already summed per stamp).
    pub(super) fn from_json(
        format: &'static str,
        column: Column,
        offset: FixedOffset,
        rows: Vec<Row>,
        notes: Vec<String>,
        time_name: &str,
    ) -> ParsedRows {
        ParsedRows {
            column,
            format,
            offset,
            rows,
            interval_seconds: 0,
            notes,
            has_upper: false,
            time_name: time_name.to_string(),
        }
    }

    /// Name of the time field, for errors.
    pub fn time_name(&self) -> &str {
        &self.time_name
    }
}

fn header_error(
    source: &Source,
    header: &csv::StringRecord,
    options: TrafficOptions,
) -> InputError {
    // A header can be a whole file (an unclosed quote): name a few fields, shortened.
    let mut found: Vec<String> = header.iter().take(6).map(shorten).collect();
    if header.len() > 6 {
        found.push(format!("... {} more", header.len() - 6));
    }
    let locust = if options.accept_locust {
        ", or a Locust _stats_history.csv"
    } else {
        ""
    };
    source.at_line(
        1,
        "header",
        format!(
            "found [{}]; expected `timestamp,requests` (alias `timestamp,value`) or `timestamp,rps`{locust}",
            found.join(",")
        ),
    )
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
        .map_err(|_| format!("'{}' is not a number", shorten(text)))?;
    if !value.is_finite() {
        return Err(format!("'{}' is not a finite number", shorten(text)));
    }
    if value < 0.0 {
        return Err(format!("{} is negative; traffic cannot be", shorten(text)));
    }
    Ok(Some(value))
}

/// Share of gaps an interval must divide (within 5 % of it: stamps jitter).
const DIVIDES_NEARLY_ALL: f64 = 0.98;

/// The greatest spacing that divides nearly all gaps between consecutive rows: the
/// interval of a series with absent rows (1 h when many rows are 2 h apart), robust to
/// a few odd stamps and to jitter. `None` when no two rows are apart in time.
pub fn infer_interval(rows: &[Row]) -> Option<i64> {
    let mut counts = std::collections::HashMap::new();
    for pair in rows.windows(2) {
        let step = pair[1].local - pair[0].local;
        if step > 0 {
            *counts.entry(step).or_insert(0usize) += 1;
        }
    }
    if counts.is_empty() {
        return None;
    }
    let total: usize = counts.values().sum();
    let mut gaps: Vec<(i64, usize)> = counts.into_iter().collect();
    gaps.sort_unstable_by_key(|&(step, n)| (std::cmp::Reverse(n), step));
    // Candidates: the common gaps themselves and the usual intervals below them. 1 s
    // divides every gap, so there is always an answer.
    const USUAL: [i64; 17] = [
        1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 86_400,
    ];
    let mut candidates: Vec<i64> = gaps.iter().take(50).map(|&(step, _)| step).collect();
    candidates.extend(USUAL);
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    candidates.dedup();
    let divides = |d: i64, step: i64| {
        let rest = step % d;
        step >= d - d / 20 && rest.min(d - rest) <= d / 20
    };
    candidates.into_iter().find(|&d| {
        let fits: usize = gaps
            .iter()
            .filter(|&&(step, _)| divides(d, step))
            .map(|&(_, n)| n)
            .sum();
        fits as f64 >= DIVIDES_NEARLY_ALL * total as f64
    })
}

/// Put the rows on their grid: unsorted, duplicate and off-grid rows are errors; gaps
/// are errors or, with `fill_gaps`, interpolated.
fn regular(
    parsed: ParsedRows,
    source: &Source,
    options: TrafficOptions,
) -> Result<RegularTraffic, InputError> {
    let ParsedRows {
        column,
        offset,
        rows,
        interval_seconds: interval,
        has_upper,
        time_name,
        ..
    } = parsed;
    let time_name = time_name.as_str();
    let stamp_of = |local: i64| local_to_text(local, offset);
    let mut slots: Vec<Option<f64>> = Vec::with_capacity(rows.len());
    let mut upper_slots: Vec<Option<f64>> = Vec::new();
    // (line before, line after, first missing, count)
    let mut gaps: Vec<(usize, usize, i64, usize)> = Vec::new();
    slots.push(rows[0].value);
    upper_slots.push(rows[0].upper);
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
                "{} is off the {interval} s grid of the rows before (rows must be evenly spaced)",
                stamp_of(row.local)
            ))
        } else {
            None
        };
        // Unsorted, duplicate or off-grid rows outrank gaps: they are usually the cause.
        if let Some(message) = hard_error {
            return Err(source.at_line(row.line, time_name, message));
        }
        let missing = (step / interval - 1) as usize;
        if missing > 0 {
            gaps.push((prev.line, row.line, prev.local + interval, missing));
            // Without --fill-gaps the first gap is the error: nothing to make room for.
            if !options.fill_gaps {
                continue;
            }
            // A stamp in the wrong year must not allocate every interval up to it.
            if slots.len() + missing >= MAX_INTERVALS {
                return Err(source.at_line(
                    row.line,
                    time_name,
                    format!(
                        "{} is {missing} intervals of {interval} s after line {}: the series would \
                         span more than {MAX_INTERVALS} intervals (a stamp in the wrong year?)",
                        stamp_of(row.local),
                        prev.line
                    ),
                ));
            }
            slots.extend(std::iter::repeat_n(None, missing));
            upper_slots.extend(std::iter::repeat_n(None, missing));
        }
        slots.push(row.value);
        upper_slots.push(row.upper);
    }
    if let (false, Some(&(before, after, first_missing, count))) = (options.fill_gaps, gaps.first())
    {
        let more = if gaps.len() > 1 {
            format!("; {} more gap(s) after it", gaps.len() - 1)
        } else {
            String::new()
        };
        return Err(source.at_line(
            after,
            time_name,
            format!(
                "gap: {count} missing {interval} s interval(s) from {} between line {before} and this row{more}; use --fill-gaps to interpolate",
                stamp_of(first_missing)
            ),
        ));
    }
    let first = rows[0].local;
    let filled = fill_missing(&mut slots, first, interval, &rows, offset);
    let upper = has_upper.then(|| {
        fill_missing(&mut upper_slots, first, interval, &rows, offset);
        upper_slots
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect()
    });
    Ok(RegularTraffic {
        column,
        offset,
        rows: rows.len(),
        start_local: first,
        interval_seconds: interval,
        values: slots.into_iter().map(Option::unwrap_or_default).collect(),
        upper,
        filled,
    })
}

/// Linear interpolation of every `None` between its known neighbours (held flat at the
/// edges); returns the runs it filled. `slots[k]` is at `first + k * interval`.
pub fn fill_missing(
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
            from: local_to_time(from_local, offset),
            intervals: index - start,
            after_line,
        });
    }
    filled
}

/// Wall-clock seconds in `offset` as a zoned time.
pub fn local_to_time(local: i64, offset: FixedOffset) -> DateTime<FixedOffset> {
    let utc = local - i64::from(offset.local_minus_utc());
    DateTime::from_timestamp(utc, 0)
        .unwrap_or_default()
        .with_timezone(&offset)
}

/// Wall-clock seconds in `offset` as RFC 3339 text.
pub fn local_to_text(local: i64, offset: FixedOffset) -> String {
    local_to_time(local, offset).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regular(text: &str, options: TrafficOptions) -> Result<RegularTraffic, String> {
        match parse(text, Path::new("t.csv"), options).map_err(|e| e.to_string())? {
            Traffic::Regular(regular) => Ok(regular),
            Traffic::Locust(_) => Err("locust".into()),
        }
    }

    #[test]
    fn headers_are_case_insensitive_and_value_is_requests() {
        let text = "Timestamp,RPS\n2026-01-01 00:00,1\n2026-01-01 00:10,2\n";
        let t = regular(text, TrafficOptions::default()).unwrap();
        assert_eq!((t.column, t.interval_seconds), (Column::Rps, 600));
        let text = "timestamp,value\n2026-01-01 00:00,1\n2026-01-01 00:10,2\n";
        let t = regular(text, TrafficOptions::default()).unwrap();
        assert_eq!(t.column, Column::Requests);
    }

    #[test]
    fn naive_stamps_are_read_in_the_zone_given() {
        let text = "timestamp,rps\n2026-01-01 00:00,1\n2026-01-01 01:00,2\n";
        let options = TrafficOptions {
            tz_offset: Some(3600),
            ..TrafficOptions::default()
        };
        let t = regular(text, options).unwrap();
        assert_eq!(t.start_utc().to_rfc3339(), "2025-12-31T23:00:00+00:00");
    }

    #[test]
    fn gaps_fail_or_fill_and_upper_follows() {
        let text = "timestamp,rps,lower,upper\n2026-01-01 00:00,10,0,20\n2026-01-01 00:02,30,0,40\n2026-01-01 00:03,30,0,40\n";
        let err = regular(
            text,
            TrafficOptions {
                read_upper: true,
                ..TrafficOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            err.starts_with("t.csv:3: timestamp: gap: 1 missing 60 s"),
            "{err}"
        );
        assert!(err.ends_with("\n  | 2026-01-01 00:02,30,0,40"), "{err}");
        let t = regular(
            text,
            TrafficOptions {
                read_upper: true,
                fill_gaps: true,
                ..TrafficOptions::default()
            },
        )
        .unwrap();
        assert_eq!(t.values, vec![10.0, 20.0, 30.0, 30.0]);
        assert_eq!(t.upper, Some(vec![20.0, 30.0, 40.0, 40.0]));
        assert_eq!(t.filled.len(), 1);
    }

    #[test]
    fn mixed_naive_and_zoned_stamps_are_refused() {
        let text = "timestamp,rps\n2026-01-01 00:00,1\n2026-01-01T01:00:00Z,2\n";
        let err = regular(text, TrafficOptions::default()).unwrap_err();
        assert!(err.starts_with("t.csv:3: timestamp: mixes"), "{err}");
    }
}
