//! Every flag of every command, in one place (clap derive).
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use crate::loadtest::plan::Arrivals;
use crate::loadtest::shape::Stages;
use crate::loadtest::shard::ShardId;
use crate::loadtest::threshold::Threshold;
use crate::simulate::traffic::Interpolate;
use crate::slo::LatencySlo;
use crate::target::ServiceTime;
use crate::units::{parse_duration, parse_fraction};

/// Capacity planning and load testing for web applications.
#[derive(Debug, Parser)]
#[command(name = "capplan", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once; boxing buys nothing
pub enum Command {
    /// Generate traffic against a URL or a scenario and measure latency and throughput.
    Loadtest(LoadtestArgs),
    /// Run the built-in demo app: N sync workers, a bounded backlog, a service-time distribution.
    Target(TargetArgs),
    /// Forecast hourly traffic from history: backtest vs seasonal-naive, peaks, pre-warm schedule.
    Forecast(ForecastArgs),
    /// Replay traffic through an autoscaling policy offline: SLO, cost, scale events, recommendation.
    Simulate(SimulateArgs),
    /// The whole pipeline on built-in defaults: target, capacity, forecast, simulate, recommendation.
    Demo(DemoArgs),
    /// Merge the --out-dir directories of a sharded load test into every report one run writes.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct LoadtestArgs {
    /// URL to request (every request is a GET unless --method says otherwise).
    #[arg(
        long,
        conflicts_with = "scenario",
        required_unless_present = "scenario"
    )]
    pub url: Option<String>,

    /// Scenario file (TOML): host, headers, weighted [[task]]s, [wait_time], on_start.
    #[arg(long, value_name = "FILE.toml")]
    pub scenario: Option<PathBuf>,

    /// HTTP method used with --url (default GET).
    #[arg(long, requires = "url")]
    pub method: Option<String>,

    /// Extra request header, `Name: value` (repeatable); with --scenario it is added to every
    /// request, replacing the scenario's header of that name (curl's -H, not Locust's --host).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Closed model: number of concurrent virtual users (Locust).
    #[arg(long, short = 'u', conflicts_with = "rate")]
    pub users: Option<u32>,

    /// Closed model: users started per second (default: all within one second).
    #[arg(long, short = 'r', requires = "users")]
    pub spawn_rate: Option<f64>,

    /// Open model: requests per second, latency measured from the intended send time (wrk2).
    #[arg(long)]
    pub rate: Option<f64>,

    /// Open model: connections available to keep the rate (default: 100).
    #[arg(long)]
    pub connections: Option<u32>,

    /// Open model: spacing of the intended sends (default uniform).
    #[arg(long, value_enum)]
    pub arrivals: Option<Arrivals>,

    /// Closed model, k6 stages: users ramp linearly from 0 to each target in turn, e.g.
    /// "30s:50,2m:500,30s:0"; the run lasts as long as the stages.
    #[arg(long, value_name = "DURATION:USERS,...")]
    pub stages: Option<Stages>,

    /// Open model, k6 ramping-arrival-rate: the rate ramps linearly from 0 to each target in
    /// turn, e.g. "30s:100,2m:1000,30s:0"; a "0s:100" stage jumps.
    #[arg(long, value_name = "DURATION:RPS,...")]
    pub rate_stages: Option<Stages>,

    /// A load shape file (Locust's LoadTestShape): offset,users[,spawn_rate] or offset,rate rows.
    #[arg(long, value_name = "FILE.csv")]
    pub shape: Option<PathBuf>,

    /// Open model: play a traffic or forecast CSV (timestamp,rps|requests) as the rate.
    #[arg(long, value_name = "TRAFFIC.csv")]
    pub replay: Option<PathBuf>,

    /// With --replay: play N seconds of the file in one second, at the file's rate
    /// (60: each minute in a second, a day in 24 minutes).
    #[arg(long, requires = "replay", value_name = "N")]
    pub speedup: Option<f64>,

    /// With --replay: multiply the file's rate, e.g. 0.02 for 2 % of production.
    #[arg(long, requires = "replay", value_name = "F")]
    pub scale: Option<f64>,

    /// With --replay: fill missing intervals (and empty values) of the file by linear
    /// interpolation instead of failing.
    #[arg(long, requires = "replay")]
    pub fill_gaps: bool,

    /// Seed for random choices (task picks, wait times, Poisson arrivals).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// How long to run, e.g. 30s, 10m (default 10s; a load shape sets its own length).
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Leave the first whole seconds out of the statistics (they still show in the history).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Give up on a request after this long (counted as a timeout failure).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Speak HTTP/2 (negotiated by ALPN over TLS, prior knowledge over plain http).
    #[arg(long)]
    pub http2: bool,

    /// HTTP/2: concurrent streams per connection, like h2load -m (users share connections, N each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000), requires = "http2")]
    pub streams: u32,

    /// Do not verify TLS certificates.
    #[arg(long, short = 'k')]
    pub insecure: bool,

    /// Trust the CA certificates in this PEM file instead of the built-in roots (a private CA).
    #[arg(long, value_name = "FILE.pem")]
    pub cacert: Option<PathBuf>,

    /// Client certificate (PEM chain) for mutual TLS; needs --key.
    #[arg(long, value_name = "FILE.pem", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of --cert.
    #[arg(long, value_name = "FILE.pem", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Connect to ADDR for HOST:PORT, keeping the URL's name for SNI, Host and certificate checks (like curl) (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,

    /// Give up on opening a connection (TCP and TLS handshake) after this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Open a new connection for every request (measures connect and handshake cost, like ab without -k).
    #[arg(long, conflicts_with = "streams")]
    pub new_connection_per_request: bool,

    /// Generator threads (default: the cores this process may use).
    #[arg(long)]
    pub threads: Option<usize>,

    /// Before sleeping, a generator thread whose sleeps are short spins up to this long until an answer comes, so that a fast server need not wake it (default 50us with --users, 0us with --rate; 0us never spins; at most 1ms).
    #[arg(long, value_parser = parse_duration)]
    pub idle_spin: Option<Duration>,

    /// Write Locust-compatible PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv,
    /// PREFIX_exceptions.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<String>,

    /// Write an HdrHistogram V2 interval log (one interval per second; `-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    #[command(flatten)]
    pub report: ReportArgs,

    #[command(flatten)]
    pub shard: ShardArgs,

    /// Fail (exit 1) unless this holds, e.g. "p95<300ms", "error_rate<1%", "rps>200" (repeatable).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<Threshold>,

    /// Fail (exit 1) when any request failed, as Locust does by default.
    #[arg(long, conflicts_with = "find_capacity")]
    pub fail_on_errors: bool,

    /// Write the verdicts as JUnit XML for CI (a test case per threshold; `-` for stdout).
    #[arg(long, value_name = "FILE.xml", conflicts_with = "find_capacity")]
    pub junit: Option<PathBuf>,

    /// Serve live metrics for Prometheus at http://ADDR/metrics while the run lasts.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "find_capacity")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Keep serving the final metrics this long after the run, for the last scrape.
    #[arg(long, default_value = "0s", value_parser = parse_duration, requires = "metrics_listen")]
    pub metrics_linger: Duration,

    /// Find the highest open-model rate that holds --slo: coarse steps, then bisection.
    #[arg(long, conflicts_with_all = ["users", "rate", "stages", "rate_stages", "shape", "replay", "connections", "arrivals", "thresholds", "html", "plot"])]
    pub find_capacity: bool,

    /// Capacity search: the latency objective each step must hold.
    #[arg(long, default_value = "p95<200ms", requires = "find_capacity")]
    pub slo: LatencySlo,

    /// Capacity search: largest acceptable error rate per step, e.g. 1% or 0.01.
    #[arg(long, default_value = "1%", value_parser = parse_fraction, requires = "find_capacity")]
    pub max_error_rate: f64,

    /// Capacity search: workers of the measured target (for rps per worker in the profile).
    #[arg(long, default_value_t = 1, requires = "find_capacity", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub workers_measured: u32,

    /// Capacity search: how long each step is held (its first second is a warm-up).
    #[arg(long, default_value = "6s", value_parser = parse_duration, requires = "find_capacity")]
    pub step_duration: Duration,

    /// Capacity search: first rate tried (default: half of workers / low-load service time).
    #[arg(long, requires = "find_capacity")]
    pub start_rate: Option<f64>,

    /// Capacity search: never offer more than this rate.
    #[arg(long, default_value_t = 100_000.0, requires = "find_capacity")]
    pub max_rate: f64,

    /// Capacity search: write the capacity profile (JSON) here.
    #[arg(long, value_name = "FILE", requires = "find_capacity")]
    pub profile_out: Option<PathBuf>,
}

