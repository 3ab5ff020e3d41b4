//! Locust-compatible CSV files, with Locust's exact column headers and meanings:
//! `PREFIX_stats.csv`, `PREFIX_stats_history.csv`, `PREFIX_failures.csv`,
//! `PREFIX_exceptions.csv`.
//! Response times are in milliseconds; percentiles are whole milliseconds, "N/A" without requests.
use crate::loadtest::aggregator::{quantile_ms, EndpointSummary, LOCUST_PERCENTILES};
use crate::loadtest::result::RunResult;

/// A renderer of one Locust CSV file.
pub type Renderer = fn(&RunResult) -> Vec<u8>;

/// The files `--csv PREFIX` writes (Locust's names), with the renderer of each.
pub const FILES: [(&str, Renderer); 4] = [
    ("_stats.csv", stats),
    ("_stats_history.csv", stats_history),
    ("_failures.csv", failures),
    ("_exceptions.csv", exceptions),
];

/// The paths `--csv PREFIX` writes (none without the flag).
pub fn paths(prefix: Option<&str>) -> Vec<std::path::PathBuf> {
    prefix.map_or_else(Vec::new, |prefix| {
        FILES
            .iter()
            .map(|(suffix, _)| std::path::PathBuf::from(format!("{prefix}{suffix}")))
            .collect()
    })
}

/// Locust's percentile column names.
pub const PERCENTILE_COLUMNS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

pub const STATS_COLUMNS: [&str; 11] = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
];

pub const HISTORY_COLUMNS_HEAD: [&str; 6] = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
];

pub const HISTORY_COLUMNS_TAIL: [&str; 7] = [
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
];

/// The column a users shape adds to the stats history: users the shape intended
/// beside Locust's `User Count` (those running).
pub const INTENDED_USERS_COLUMN: &str = "Intended User Count";
/// The column a rate shape adds to the stats history: the intended rate, a 10 s mean
/// like Locust's `Requests/s` beside it.
pub const INTENDED_RPS_COLUMN: &str = "Intended Requests/s";

pub const FAILURES_COLUMNS: [&str; 6] = [
    "Method",
    "Name",
    "Error",
    "Occurrences",
    "First Seen",
    "Last Seen",
];

pub const EXCEPTIONS_COLUMNS: [&str; 4] = ["Count", "Message", "Traceback", "Nodes"];

/// Locust's timestamp format in the failures file (`locust.util.date.format_utc_timestamp`):
/// UTC, whole seconds (truncated).
const SEEN_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn finish(w: csv::Writer<Vec<u8>>) -> Vec<u8> {
    w.into_inner().expect("writing to memory cannot fail")
}

fn percentile_fields(e: &EndpointSummary) -> Vec<String> {
    if e.requests == 0 {
        return vec!["N/A".to_string(); LOCUST_PERCENTILES.len()];
    }
    LOCUST_PERCENTILES
        .iter()
        .map(|q| format!("{}", quantile_ms(&e.histogram, *q).round() as u64))
        .collect()
}

/// `PREFIX_stats.csv`: one row per endpoint, then the "Aggregated" row.
pub fn stats(result: &RunResult) -> Vec<u8> {
    let mut w = writer();
    let header: Vec<&str> = STATS_COLUMNS
        .iter()
        .chain(&PERCENTILE_COLUMNS)
        .copied()
        .collect();
    w.write_record(&header).expect("in memory");
    for e in result
        .tasks
        .iter()
        .chain(std::iter::once(&result.aggregate))
    {
        let mut row = vec![
            e.method.clone(),
            e.name.clone(),
            e.requests.to_string(),
            e.failures.to_string(),
            format!("{}", e.latency_ms.p50.round() as u64),
            format!("{}", e.latency_ms.mean),
            format!("{}", e.latency_ms.min),
            format!("{}", e.latency_ms.max),
            format!("{}", e.avg_content_bytes.round() as u64),
            format!("{}", e.rps),
            format!("{}", e.failures_per_s),
        ];
        row.extend(percentile_fields(e));
        w.write_record(&row).expect("in memory");
    }
    finish(w)
}

/// `PREFIX_stats_history.csv`: one "Aggregated" row per second, as Locust writes by default.
/// Requests/s and Failures/s are the current (last 10 s) rates; the percentile columns are
/// over all requests so far (Locust's behaviour for the Aggregated row).
pub fn stats_history(result: &RunResult) -> Vec<u8> {
    let mut w = writer();
    let header: Vec<&str> = HISTORY_COLUMNS_HEAD
        .iter()
        .chain(&PERCENTILE_COLUMNS)
        .chain(&HISTORY_COLUMNS_TAIL)
        .copied()
        .collect();
    let mut header = header;
    // A shaped run adds what it intended, last, so Locust's columns stay where they are.
    let intended = result.shape.as_ref().map(|s| s.kind == "rate");
    match intended {
        Some(true) => header.push(INTENDED_RPS_COLUMN),
        Some(false) => header.push(INTENDED_USERS_COLUMN),
        None => {}
    }
    w.write_record(&header).expect("in memory");
    for (i, h) in result.history.iter().enumerate() {
        let mut row = vec![
            h.timestamp.to_string(),
            h.users.to_string(),
            String::new(),
            "Aggregated".to_string(),
            format!("{:.6}", h.current_rps),
            format!("{:.6}", h.current_failures_per_s),
        ];
        if h.total_requests == 0 {
            row.extend(std::iter::repeat_n(
                "N/A".to_string(),
                PERCENTILE_COLUMNS.len(),
            ));
        } else {
            row.extend(
                h.cumulative_percentiles_ms
                    .iter()
                    .map(|ms| format!("{}", ms.round() as u64)),
            );
        }
        row.extend([
            h.total_requests.to_string(),
            h.total_failures.to_string(),
            format!("{}", h.total_median_ms.round() as u64),
            format!("{}", h.total_mean_ms),
            format!("{}", h.total_min_ms),
            format!("{}", h.total_max_ms),
            format!("{}", h.total_avg_content_bytes.round() as u64),
        ]);
        match intended {
            Some(true) => {
                // Like Requests/s: the mean of the last (up to) 10 seconds.
                let recent = &result.history[i.saturating_sub(9)..=i];
                let sum: f64 = recent.iter().filter_map(|r| r.intended_rps).sum();
                row.push(format!("{:.6}", sum / recent.len() as f64));
            }
            Some(false) => row.push(h.intended_users.unwrap_or(0).to_string()),
            None => {}
        }
        w.write_record(&row).expect("in memory");
    }
    finish(w)
}

/// `PREFIX_failures.csv`: failures grouped by endpoint and kind, with when the first
/// and the last of them ended.
pub fn failures(result: &RunResult) -> Vec<u8> {
    let mut w = writer();
    w.write_record(FAILURES_COLUMNS).expect("in memory");
    for f in &result.errors {
        w.write_record([
            f.method.as_str(),
            f.name.as_str(),
            f.error.as_str(),
            &f.occurrences.to_string(),
            &f.first_seen.format(SEEN_FORMAT).to_string(),
            &f.last_seen.format(SEEN_FORMAT).to_string(),
        ])
        .expect("in memory");
    }
    finish(w)
}

/// `PREFIX_exceptions.csv`: the header alone. Locust lists there the exceptions its
/// users' Python code raised; capplan runs no user code, and everything that goes
/// wrong in a run is a failed request, charged to its endpoint in the failures file.
pub fn exceptions(_result: &RunResult) -> Vec<u8> {
    let mut w = writer();
    w.write_record(EXCEPTIONS_COLUMNS).expect("in memory");
    finish(w)
}
