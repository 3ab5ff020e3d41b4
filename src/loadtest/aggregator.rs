//! The aggregator: merges the generator threads' intervals into per-second history
//! and cumulative per-endpoint statistics, and builds the run's result.
use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime};

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::loadtest::client::Failure;
use crate::loadtest::recorder::{
    new_histogram, ConnectionStats, EndpointInterval, FailureSeen, Interval, Pacing,
};

/// Latency percentiles of a set of requests, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Median, ms.
    pub p50: f64,
    /// 90th percentile, ms.
    pub p90: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// 99.9th percentile, ms.
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    /// Largest, ms.
    pub max: f64,
    /// Smallest, ms.
    pub min: f64,
    /// Mean, ms.
    pub mean: f64,
}

impl LatencySummary {
    pub fn from_histogram(h: &Histogram<u64>) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            p50: quantile_ms(h, 0.50),
            p90: quantile_ms(h, 0.90),
            p95: quantile_ms(h, 0.95),
            p99: quantile_ms(h, 0.99),
            p99_9: quantile_ms(h, 0.999),
            max: h.max() as f64 / 1e3,
            min: h.min() as f64 / 1e3,
            mean: h.mean() / 1e3,
        }
    }

    /// A percentile given in 0..=100, ms (for thresholds).
    pub fn percentile(h: &Histogram<u64>, percent: f64) -> f64 {
        quantile_ms(h, percent / 100.0)
    }
}

/// Value at a quantile in ms; the highest equivalent value, so p100 equals max.
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.highest_equivalent(h.value_at_quantile(q)) as f64 / 1e3
}

/// Cumulative statistics of one endpoint (a method and name).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointSummary {
    /// HTTP method.
    pub method: String,
    /// Name in reports (the path unless the scenario names it).
    pub name: String,
    /// Requests completed.
    pub requests: u64,
    /// Requests that failed (any kind).
    pub failures: u64,
    /// Requests per second over the run.
    pub rps: f64,
    /// Failures per second over the run.
    pub failures_per_s: f64,
    /// Mean response body size, bytes.
    pub avg_content_bytes: f64,
    /// Latency (open model: from the intended send time), ms.
    pub latency_ms: LatencySummary,
    /// Open model: service time from the actual send, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_time_ms: Option<LatencySummary>,
    /// The full latency histogram (µs), for any other percentile.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

/// One row of the failures report.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    /// HTTP method.
    pub method: String,
    /// Endpoint name.
    pub name: String,
    /// Kind and detail, e.g. `HTTPError: 500 Internal Server Error`.
    pub error: String,
    /// The kind alone, e.g. `HTTPError`, `CheckFailed` (schema/loadtest.schema.json lists them).
    pub kind: &'static str,
    /// How often it happened.
    pub occurrences: u64,
    /// When the first of these failed requests ended (wall clock, UTC).
    pub first_seen: DateTime<Utc>,
    /// When the last of them ended (wall clock, UTC).
    pub last_seen: DateTime<Utc>,
}

/// Ties the run's monotonic clock to the wall clock: `start` (an [`Instant`]) was
/// `wall` (a [`SystemTime`]). A moment of the run is `wall` plus the monotonic time
/// since `start`, so a clock step during the run does not reorder failures.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub start: Instant,
    pub wall: SystemTime,
}

impl WallClock {
    /// The wall-clock time of `at`.
    pub fn at(&self, at: Instant) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.wall + at.saturating_duration_since(self.start))
    }
}

/// One second of the run, all endpoints together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Unix time at the end of the second, s.
    pub timestamp: i64,
    /// Seconds since the start.
    pub elapsed_s: u64,
    /// Users running (closed model) or connections (open model).
    pub users: u32,
    /// Requests completed in this second.
    pub rps: f64,
    /// Failures in this second.
    pub failures_per_s: f64,
    /// Mean rps over the last (up to) 10 seconds, as Locust's "current" rps.
    pub current_rps: f64,
    /// Mean failures/s over the last (up to) 10 seconds.
    pub current_failures_per_s: f64,
    /// This second's latency percentiles, ms.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Locust's percentile columns (50%..100%) of all requests so far, ms.
    pub cumulative_percentiles_ms: [f64; LOCUST_PERCENTILES.len()],
    /// Totals so far.
    pub total_requests: u64,
    pub total_failures: u64,
    pub total_median_ms: f64,
    pub total_mean_ms: f64,
    pub total_min_ms: f64,
    pub total_max_ms: f64,
    pub total_avg_content_bytes: f64,
    /// Generator CPU use this second, % of the generator threads' capacity.
    pub generator_cpu_percent: f64,
    /// Open model: sends this second that left late.
    pub late_sends: u64,
    /// Closed model: users the run intended at the end of this second (a shape's just after it, or
    /// those started by then at the spawn rate), beside `users`, those running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_users: Option<u32>,
    /// Open model: requests intended to be sent in this second (the rate, or a shape's
    /// integral over the second), beside `rps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_rps: Option<f64>,
}