/// Distributed runs: which shard this process is, when the shards start, where the
/// shard's results go (docs/loadtest.md, "Distributed runs").
#[derive(Debug, Clone, Default, Args)]
pub struct ShardArgs {
    /// Run shard I of N (0-based): users, spawn rate, open-model rate and connections divided so
    /// that N shards together offer what one process would.
    #[arg(long, value_name = "I/N", conflicts_with_all = ["shard_from_env", "find_capacity"])]
    pub shard: Option<ShardId>,

    /// Run shard $JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job) of COUNT.
    #[arg(long, value_name = "COUNT", conflicts_with = "find_capacity")]
    pub shard_from_env: Option<u32>,

    /// Start the traffic at this time (RFC 3339, e.g. 2026-05-01T12:00:00Z), so all shards
    /// start on the same second; a late start is reported.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at, conflicts_with = "find_capacity")]
    pub start_at: Option<std::time::SystemTime>,

    /// Write the shard's results (histogram logs, counts, failures, settings) to this new
    /// directory, for `capplan merge` (also without --shard: a run of one shard).
    #[arg(long, value_name = "DIR", conflicts_with = "find_capacity")]
    pub out_dir: Option<PathBuf>,

    /// The run's id, the same in every shard (default: derived from --start-at and the shard
    /// count; needed with --shard when --start-at is not given).
    #[arg(long, value_name = "ID", requires = "out_dir")]
    pub run_id: Option<String>,
}

