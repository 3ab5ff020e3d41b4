//! A shard's result directory (`--out-dir`), the writing side of formats/shard_dir.rs:
//! [`ShardLog`] writes `latency.hlog` and `seconds.jsonl` as the run goes (an
//! Observer, like the `--hdr-log` one), [`manifest`] renders `manifest.json` at the end.
use std::io::Write;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriter, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::formats::shard_dir::{
    service_tag, task_tag, CheckLine, ConnectionsLine, FailureLine, GeneratorField, Manifest,
    NegotiatedLine, PacingLine, SecondLine, ShardField, TaskCounts, TaskName, CONNECT_TAG, FORMAT,
    TLS_TAG, VERSION,
};
use crate::loadtest::aggregator::FinishedSecond;
use crate::loadtest::result::RunResult;
use crate::loadtest::run::Observer;
use crate::loadtest::shard::ShardId;

/// Writes the per-second files of a shard directory as the run goes.
pub struct ShardLog<'a, 'b, W: Write, S: Write> {
    parts: Option<(&'a mut W, &'b mut V2DeflateSerializer)>,
    log: Option<IntervalLogWriter<'a, 'b, W, V2DeflateSerializer>>,
    seconds: S,
}

impl<'a, 'b, W: Write, S: Write> ShardLog<'a, 'b, W, S> {
    /// `hlog` receives `latency.hlog`, `seconds` receives `seconds.jsonl`.
    pub fn new(hlog: &'a mut W, serializer: &'b mut V2DeflateSerializer, seconds: S) -> Self {
        ShardLog {
            parts: Some((hlog, serializer)),
            log: None,
            seconds,
        }
    }
}

impl<W: Write, S: Write> Observer for ShardLog<'_, '_, W, S> {
    fn started(&mut self, wall: SystemTime) -> anyhow::Result<()> {
        if let Some((out, serializer)) = self.parts.take() {
            self.log = Some(crate::report::hlog::begin(out, serializer, wall)?);
        }
        Ok(())
    }

    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
        let interval = &second.interval;
        let line = SecondLine {
            elapsed_s: second.row.elapsed_s,
            users: second.row.users,
            intended_users: second.row.intended_users,
            intended_rps: second.row.intended_rps,
            generator_cpu_percent: second.row.generator_cpu_percent,
            pacing: PacingLine {
                sent: interval.pacing.sent,
                late: interval.pacing.late,
                late_connection_busy: interval.pacing.late_connection_busy,
                max_late_us: interval.pacing.max_late_us,
            },
            connections: ConnectionsLine {
                opened: interval.connections.opened,
                resumed: interval.connections.resumed,
                negotiated: interval
                    .connections
                    .negotiated
                    .iter()
                    .map(|(n, connections)| NegotiatedLine {
                        alpn: n.alpn.map(str::to_string),
                        tls_version: n.tls_version.map(str::to_string),
                        connections: *connections,
                    })
                    .collect(),
            },
            tasks: interval
                .endpoints
                .iter()
                .map(|e| TaskCounts {
                    requests: e.requests,
                    failures: e.failures,
                    content_bytes: e.content_bytes,
                })
                .collect(),
        };
        serde_json::to_writer(&mut self.seconds, &line)?;
        self.seconds.write_all(b"\n")?;
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        let offset = Duration::from_secs(second.row.elapsed_s.saturating_sub(1));
        let mut write = |h: &Histogram<u64>, tag: &str| -> anyhow::Result<()> {
            if h.is_empty() {
                return Ok(());
            }
            let tag = Tag::new(tag).ok_or_else(|| anyhow::anyhow!("bad hlog tag {tag}"))?;
            log.write_histogram(h, offset, Duration::from_secs(1), Some(tag))
                .map_err(|e| anyhow::anyhow!("cannot write the shard's latency log: {e:?}"))
        };
        for (k, e) in interval.endpoints.iter().enumerate() {
            write(&e.latency, &task_tag(k))?;
            write(&e.service, &service_tag(k))?;
        }
        write(&interval.connections.connect, CONNECT_TAG)?;
        write(&interval.connections.tls_handshake, TLS_TAG)
    }

    fn finished(&mut self) -> anyhow::Result<()> {
        self.seconds.flush()?;
        Ok(())
    }
}

/// What a shard knows besides its result.
#[derive(Debug, Clone)]
pub struct ShardInfo {
    pub run_id: String,
    pub shard: ShardId,
    /// The shard's part of the load, as planned.
    pub users: Option<u32>,
    pub rate: Option<f64>,
    pub connections: Option<u32>,
    pub started_at: SystemTime,
    pub start_at: Option<SystemTime>,
    pub warmup_s: u64,
    pub threads: usize,
    pub tasks: Vec<(String, String)>,
    pub thresholds: Vec<String>,
    pub fail_on_errors: bool,
    /// Open model: sends due and never sent.
    pub unsent: u64,
    /// The whole run's load shape (the shard follows its part of it).
    pub shape: Option<crate::loadtest::result::ShapeReport>,
}

/// `manifest.json` of a finished shard.
pub fn manifest(info: &ShardInfo, result: &RunResult) -> anyhow::Result<Vec<u8>> {
    let started_at = chrono::DateTime::<chrono::Utc>::from(info.started_at);
    let start_at = info.start_at.map(chrono::DateTime::<chrono::Utc>::from);
    let manifest = Manifest {
        format: FORMAT.to_string(),
        version: VERSION,
        run_id: info.run_id.clone(),
        shard: ShardField {
            index: info.shard.index,
            count: info.shard.count,
        },
        capplan_version: env!("CARGO_PKG_VERSION").to_string(),
        target: result.target.clone(),
        model: result.model.clone(),
        users: info.users,
        rate: info.rate,
        connections: info.connections,
        http: result.protocol.http.clone(),
        started_at,
        start_at,
        late_start_ms: start_at
            .map(|at| (started_at - at).num_microseconds().unwrap_or(0) as f64 / 1e3),
        interval_s: 1,
        warmup_s: info.warmup_s,
        duration_s: result.duration_s,
        interrupted: result.interrupted,
        threads: info.threads,
        tasks: info
            .tasks
            .iter()
            .map(|(method, name)| TaskName {
                method: method.clone(),
                name: name.clone(),
            })
            .collect(),
        thresholds: info.thresholds.clone(),
        fail_on_errors: info.fail_on_errors,
        generator: GeneratorField {
            max_cpu_percent: result.generator.max_cpu_percent,
            saturated_seconds: result.generator.saturated_seconds,
        },
        unsent: info.unsent,
        late_tolerance_ms: result.rate.as_ref().map_or(0.0, |r| r.late_tolerance_ms),
        failures: result
            .errors
            .iter()
            .map(|f| FailureLine {
                method: f.method.clone(),
                name: f.name.clone(),
                kind: f.kind.to_string(),
                error: f.error.clone(),
                occurrences: f.occurrences,
                first_seen: f.first_seen,
                last_seen: f.last_seen,
            })
            .collect(),
        warnings: result.warnings.clone(),
        checks: result
            .checks
            .iter()
            .map(|c| CheckLine {
                method: c.method.clone(),
                name: c.name.clone(),
                kind: c.kind.to_string(),
                what: c.what.clone(),
                passed: c.passed,
                failed: c.failed,
            })
            .collect(),
        shape: info.shape.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&manifest)?;
    bytes.push(b'\n');
    Ok(bytes)
}