/// Locust's percentile columns.
pub const LOCUST_PERCENTILES: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// Merges thread intervals; owns the cumulative histograms.
pub struct Aggregator {
    names: Vec<(String, String)>,
    warmup_seconds: u64,
    threads: usize,
    start_unix: i64,
    cumulative: Interval,
    pending: BTreeMap<u64, (usize, Interval)>,
    recent: Vec<(u64, u64)>,
}

/// A second that is complete: its history row and its merged latency histogram (for hlog).
pub struct FinishedSecond {
    pub row: HistoryRow,
    pub latency: Histogram<u64>,
    /// The second's merged interval: counts per endpoint and failures by kind
    /// (what live metrics label by).
    pub interval: Interval,
}

impl Aggregator {
    /// `warmup_seconds`: leading seconds left out of the cumulative statistics.
    pub fn new(
        names: Vec<(String, String)>,
        threads: usize,
        start_unix: i64,
        warmup_seconds: u64,
    ) -> Aggregator {
        let slots = names.len();
        Aggregator {
            names,
            warmup_seconds,
            threads,
            start_unix,
            cumulative: Interval::new(slots),
            pending: BTreeMap::new(),
            recent: Vec::new(),
        }
    }

    /// A thread finished `second`. Returns the second if all threads have now reported it.
    pub fn add_tick(
        &mut self,
        second: u64,
        interval: &Interval,
        users: u32,
    ) -> Option<FinishedSecond> {
        let slots = self.names.len();
        let entry = self
            .pending
            .entry(second)
            .or_insert_with(|| (0, Interval::new(slots)));
        entry.0 += 1;
        entry.1.merge(interval);
        if entry.0 < self.threads {
            return None;
        }
        let (_, merged) = self.pending.remove(&second).expect("entry exists");
        Some(self.finish_second(second, merged, users))
    }

    /// A thread stopped with `backlog` open-model sends due but never sent.
    pub fn add_done(&mut self, backlog: u64) {
        self.cumulative.pacing.backlog += backlog;
    }

    /// Seconds some threads reported but not all (only at the end of a run).
    pub fn flush_pending(&mut self, users: u32) -> Vec<FinishedSecond> {
        let pending = std::mem::take(&mut self.pending);
        pending
            .into_iter()
            .map(|(second, (_, merged))| self.finish_second(second, merged, users))
            .collect()
    }

    fn finish_second(&mut self, second: u64, merged: Interval, users: u32) -> FinishedSecond {
        // Warm-up seconds are shown in the history but kept out of the totals.
        if second > self.warmup_seconds {
            self.cumulative.merge(&merged);
        } else {
            // Pacing and connections cover the whole run: most connections open in
            // its first second.
            self.cumulative.pacing.merge(&merged.pacing);
            self.cumulative.connections.merge(&merged.connections);
        }
        let requests = merged.requests();
        let failures = merged.failures();
        self.recent.push((requests, failures));
        if self.recent.len() > 10 {
            self.recent.remove(0);
        }
        let window = self.recent.len() as f64;
        let latency = merged_latency(&merged.endpoints);
        let total = merged_endpoint(&self.cumulative.endpoints);
        let row = HistoryRow {
            timestamp: self.start_unix + second as i64,
            elapsed_s: second,
            users,
            rps: requests as f64,
            failures_per_s: failures as f64,
            current_rps: self.recent.iter().map(|r| r.0).sum::<u64>() as f64 / window,
            current_failures_per_s: self.recent.iter().map(|r| r.1).sum::<u64>() as f64 / window,
            p50_ms: quantile_ms(&latency, 0.50),
            p95_ms: quantile_ms(&latency, 0.95),
            p99_ms: quantile_ms(&latency, 0.99),
            // Inline, not a Vec: a row a second must not mean an allocation a second.
            cumulative_percentiles_ms: LOCUST_PERCENTILES.map(|q| quantile_ms(&total.latency, q)),
            total_requests: total.requests,
            total_failures: total.failures,
            total_median_ms: quantile_ms(&total.latency, 0.5),
            total_mean_ms: if total.latency.is_empty() {
                0.0
            } else {
                total.latency.mean() / 1e3
            },
            total_min_ms: if total.latency.is_empty() {
                0.0
            } else {
                total.latency.min() as f64 / 1e3
            },
            total_max_ms: total.latency.max() as f64 / 1e3,
            total_avg_content_bytes: ratio(total.content_bytes, total.requests),
            generator_cpu_percent: 0.0,
            late_sends: merged.pacing.late,
            // The run knows the plan: it fills these in.
            intended_users: None,
            intended_rps: None,
        };
        FinishedSecond {
            row,
            latency,
            interval: merged,
        }
    }