fn parse_start_at(text: &str) -> Result<std::time::SystemTime, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(std::time::SystemTime::from)
        .map_err(|e| format!("'{text}' is not an RFC 3339 time like 2026-05-01T12:00:00Z: {e}"))
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The --out-dir of every shard of one run.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,

    /// Write Locust-compatible PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv,
    /// PREFIX_exceptions.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<String>,

    /// Write the merged HdrHistogram V2 interval log (one interval per second; `-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    #[command(flatten)]
    pub report: ReportArgs,

    /// A threshold judged on the merged result besides those the shards were given (repeatable).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<Threshold>,

    /// Fail (exit 1) when any request failed (also when a shard was given it).
    #[arg(long)]
    pub fail_on_errors: bool,

    /// Write the verdicts as JUnit XML for CI, as loadtest --junit does (`-` for stdout).
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on; 0 picks a free port (printed on stdout).
    #[arg(long, short = 'p', default_value_t = 8080)]
    pub port: u16,

    /// Requests served at once, like Gunicorn sync workers (1 to 10000).
    #[arg(long, short = 'w', default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub workers: u32,

    /// Requests allowed to wait for a worker; beyond that they get 503 at once (a full listen queue; at most 1000000).
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub backlog: u32,

    /// Service time of one request: `20ms` (constant), `exp:20ms`, `lognormal:20ms` or `lognormal:20ms:0.5` (sigma).
    #[arg(long, default_value = "20ms")]
    pub service_time: ServiceTime,

    /// Fraction of requests answered with 500 after their service time, e.g. 0.01 or 1%.
    #[arg(long, default_value = "0", value_parser = parse_fraction)]
    pub error_rate: f64,

    /// Seed for service times and errors.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Close a connection whose request head is not complete this long after it began (nginx client_header_timeout; 100ms to 1h).
    #[arg(long, default_value = "10s", value_parser = parse_connection_timeout)]
    pub header_timeout: Duration,

    /// Close a keep-alive connection with no request for this long (nginx keepalive_timeout; 100ms to 1h).
    #[arg(long, default_value = "75s", value_parser = parse_connection_timeout)]
    pub idle_timeout: Duration,
}

