//! Locust `_stats_history.csv`: about one `Aggregated` row a second, not on a strict grid.
use std::path::Path;

use chrono::FixedOffset;

use super::ingest::{finish, IngestOptions, Ingested};
use crate::error::InputError;
use crate::formats::traffic::{fill_missing, local_to_text, Row, MAX_INTERVALS};

/// Locust writes a row about every second, not on a strict grid: average the samples of each hour.
pub(super) fn aggregate_samples(
    rows: Vec<Row>,
    path: &Path,
    options: IngestOptions,
    offset: FixedOffset,
) -> Result<Ingested, InputError> {
    // The reader (formats/traffic.rs) returns the samples sorted, without duplicates.
    let first_hour = rows[0].local.div_euclid(3600);
    let last = &rows[rows.len() - 1];
    let span_hours = last.local.div_euclid(3600) - first_hour + 1;
    // A stamp in the wrong year must not allocate every hour up to it.
    if span_hours > MAX_INTERVALS as i64 {
        return Err(InputError::at_line(
            path,
            last.line,
            "Timestamp",
            format!(
                "{} is {span_hours} hours after line {}: more than {MAX_INTERVALS} hours of samples \
                 (a stamp in the wrong unit or year?)",
                local_to_text(last.local, offset),
                rows[0].line
            ),
        ));
    }
    let hours = span_hours as usize;
    let mut sums = vec![(0.0, 0usize); hours];
    for row in &rows {
        let slot = &mut sums[(row.local.div_euclid(3600) - first_hour) as usize];
        if let Some(value) = row.value {
            slot.0 += value;
            slot.1 += 1;
        }
    }
    let mut slots: Vec<Option<f64>> = sums
        .iter()
        .map(|&(sum, n)| (n > 0).then(|| sum / n as f64))
        .collect();
    if !options.fill_gaps {
        if let Some(hour) = slots.iter().position(Option::is_none) {
            let after = rows
                .iter()
                .rev()
                .find(|r| r.local.div_euclid(3600) < first_hour + hour as i64)
                .map_or(rows[0].line, |r| r.line);
            return Err(InputError::at_line(
                path,
                after,
                "Timestamp",
                format!(
                    "no sample in the hour from {} after this row; use --fill-gaps to interpolate",
                    local_to_text((first_hour + hour as i64) * 3600, offset)
                ),
            ));
        }
    }
    let filled = fill_missing(&mut slots, first_hour * 3600, 3600, &rows, offset);
    let rps = slots.into_iter().map(|v| v.expect("filled")).collect();
    let mut spacing: Vec<i64> = rows.windows(2).map(|p| p[1].local - p[0].local).collect();
    spacing.sort_unstable();
    let interval = spacing[spacing.len() / 2];
    Ok(finish(
        rows.len(),
        "locust",
        interval,
        first_hour,
        rps,
        filled,
        0,
        offset,
    ))
}