    /// Build the result; `duration_s` is the measured run time, `clock` dates the
    /// failures. The per-second rows went to the run's observers as they finished.
    pub fn finish(self, duration_s: f64, clock: &WallClock) -> RunTotals {
        let duration_s = duration_s.max(1e-9);
        let open_model = self.cumulative.pacing.sent > 0;
        let endpoints: Vec<EndpointSummary> = self
            .names
            .iter()
            .zip(&self.cumulative.endpoints)
            .map(|((method, name), e)| summarize(method, name, e, duration_s, open_model))
            .collect();
        let total = merged_endpoint(&self.cumulative.endpoints);
        let aggregate = summarize("", "Aggregated", &total, duration_s, open_model);
        let mut failures: Vec<FailureRow> = self
            .cumulative
            .failures
            .iter()
            .map(|((slot, failure), seen)| FailureRow {
                method: self.names[*slot].0.clone(),
                name: self.names[*slot].1.clone(),
                error: failure.to_string(),
                kind: failure.kind(),
                occurrences: seen.count,
                first_seen: clock.at(seen.first),
                last_seen: clock.at(seen.last),
            })
            .collect();
        failures.sort_by(|a, b| b.occurrences.cmp(&a.occurrences).then(a.name.cmp(&b.name)));
        RunTotals {
            endpoints,
            aggregate,
            failures,
            failure_kinds: self.cumulative.failures,
            pacing: self.cumulative.pacing,
            connections: self.cumulative.connections,
        }
    }
}

/// Everything the aggregator knows at the end.
pub struct RunTotals {
    pub endpoints: Vec<EndpointSummary>,
    pub aggregate: EndpointSummary,
    pub failures: Vec<FailureRow>,
    pub failure_kinds: HashMap<(usize, Failure), FailureSeen>,
    pub pacing: Pacing,
    pub connections: ConnectionStats,
}

fn summarize(
    method: &str,
    name: &str,
    e: &EndpointInterval,
    duration_s: f64,
    open_model: bool,
) -> EndpointSummary {
    EndpointSummary {
        method: method.to_string(),
        name: name.to_string(),
        requests: e.requests,
        failures: e.failures,
        rps: e.requests as f64 / duration_s,
        failures_per_s: e.failures as f64 / duration_s,
        avg_content_bytes: ratio(e.content_bytes, e.requests),
        latency_ms: LatencySummary::from_histogram(&e.latency),
        service_time_ms: open_model.then(|| LatencySummary::from_histogram(&e.service)),
        histogram: e.latency.clone(),
    }
}

fn merged_endpoint(endpoints: &[EndpointInterval]) -> EndpointInterval {
    let mut total = EndpointInterval::new();
    for e in endpoints {
        total.merge(e);
    }
    total
}

fn merged_latency(endpoints: &[EndpointInterval]) -> Histogram<u64> {
    let mut h = new_histogram();
    for e in endpoints {
        h.add(&e.latency).expect("histograms share bounds");
    }
    h
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seconds_complete_when_every_thread_reported() {
        let names = vec![("GET".to_string(), "/".to_string())];
        let mut agg = Aggregator::new(names, 2, 1_000, 0);
        let start = Instant::now();
        let clock = WallClock {
            start,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
        };
        let mut a = Interval::new(1);
        a.record(0, start, Duration::from_millis(10), Ok(5));
        let mut b = Interval::new(1);
        b.record(
            0,
            start + Duration::from_millis(2_500),
            Duration::from_millis(30),
            Err(Failure::Status(500)),
        );
        b.record(
            0,
            start + Duration::from_millis(700),
            Duration::from_millis(5),
            Err(Failure::Status(500)),
        );
        assert!(agg.add_tick(1, &a, 2).is_none());
        let second = agg.add_tick(1, &b, 2).expect("both threads reported");
        assert_eq!(second.row.rps, 3.0);
        assert_eq!(second.row.failures_per_s, 2.0);
        assert_eq!(second.row.timestamp, 1_001);
        assert!((second.row.p50_ms - 10.0).abs() < 0.1);
        let totals = agg.finish(1.0, &clock);
        assert_eq!(totals.aggregate.requests, 3);
        assert_eq!(totals.aggregate.failures, 2);
        let failure = &totals.failures[0];
        assert_eq!(failure.error, "HTTPError: 500 Internal Server Error");
        assert_eq!(failure.occurrences, 2);
        // In the order they ended, not the order they were recorded.
        assert_eq!(failure.first_seen.timestamp_millis(), 1_000_700);
        assert_eq!(failure.last_seen.timestamp_millis(), 1_002_500);
        assert!((totals.aggregate.latency_ms.max - 30.0).abs() < 0.1);
        assert!((totals.aggregate.avg_content_bytes - 5.0 / 3.0).abs() < 1e-9);
    }
}