/// A target connection timeout: long enough not to cut real clients, short
/// enough to matter.
fn parse_connection_timeout(text: &str) -> Result<Duration, String> {
    let value = parse_duration(text)?;
    if value < Duration::from_millis(100) || value > Duration::from_secs(3600) {
        return Err(format!("must be between 100ms and 1h, got {text}"));
    }
    Ok(value)
}

#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// Traffic history: CSV `timestamp,requests` (alias `value`) or `timestamp,rps`, Grafana's CSV export, Prometheus query_range or CloudWatch get-metric-data JSON, or a Locust `_stats_history.csv` (recognised by content).
    #[arg(
        long,
        value_name = "FILE.csv",
        required_unless_present = "prometheus",
        conflicts_with = "prometheus"
    )]
    pub history: Option<PathBuf>,

    #[command(flatten)]
    pub prometheus: PrometheusArgs,

    /// Time zone of the model's calendar as a fixed offset (`UTC`, `+01:00`, `-05:00`); naive stamps are read in it.
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true)]
    pub tz: Option<String>,

    /// Interpolate every gap, outages too (by default gaps up to 3 h are interpolated and longer ones masked out of the fit), reported.
    #[arg(long)]
    pub fill_gaps: bool,

    /// Extra holidays: CSV of `date[,name]` or `first..last[,name]` (YYYY-MM-DD), added to the US federal calendar.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "no_holidays")]
    pub holidays: Option<PathBuf>,

    /// Model no holidays at all (neither the US federal calendar nor --holidays).
    #[arg(long)]
    pub no_holidays: bool,

    /// Fit log(1 + rps): for traffic whose daily swing scales with its level.
    #[arg(long)]
    pub multiplicative: bool,

    /// How far ahead to forecast, whole hours (e.g. 48h, 7d).
    #[arg(long, default_value = "48h", value_parser = parse_duration)]
    pub horizon: Duration,

    /// Coverage of the forecast interval, e.g. 0.9 or 90%.
    #[arg(long, default_value = "0.9", value_parser = parse_fraction)]
    pub interval: f64,

    /// Hold out the last whole weeks of history for the backtest (e.g. 2w).
    #[arg(long, default_value = "2w", value_parser = parse_duration)]
    pub backtest: Duration,

    /// Sustainable rps of one instance: enables the pre-warm schedule.
    #[arg(long, value_name = "RPS", conflicts_with = "capacity")]
    pub rps_per_instance: Option<f64>,

    /// Capacity profile (JSON from `loadtest --find-capacity`): rps per instance = sustainable_rps.
    #[arg(long, value_name = "profile.json")]
    pub capacity: Option<PathBuf>,

    /// Pre-warm lead: capacity is in place this long before each rise.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub lead: Duration,

    /// Write the forecast CSV `timestamp,rps,lower,upper` (itself a valid traffic CSV; `-` for stdout).
    #[arg(long, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub schedule: ScheduleArgs,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// History from a Prometheus server instead of a file (credentials from the
