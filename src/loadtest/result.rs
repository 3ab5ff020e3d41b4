//! The result of a load test: what the JSON summary holds and every renderer reads.
use serde::Serialize;

use crate::loadtest::aggregator::{EndpointSummary, FailureRow, HistoryRow, LatencySummary};
use crate::loadtest::client::HttpVersion;
use crate::loadtest::recorder::ConnectionStats;
use crate::loadtest::shape::{Shape, ShapeKind};
use crate::loadtest::threshold::{Statistic, Threshold};

/// Open-model pacing: did the generator keep the rate?
#[derive(Debug, Clone, Serialize)]
pub struct RateReport {
    /// Requested arrival rate, requests/s (a rate shape: its mean over the run).
    pub intended_rps: f64,
    /// Requests completed per second.
    pub achieved_rps: f64,
    /// Connections available.
    pub connections: u32,
    /// Sends that left more than `late_tolerance_ms` after their intended time.
    pub late_sends: u64,
    /// Sends that fell due before the end but never left.
    pub unsent: u64,
    /// Largest lateness of a send, ms.
    pub max_late_ms: f64,
    /// Tolerance for "on time", ms.
    pub late_tolerance_ms: f64,
}

/// The load shape a run followed (`--stages`, `--rate-stages`, `--shape`, `--replay`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeReport {
    /// `users` (closed model) or `rate` (open model, requests/s).
    pub kind: String,
    /// Length of the shape, hence of the run, s.
    pub duration_s: f64,
    /// Highest users or rate (requests/s).
    pub peak: f64,
    /// Open model: requests the shape intends in all (its integral).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intended_requests: Option<f64>,
    /// The points the shape runs through, [seconds, users or requests/s]: straight
    /// between them, a jump where two share a time.
    pub points: Vec<[f64; 2]>,
}

impl ShapeReport {
    pub fn of(shape: &Shape) -> ShapeReport {
        let rate = shape.kind() == ShapeKind::Rate;
        ShapeReport {
            kind: if rate { "rate" } else { "users" }.to_string(),
            duration_s: shape.duration(),
            peak: shape.peak(),
            intended_requests: rate.then(|| shape.total()),
            points: shape.points().iter().map(|&(t, v)| [t, v]).collect(),
        }
    }
}

/// How busy the generator itself was.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorReport {
    /// Generator threads.
    pub threads: usize,
    /// Highest CPU use in any second, % of the threads' capacity.
    pub max_cpu_percent: f64,
    /// Seconds in which the generator's CPU was saturated.
    pub saturated_seconds: u64,
}

/// What the run's connections spoke and what opening them cost.
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolReport {
    /// HTTP version spoken: `HTTP/1.1` or `HTTP/2`.
    pub http: String,
    /// Protocol the server chose by ALPN (TLS only), on most connections.
    pub alpn: Option<String>,
    /// TLS version (`TLSv1.3`, `TLSv1.2`) on most connections; none over plain TCP.
    pub tls_version: Option<String>,
    /// Connections opened during the run (warm-up included).
    pub connections_opened: u64,
    /// TLS sessions resumed among them (abbreviated handshakes).
    pub tls_resumed: u64,
    /// TCP connect time, ms (none when no connection was opened).
    pub connect_ms: Option<LatencySummary>,
    /// TLS handshake time after the connect, ms (TLS only).
    pub tls_handshake_ms: Option<LatencySummary>,
    /// Connections by what they negotiated: more than one entry when servers differ.
    pub negotiated: Vec<NegotiatedCount>,
}

/// Connections that negotiated the same protocol and TLS version.
#[derive(Debug, Clone, Serialize)]
pub struct NegotiatedCount {
    /// ALPN protocol, if any.
    pub alpn: Option<String>,
    /// TLS version, if any.
    pub tls_version: Option<String>,
    /// Connections.
    pub connections: u64,
}

