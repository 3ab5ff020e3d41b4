//! The per-second history of a run, kept in an unnamed temporary file while the
//! run goes, so the generator's memory stays flat however long it runs (a day's
//! soak test has 86,400 rows); read back once, for the reports.
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};

use crate::loadtest::aggregator::{FinishedSecond, HistoryRow};
use crate::loadtest::run::Observer;

/// Rows appended one a second; one JSON line each on disk.
pub struct HistorySpill {
    file: Option<File>,
    /// Bytes of whole rows in the file: a write that failed halfway is ignored.
    good_bytes: u64,
    /// Whole rows in the file.
    file_rows: usize,
    /// Rows kept in memory once a write failed (or when no file could be made).
    /// Once it holds a row, the file takes no more: the rows stay in order.
    tail: Vec<HistoryRow>,
    line: Vec<u8>,
}

impl Default for HistorySpill {
    fn default() -> Self {
        HistorySpill {
            file: tempfile::tempfile().ok(),
            good_bytes: 0,
            file_rows: 0,
            tail: Vec::new(),
            line: Vec::with_capacity(1024),
        }
    }
}

impl HistorySpill {
    pub fn push(&mut self, row: HistoryRow) {
        if let Some(file) = self.file.as_mut().filter(|_| self.tail.is_empty()) {
            self.line.clear();
            // Every field is finite by construction, so the line reads back exactly.
            if serde_json::to_writer(&mut self.line, &row).is_ok() {
                self.line.push(b'\n');
                if file.write_all(&self.line).is_ok() {
                    self.good_bytes += self.line.len() as u64;
                    self.file_rows += 1;
                    return;
                }
            }
            // Disk full, say: keep the rest in memory rather than lose the report.
        }
        self.tail.push(row);
    }

    /// Every row, in order.
    pub fn into_rows(self) -> io::Result<Vec<HistoryRow>> {
        let mut rows = Vec::with_capacity(self.file_rows + self.tail.len());
        let unreadable =
            |e: serde_json::Error| io::Error::other(format!("the run's history file: {e}"));
        // The file stops being written at the first failure; whatever it holds comes first.
        if let Some(mut file) = self.file {
            file.seek(SeekFrom::Start(0))?;
            for line in BufReader::new(file.take(self.good_bytes)).lines() {
                rows.push(serde_json::from_str(&line?).map_err(unreadable)?);
            }
        }
        rows.extend(self.tail);
        Ok(rows)
    }
}

/// The reports' per-second history is kept as the run goes.
impl Observer for HistorySpill {
    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
        self.push(second.row.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(second: u64) -> HistoryRow {
        HistoryRow {
            timestamp: 1_700_000_000 + second as i64,
            elapsed_s: second,
            users: 7,
            rps: 0.1 + second as f64,
            failures_per_s: 1.0 / 3.0,
            current_rps: 1e-9,
            current_failures_per_s: 123_456.789,
            p50_ms: 0.021,
            p95_ms: 20.5,
            p99_ms: 59_999.999,
            cumulative_percentiles_ms: std::array::from_fn(|i| i as f64 * 1.1),
            total_requests: u64::MAX,
            total_failures: 3,
            total_median_ms: 2.0,
            total_mean_ms: std::f64::consts::PI,
            total_min_ms: 0.0,
            total_max_ms: 1e6,
            total_avg_content_bytes: 512.25,
            generator_cpu_percent: 99.9,
            late_sends: 11,
            intended_users: second.is_multiple_of(2).then_some(9),
            intended_rps: (!second.is_multiple_of(2)).then_some(0.1 + 1.0 / 3.0),
        }
    }

    #[test]
    fn rows_read_back_exactly_and_in_order() {
        let mut log = HistorySpill::default();
        assert!(log.file.is_some(), "a temporary file is available here");
        let rows: Vec<HistoryRow> = (1..=1000).map(row).collect();
        for r in &rows {
            log.push(r.clone());
        }
        assert_eq!(log.file_rows, 1000);
        // Only the line buffer is in memory, not the rows.
        assert!(log.tail.is_empty());
        assert_eq!(log.into_rows().unwrap(), rows);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn rows_after_a_failed_write_stay_in_memory() {
        let mut log = HistorySpill::default();
        log.push(row(1));
        log.push(row(2));
        // The same file, reopened read-only: the next write fails as on a full disk.
        let fd = std::os::fd::AsRawFd::as_raw_fd(log.file.as_ref().unwrap());
        log.file = Some(File::open(format!("/proc/self/fd/{fd}")).unwrap());
        log.push(row(3));
        assert_eq!(log.tail, vec![row(3)]);
        assert_eq!(log.into_rows().unwrap(), vec![row(1), row(2), row(3)]);
        let mut no_file = HistorySpill {
            file: None,
            ..HistorySpill::default()
        };
        no_file.push(row(1));
        assert_eq!(no_file.into_rows().unwrap(), vec![row(1)]);
    }
}