/// environment: CAPPLAN_PROMETHEUS_TOKEN, or CAPPLAN_PROMETHEUS_USER and _PASSWORD).
#[derive(Debug, Clone, Default, Args)]
pub struct PrometheusArgs {
    /// Read the history from this Prometheus server's HTTP API (query_range).
    #[arg(long, value_name = "URL", requires = "query")]
    pub prometheus: Option<String>,

    /// The PromQL query of the request rate, e.g. 'sum(rate(http_requests_total[5m]))'.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,

    /// How much history to read (default: 35d for forecast, 7d for simulate).
    #[arg(long, value_parser = parse_duration, requires = "prometheus")]
    pub since: Option<Duration>,

    /// The end of the history, RFC 3339 (default: now).
    #[arg(long, value_name = "TIME", requires = "prometheus")]
    pub until: Option<String>,

    /// Add up the series a query returns instead of refusing them.
    #[arg(long, requires = "prometheus")]
    pub sum_series: bool,

    /// A private CA (PEM) for an HTTPS Prometheus.
    #[arg(long, value_name = "FILE.pem", requires = "prometheus")]
    pub cacert: Option<PathBuf>,
}

/// Where the pre-warm schedule acts: `forecast --schedule-format ... --schedule-out FILE`.
#[derive(Debug, Clone, Default, Args)]
pub struct ScheduleArgs {
    /// Write the pre-warm schedule for this autoscaler (needs --rps-per-instance or --capacity).
    #[arg(long, value_enum, requires = "schedule_out")]
    pub schedule_format: Option<ScheduleFormat>,

    /// Where to write it (`-` for stdout).
    #[arg(long, value_name = "FILE", requires = "schedule_format")]
    pub schedule_out: Option<PathBuf>,

    /// aws: the Auto Scaling group's name.
    #[arg(long, value_name = "NAME")]
    pub asg_name: Option<String>,

    /// keda: the Deployment KEDA scales; k8s-cronjob: the HorizontalPodAutoscaler to patch.
    #[arg(long, value_name = "NAME")]
    pub k8s_target: Option<String>,

    /// keda and k8s-cronjob: the namespace.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub namespace: String,
}

