//! A load test's live metrics in the Prometheus text exposition format (0.0.4),
//! which Prometheus, Grafana Agent and VictoriaMetrics scrape: requests and
//! failures by endpoint and kind, latency as a histogram, users, intended and
//! achieved rate, generator CPU. Pure: seconds in, text out; the command serves it
//! (`loadtest --metrics-listen`).
use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;

use crate::loadtest::aggregator::FinishedSecond;
use crate::loadtest::shape::Shape;

/// Latency bucket bounds, seconds (Prometheus client libraries' defaults).
pub const BUCKETS_SECONDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric name the exposition holds (the Grafana dashboard's test reads it).
pub const METRIC_NAMES: [&str; 10] = [
    "capplan_info",
    "capplan_requests_total",
    "capplan_failures_total",
    "capplan_request_duration_seconds",
    "capplan_users",
    "capplan_intended_rps",
    "capplan_achieved_rps",
    "capplan_late_sends_total",
    "capplan_generator_cpu_percent",
    "capplan_elapsed_seconds",
];

/// What the run has measured so far, second by second.
#[derive(Debug, Clone)]
pub struct LiveMetrics {
    target: String,
    model: &'static str,
    /// `(method, name)` per stats slot.
    endpoints: Vec<(String, String)>,
    requests: Vec<u64>,
    failures: BTreeMap<(usize, String), u64>,
    /// Every request's latency so far, µs.
    latency: Histogram<u64>,
    users: u32,
    intended_rps: Option<f64>,
    /// A rate shape: `intended_rps` follows it second by second.
    rate_shape: Option<Shape>,
    achieved_rps: f64,
    late_sends: u64,
    cpu_percent: f64,
    elapsed_s: u64,
}

impl LiveMetrics {
    /// `intended_rps`: the open model's rate (`None` for the closed model).
    pub fn new(
        target: &str,
        endpoints: Vec<(String, String)>,
        intended_rps: Option<f64>,
    ) -> LiveMetrics {
        let slots = endpoints.len();
        LiveMetrics {
            target: target.to_string(),
            model: if intended_rps.is_some() {
                "open"
            } else {
                "closed"
            },
            endpoints,
            requests: vec![0; slots],
            failures: BTreeMap::new(),
            latency: Histogram::new(3).expect("3 significant digits is valid"),
            users: 0,
            intended_rps,
            rate_shape: None,
            achieved_rps: 0.0,
            late_sends: 0,
            cpu_percent: 0.0,
            elapsed_s: 0,
        }
    }

    /// The open model's rate follows `shape` (its value at the end of each second).
    pub fn with_rate_shape(mut self, shape: Shape) -> LiveMetrics {
        self.intended_rps = Some(shape.value_at(0.0));
        self.model = "open";
        self.rate_shape = Some(shape);
        self
    }

    /// Add one finished second.
    pub fn add(&mut self, second: &FinishedSecond) {
        if let Some(shape) = &self.rate_shape {
            self.intended_rps = Some(shape.value_at(second.row.elapsed_s as f64));
        }
        for (slot, endpoint) in second.interval.endpoints.iter().enumerate() {
            if let Some(total) = self.requests.get_mut(slot) {
                *total += endpoint.requests;
            }
        }
        for ((slot, failure), seen) in &second.interval.failures {
            *self
                .failures
                .entry((*slot, failure.to_string()))
                .or_default() += seen.count;
        }
        // Histograms of other ranges saturate rather than fail.
        let _ = self.latency.add(&second.latency);
        self.users = second.row.users;
        self.achieved_rps = second.row.rps;
        self.late_sends += second.row.late_sends;
        self.cpu_percent = second.row.generator_cpu_percent;
        self.elapsed_s = second.row.elapsed_s;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "capplan_info",
            "gauge",
            "The run: target and load model.",
        );
        let _ = writeln!(
            out,
            "capplan_info{{target=\"{}\",model=\"{}\"}} 1",
            escape(&self.target),
            self.model
        );
        family(
            &mut out,
            "capplan_requests_total",
            "counter",
            "Requests completed (failed ones included), by endpoint.",
        );
        for (slot, (method, name)) in self.endpoints.iter().enumerate() {
            let _ = writeln!(
                out,
                "capplan_requests_total{{method=\"{}\",endpoint=\"{}\"}} {}",
                escape(method),
                escape(name),
                self.requests[slot]
            );
        }
        family(
            &mut out,
            "capplan_failures_total",
            "counter",
            "Failed requests, by endpoint and kind (HTTPError, ConnectionError, Timeout, ...).",
        );
        for ((slot, failure), count) in &self.failures {
            let (method, name) = &self.endpoints[*slot];
            let (kind, detail) = failure.split_once(": ").unwrap_or((failure, ""));
            let _ = writeln!(
                out,
                "capplan_failures_total{{method=\"{}\",endpoint=\"{}\",kind=\"{}\",error=\"{}\"}} {count}",
                escape(method),
                escape(name),
                escape(kind),
                escape(detail)
            );
        }
        family(
            &mut out,
            "capplan_request_duration_seconds",
            "histogram",
            "Latency of every request (open model: from its intended send time).",
        );
        for bound in BUCKETS_SECONDS {
            let count = self.latency.count_between(0, (bound * 1e6) as u64);
            let _ = writeln!(
                out,
                "capplan_request_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let count = self.latency.len();
        let _ = writeln!(
            out,
            "capplan_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}\n\
             capplan_request_duration_seconds_sum {}\n\
             capplan_request_duration_seconds_count {count}",
            self.latency.mean() * count as f64 / 1e6
        );
        for (name, kind, help, value) in [
            (
                "capplan_users",
                "gauge",
                "Users running (closed model) or connections (open model).",
                f64::from(self.users),
            ),
            (
                "capplan_achieved_rps",
                "gauge",
                "Requests completed in the last second.",
                self.achieved_rps,
            ),
            (
                "capplan_late_sends_total",
                "counter",
                "Open model: sends that left more than 10 ms after their intended time.",
                self.late_sends as f64,
            ),
            (
                "capplan_generator_cpu_percent",
                "gauge",
                "The generator's own CPU use in the last second, percent of its threads.",
                self.cpu_percent,
            ),
            (
                "capplan_elapsed_seconds",
                "gauge",
                "Seconds of the run measured so far.",
                self.elapsed_s as f64,
            ),
        ] {
            family(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        if let Some(rps) = self.intended_rps {
            family(
                &mut out,
                "capplan_intended_rps",
                "gauge",
                "Open model: the arrival rate asked for.",
            );
            let _ = writeln!(out, "capplan_intended_rps {rps}");
        }
        out
    }
}

/// A label value as the format wants it: backslash, quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::aggregator::HistoryRow;
    use crate::loadtest::client::Failure;
    use crate::loadtest::recorder::{FailureSeen, Interval};

    fn second(requests: [u64; 2], failures: u64, latencies_us: &[u64]) -> FinishedSecond {
        let mut interval = Interval::new(2);
        for (slot, &n) in requests.iter().enumerate() {
            interval.endpoints[slot].requests = n;
        }
        interval.endpoints[1].failures = failures;
        if failures > 0 {
            let now = std::time::Instant::now();
            let seen = FailureSeen {
                count: failures,
                first: now,
                last: now,
            };
            interval.failures.insert((1, Failure::Status(404)), seen);
        }
        let mut latency = Histogram::new(3).unwrap();
        for &us in latencies_us {
            latency.record(us).unwrap();
        }
        FinishedSecond {
            row: HistoryRow {
                users: 3,
                rps: latencies_us.len() as f64,
                ..HistoryRow::default()
            },
            latency,
            interval,
        }
    }

    #[test]
    fn counters_add_up_and_the_histogram_is_cumulative() {
        let names = vec![
            ("GET".to_string(), "/".to_string()),
            ("GET".to_string(), "/a \"b\"".to_string()),
        ];
        let mut live = LiveMetrics::new("http://127.0.0.1:1", names, None);
        live.add(&second([3, 1], 1, &[4_000, 20_000, 300_000, 2_000_000]));
        live.add(&second([2, 2], 2, &[6_000, 7_000, 8_000, 9_000]));
        let text = live.render();
        assert!(
            text.contains("capplan_requests_total{method=\"GET\",endpoint=\"/\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("endpoint=\"/a \\\"b\\\"\"} 3\n"), "{text}");
        assert!(text.contains(
            "capplan_failures_total{method=\"GET\",endpoint=\"/a \\\"b\\\"\",kind=\"HTTPError\",error=\"404 Not Found\"} 3\n"
        ), "{text}");
        assert!(
            text.contains("capplan_request_duration_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("capplan_request_duration_seconds_bucket{le=\"0.01\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("capplan_request_duration_seconds_bucket{le=\"+Inf\"} 8\n"),
            "{text}"
        );
        assert!(
            text.contains("capplan_request_duration_seconds_count 8\n"),
            "{text}"
        );
        assert!(text.contains("capplan_users 3\n"), "{text}");
        assert!(
            !text.contains("capplan_intended_rps"),
            "closed model: {text}"
        );
        for name in METRIC_NAMES
            .iter()
            .filter(|n| **n != "capplan_intended_rps")
        {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }

    #[test]
    fn the_intended_rate_follows_a_rate_shape() {
        use crate::loadtest::shape::{ShapeKind, Stages};
        let stages: Stages = "2s:100,2s:0".parse().unwrap();
        let shape = stages.shape(ShapeKind::Rate).unwrap();
        let names = vec![
            ("GET".to_string(), "/".to_string()),
            ("GET".to_string(), "/a".to_string()),
        ];
        let mut live =
            LiveMetrics::new("http://127.0.0.1:1", names, Some(50.0)).with_rate_shape(shape);
        let mut at = |elapsed_s: u64| {
            let mut s = second([1, 0], 0, &[1_000]);
            s.row.elapsed_s = elapsed_s;
            live.add(&s);
            live.render()
        };
        assert!(at(1).contains("capplan_intended_rps 50\n"));
        assert!(at(2).contains("capplan_intended_rps 100\n"));
        assert!(at(3).contains("capplan_intended_rps 50\n"));
    }
}