impl ProtocolReport {
    pub fn new(version: HttpVersion, stats: &ConnectionStats) -> ProtocolReport {
        let mut negotiated: Vec<NegotiatedCount> = stats
            .negotiated
            .iter()
            .map(|(n, connections)| NegotiatedCount {
                alpn: n.alpn.map(str::to_string),
                tls_version: n.tls_version.map(str::to_string),
                connections: *connections,
            })
            .collect();
        negotiated.sort_by_key(|n| std::cmp::Reverse(n.connections));
        let most = negotiated.first();
        let summary = |h: &hdrhistogram::Histogram<u64>| {
            (!h.is_empty()).then(|| LatencySummary::from_histogram(h))
        };
        ProtocolReport {
            http: version.name().to_string(),
            alpn: most.and_then(|n| n.alpn.clone()),
            tls_version: most.and_then(|n| n.tls_version.clone()),
            connections_opened: stats.opened,
            tls_resumed: stats.resumed,
            connect_ms: summary(&stats.connect),
            tls_handshake_ms: summary(&stats.tls_handshake),
            negotiated,
        }
    }
}

/// The verdict on one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdResult {
    /// The expression as given, e.g. `p95<300ms`.
    pub expr: String,
    /// The measured value (ms for latencies, a fraction for error_rate, rps for rps).
    pub value: f64,
    /// Whether it held.
    pub passed: bool,
}

/// How often one request's checks (its `expect`) or one of its captures held.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckSummary {
    /// HTTP method of the request.
    pub method: String,
    /// Request name.
    pub name: String,
    /// `check` (the request's `expect`) or `capture`.
    pub kind: &'static str,
    /// What is checked or captured, e.g. `status 200, $.id exists` or
    /// `token: $.token in the JSON body`.
    pub what: String,
    /// Responses the checks held for, or a value was captured from.
    pub passed: u64,
    /// Responses a check failed on, or the capture found nothing in.
    pub failed: u64,
}

/// Version of the `--json` document (schema/loadtest.schema.json); bump on a breaking change.
pub const JSON_VERSION: u32 = 1;

/// Everything a load test measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// Base URL of the target.
    pub target: String,
    /// Start of the run, RFC 3339.
    pub started_at: String,
    /// `closed` (users) or `open` (arrival rate).
    pub model: String,
    /// Closed model: users (a users shape: its peak).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// The load shape the run followed, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeReport>,
    /// Measured duration, s.
    pub duration_s: f64,
    /// True when Ctrl-C ended the run early.
    pub interrupted: bool,
    /// Requests completed.
    pub requests: u64,
    /// Failed requests.
    pub failures: u64,
    /// failures / requests.
    pub error_rate: f64,
    /// Requests per second over the run.
    pub rps: f64,
    /// Latency of all requests, ms (open model: from the intended send time).
    pub latency_ms: LatencySummary,
    /// Open model: service time from the actual send, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_time_ms: Option<LatencySummary>,
    /// Open model: fraction of the intended sends made on time (1.0 = the rate was kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_achieved: Option<f64>,
    /// Open model pacing details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateReport>,
    /// The generator's own load.
    pub generator: GeneratorReport,
    /// What was spoken: HTTP version, ALPN, TLS version, connections and their cost.
    pub protocol: ProtocolReport,
    /// Warnings the reader must see (generator saturated, rate not kept).
    pub warnings: Vec<String>,
    /// Per endpoint.
    pub tasks: Vec<EndpointSummary>,
    /// All endpoints together (Locust's "Aggregated" row).
    #[serde(skip)]
    pub aggregate: EndpointSummary,
    /// Failures grouped by endpoint and kind.
    pub errors: Vec<FailureRow>,
    /// The scenario's checks and captures, with how often they held (the whole run,
    /// warm-up included); empty without any.
    pub checks: Vec<CheckSummary>,
    /// Threshold verdicts.
    pub thresholds: Vec<ThresholdResult>,
    /// One row per second.
    pub history: Vec<HistoryRow>,
}

impl RunResult {
    /// Measure each threshold against the run.
    pub fn evaluate(&self, thresholds: &[Threshold]) -> Vec<ThresholdResult> {
        thresholds
            .iter()
            .map(|t| {
                let value = match t.metric {
                    Statistic::Percentile(p) => {
                        crate::loadtest::aggregator::LatencySummary::percentile(
                            &self.aggregate.histogram,
                            p,
                        )
                    }
                    Statistic::Mean => self.latency_ms.mean,
                    Statistic::Max => self.latency_ms.max,
                    Statistic::ErrorRate => self.error_rate,
                    Statistic::Rps => self.rps,
                };
                ThresholdResult {
                    expr: t.expr.clone(),
                    value,
                    passed: self.requests > 0 && t.holds(value),
                }
            })
            .collect()
    }
}