/// The autoscalers a pre-warm schedule can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleFormat {
    /// JSON requests for `aws autoscaling batch-put-scheduled-update-group-action`.
    Aws,
    /// A KEDA ScaledObject with cron triggers.
    Keda,
    /// Kubernetes CronJobs that patch an HPA's minReplicas (with their RBAC).
    K8sCronjob,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Traffic CSV: `timestamp,rps` or `timestamp,requests` (alias `value`; a forecast CSV works too), any regular interval, naive stamps in UTC.
    #[arg(
        long,
        value_name = "FILE.csv",
        required_unless_present = "prometheus",
        conflicts_with = "prometheus"
    )]
    pub traffic: Option<PathBuf>,

    #[command(flatten)]
    pub prometheus: PrometheusArgs,

    /// Policy: capplan's TOML (every key optional), an AWS bundle (JSON: describe-policies,
    /// describe-auto-scaling-groups, describe-alarms) or a Kubernetes HPA (autoscaling/v2
    /// YAML), told apart by content; see docs/simulate.md. Default: all defaults.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,

    /// Sustainable rps of one worker at the SLO (the utilization denominator).
    #[arg(long, value_name = "RPS")]
    pub rps_per_worker: Option<f64>,

    /// Mean service time of one request (the queueing model's 1/mu), e.g. 20ms.
    #[arg(long, value_parser = parse_duration)]
    pub service_time: Option<Duration>,

    /// Capacity profile JSON written by `loadtest --find-capacity` (flags above override it).
    #[arg(long, value_name = "PROFILE.json")]
    pub capacity: Option<PathBuf>,

    /// Simulation step, e.g. 1m or 10s.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub step: Duration,

    /// How to fill steps between input rows.
    #[arg(long, value_enum, default_value_t = Interpolate::Hold)]
    pub interpolate: Interpolate,

    /// Fill missing intervals (and empty values) of the traffic and forecast CSVs by linear interpolation instead of failing.
    #[arg(long)]
    pub fill_gaps: bool,

    /// Forecast CSV (`timestamp,rps,lower,upper`): pre-warm for its upper bound.
    #[arg(long, value_name = "FILE.csv")]
    pub forecast: Option<PathBuf>,

    /// p95 objective, overrides the policy's [slo] p95_ms, e.g. 300ms.
    #[arg(long, value_parser = parse_duration)]
    pub slo_p95: Option<Duration>,

    /// Price of one instance-hour (for the cost line).
    #[arg(long, value_name = "PRICE")]
    pub instance_cost: Option<f64>,

    /// Write the per-step timeline CSV (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,

    /// Write one CSV row per scaling decision with its reason code (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,

    #[command(flatten)]
    pub report: ReportArgs,

    /// Search min/max instances, workers, thresholds, step, cooldown, window and removal percent
    /// for the cheapest policy within the SLO's error budget.
    #[arg(long)]
    pub recommend: bool,

    /// CPU cores per instance: --recommend tries 2 to 4 workers per core (Gunicorn's rule).
    #[arg(long, default_value_t = 2)]
    pub cores: u32,

    /// Let --recommend choose min_instances = 1 (no redundancy; by default at least 2).
    #[arg(long)]
    pub allow_single_instance: bool,

    /// Longest stretch of extreme demand (above 1.5 x the 99th percentile) --recommend reports
    /// as an incident instead of planning for, e.g. 30m; 0s plans for every spike.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub incident_max: Duration,

    /// What-if: share of all requests the CDN serves at the edge, 0..1 or a percent (0.3, 30%).
    #[arg(long, value_name = "F", default_value = "0", value_parser = parse_fraction, allow_hyphen_values = true)]
    pub cdn_offload: f64,

    /// What-if: share of the requests reaching the app answered by its cache (no worker time), 0..1 or a percent.
    #[arg(long, value_name = "F", default_value = "0", value_parser = parse_fraction, allow_hyphen_values = true)]
    pub cache_hit: f64,

    /// What-if: connections the database accepts; no fleet may hold more (CAPPED_DB_CONNECTIONS).
    #[arg(
        long,
        value_name = "M",
        requires = "pool_per_worker",
        allow_hyphen_values = true
    )]
    pub db_max_connections: Option<u32>,

    /// What-if: connections in each worker's pool (with --db-max-connections).
    #[arg(
        long,
        value_name = "P",
        requires = "db_max_connections",
        allow_hyphen_values = true
    )]
    pub pool_per_worker: Option<u32>,

    /// Exit 1 when the SLO is missed or requests are dropped, printing why.
    #[arg(long)]
    pub fail_on_breach: bool,

    /// Write the verdict as JUnit XML for CI (the SLO's checks and each breach window; `-` for stdout).
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
}

/// The report flags every analysing command shares (loadtest, forecast, simulate).
#[derive(Debug, Clone, Default, Args)]
pub struct ReportArgs {
    /// Write the JSON summary to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report (every chart and table of the run); it needs no network to view.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,

    /// Write the main chart as FILE.svg or FILE.png (chosen by the extension).
    #[arg(long, value_name = "FILE.svg|FILE.png", value_parser = parse_plot_path)]
    pub plot: Option<PathBuf>,

    /// Print no progress bar and no tables: only warnings, errors and verdicts (on stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `--plot`'s format is its extension: checked when the flags are parsed, before any work.
fn parse_plot_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    crate::report::html::plot::PlotFormat::from_path(&path)
        .map(|_| path)
        .map_err(|_| "the file name must end in .svg or .png".to_string())
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep every file the demo writes (profile, forecast, simulations) in this folder.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Write one self-contained HTML report of the load test, the forecast and the simulation.
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
