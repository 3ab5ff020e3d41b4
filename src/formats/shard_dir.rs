//! A shard's result directory (`loadtest --out-dir DIR`), what `capplan merge` reads:
//! - `manifest.json`: versioned (schema/shard-manifest.schema.json): run id, shard id,
//!   the run's settings, thresholds requested, failures by kind, warnings;
//! - `latency.hlog`: an HdrHistogram V2 interval log, one interval a second per tag:
//!   `task-K` (latency of task K, µs), `service-K` (open model: service time),
//!   `connect` and `tls-handshake` (connections opened in that second);
//! - `seconds.jsonl`: one JSON line a second: users, generator CPU, pacing, counts per task.
//!
//! The writer is report/shard_dir.rs; this is the one reader.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::formats::located::Source;

/// `format` of the manifest.
pub const FORMAT: &str = "capplan-shard";
/// `version` of the manifest; bump on a breaking change of any file of the directory.
pub const VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const LATENCY_LOG: &str = "latency.hlog";
pub const SECONDS: &str = "seconds.jsonl";

/// The log's tag of task `k`'s latency intervals.
pub fn task_tag(k: usize) -> String {
    format!("task-{k}")
}

/// The log's tag of task `k`'s service-time intervals (open model).
pub fn service_tag(k: usize) -> String {
    format!("service-{k}")
}

/// The log's tags of the connections' connect and TLS handshake times.
pub const CONNECT_TAG: &str = "connect";
pub const TLS_TAG: &str = "tls-handshake";

/// Which shard of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardField {
    pub index: u32,
    pub count: u32,
}

/// A stats slot: method and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskName {
    pub method: String,
    pub name: String,
}

/// Failures of one endpoint and kind over the shard's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureLine {
    pub method: String,
    pub name: String,
    /// The kind alone (`HTTPError`, `CheckFailed`...), one of `client::Failure::KINDS`.
    pub kind: String,
    pub error: String,
    pub occurrences: u64,
    pub first_seen: chrono::DateTime<chrono::Utc>,
    pub last_seen: chrono::DateTime<chrono::Utc>,
}

/// How often one request's checks or one of its captures held in this shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckLine {
    pub method: String,
    pub name: String,
    /// `check` (the request's `expect`) or `capture`.
    pub kind: String,
    pub what: String,
    pub passed: u64,
    pub failed: u64,
}

/// The generator's own load in this shard.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorField {
    pub max_cpu_percent: f64,
    pub saturated_seconds: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The same in every shard of one run.
    pub run_id: String,
    pub shard: ShardField,
    /// The capplan that wrote it.
    pub capplan_version: String,
    /// Base URL of the target.
    pub target: String,
    /// `closed` or `open`.
    pub model: String,
    /// Closed model: this shard's users.
    pub users: Option<u32>,
    /// Open model: this shard's rate, requests/s.
    pub rate: Option<f64>,
    /// Open model: this shard's connections.
    pub connections: Option<u32>,
    /// HTTP version spoken.
    pub http: String,
    /// When this shard's first second began, RFC 3339 with microseconds.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// `--start-at`, when given.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How long after `start_at` the shard started, ms.
    pub late_start_ms: Option<f64>,
    /// Length of one interval of the logs, s (always 1).
    pub interval_s: u32,
    /// Leading seconds kept out of the totals.
    pub warmup_s: u64,
    /// Measured duration after the warm-up, s.
    pub duration_s: f64,
    /// A signal ended the shard early.
    pub interrupted: bool,
    /// Generator threads.
    pub threads: usize,
    /// Stats slots, in the order of the logs' `task-K` tags.
    pub tasks: Vec<TaskName>,
    /// `--threshold` expressions given to the shard.
    pub thresholds: Vec<String>,
    /// `--fail-on-errors` given to the shard.
    pub fail_on_errors: bool,
    pub generator: GeneratorField,
    /// Open model: sends due but never sent (already counted in `failures`).
    pub unsent: u64,
    /// Open model: tolerance for an on-time send, ms.
    pub late_tolerance_ms: f64,
    /// Failures by endpoint and kind.
    pub failures: Vec<FailureLine>,
    /// The scenario's checks and captures with how often they held.
    pub checks: Vec<CheckLine>,
    /// Warnings of the shard's own report.
    pub warnings: Vec<String>,
    /// The load shape of the whole run (every shard records the same), absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<crate::loadtest::result::ShapeReport>,
}

/// Open-model pacing in one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacingLine {
    pub sent: u64,
    pub late: u64,
    pub late_connection_busy: u64,
    pub max_late_us: u64,
}

/// Connections that negotiated the same thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiatedLine {
    pub alpn: Option<String>,
    pub tls_version: Option<String>,
    pub connections: u64,
}

/// Connections opened in one second (their times are the `connect` and
/// `tls-handshake` intervals of the log).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsLine {
    pub opened: u64,
    pub resumed: u64,
    pub negotiated: Vec<NegotiatedLine>,
}

/// One task's counts in one second (its latency is the `task-K` interval of the log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskCounts {
    pub requests: u64,
    pub failures: u64,
    pub content_bytes: u64,
}

/// One line of `seconds.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecondLine {
    /// Second N (1-based) covers [N-1, N) since `started_at`.
    pub elapsed_s: u64,
    pub users: u32,
    /// The shard's intended users at the end of the second (closed model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_users: Option<u32>,
    /// The shard's intended sends in the second (open model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_rps: Option<f64>,
    pub generator_cpu_percent: f64,
    pub pacing: PacingLine,
    pub connections: ConnectionsLine,
    pub tasks: Vec<TaskCounts>,
}

/// One second of a shard: its line and its histograms by tag, still compressed (a
/// decoded histogram is ~140 KB; a second's compressed one, a few hundred bytes).
#[derive(Debug, Clone)]
pub struct Second {
    pub line: SecondLine,
    pub histograms: BTreeMap<String, Vec<u8>>,
}

/// A histogram of a [`Second`], checked readable when the directory was read.
pub fn decode(bytes: &[u8]) -> Histogram<u64> {
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("checked when the shard directory was read")
}

/// A shard's directory, read and checked.
#[derive(Debug, Clone)]
pub struct ShardDir {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// In order of `elapsed_s`.
    pub seconds: Vec<Second>,
}

/// Most shards of one run: far more generators than any team runs, so a typo.
pub const MAX_SHARDS: u32 = 10_000;
/// Most tasks (stats slots) a shard may have: each costs two histograms a second
/// in the merge (~280 KB), and no scenario comes near.
pub const MAX_TASKS: usize = 1_000;

/// Read a shard directory; every problem names the file, line and field.
/// `highest_us`: the largest value capplan's histograms hold (a log with larger
/// values was not written by capplan and could not be added).
pub fn read(dir: &Path, highest_us: u64) -> Result<ShardDir, InputError> {
    if !dir.is_dir() {
        return Err(InputError::file(
            dir,
            "is not a directory: give the --out-dir of each shard",
        ));
    }
    let manifest = read_text(&dir.join(MANIFEST), dir)?;
    let seconds = read_text(&dir.join(SECONDS), dir)?;
    let log = read_text(&dir.join(LATENCY_LOG), dir)?;
    parse(
        dir,
        Texts {
            manifest: &manifest,
            seconds: &seconds,
            log: &log,
        },
        highest_us,
    )
}

/// The three files of a shard directory, read.
#[derive(Debug, Clone, Copy)]
pub struct Texts<'a> {
    pub manifest: &'a str,
    pub seconds: &'a str,
    pub log: &'a str,
}

/// Parse and check the files of the shard directory `dir` (only named in errors).
pub fn parse(dir: &Path, texts: Texts<'_>, highest_us: u64) -> Result<ShardDir, InputError> {
    let manifest_path = dir.join(MANIFEST);
    let text = texts.manifest;
    let source = Source::new(&manifest_path, text);
    let manifest: Manifest = source.json("manifest")?;
    let bad = |key: &str, message: String| {
        source.at_line(line_of(text, &format!("\"{key}\"")), key, message)
    };
    if manifest.format != FORMAT {
        return Err(bad(
            "format",
            format!("expected \"{FORMAT}\", got \"{}\"", manifest.format),
        ));
    }
    if manifest.version != VERSION {
        return Err(bad(
            "version",
            format!(
                "version {} is not the version {VERSION} this capplan reads: merge with the \
                 capplan that wrote the shards",
                manifest.version
            ),
        ));
    }
    if manifest.interval_s != 1 {
        return Err(bad(
            "interval_s",
            format!("expected intervals of 1 s, got {}", manifest.interval_s),
        ));
    }
    if let Some(line) = manifest
        .failures
        .iter()
        .find(|f| crate::loadtest::client::Failure::known_kind(&f.kind).is_none())
    {
        return Err(bad(
            "kind",
            format!(
                "\"{}\" is not a failure kind capplan writes (expected one of {})",
                line.kind,
                crate::loadtest::client::Failure::KINDS.join(", ")
            ),
        ));
    }
    if let Some(line) = manifest
        .checks
        .iter()
        .find(|c| c.kind != "check" && c.kind != "capture")
    {
        return Err(bad(
            "checks",
            format!(
                "a check's kind is \"check\" or \"capture\", not \"{}\"",
                line.kind
            ),
        ));
    }
    let shard = manifest.shard;
    if !(1..=MAX_SHARDS).contains(&shard.count) || shard.index >= shard.count {
        return Err(bad(
            "shard",
            format!(
                "shard {}/{} is not a shard: the index counts from 0 and stays below the \
                 count, at most {MAX_SHARDS}",
                shard.index, shard.count
            ),
        ));
    }
    if manifest.tasks.is_empty() || manifest.tasks.len() > MAX_TASKS {
        return Err(bad(
            "tasks",
            format!(
                "expected 1 to {MAX_TASKS} tasks, got {}",
                manifest.tasks.len()
            ),
        ));
    }
    let numbers = [
        ("duration_s", manifest.duration_s),
        ("rate", manifest.rate.unwrap_or(0.0)),
        ("late_tolerance_ms", manifest.late_tolerance_ms),
        ("max_cpu_percent", manifest.generator.max_cpu_percent),
    ];
    if let Some((key, value)) = numbers.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
        return Err(bad(
            key,
            format!("expected a finite number at least 0, got {value}"),
        ));
    }
    let seconds_path = dir.join(SECONDS);
    let lines = read_seconds(&seconds_path, texts.seconds, manifest.tasks.len())?;
    let log_path = dir.join(LATENCY_LOG);
    let mut histograms = read_log(&log_path, texts.log, &lines, highest_us)?;
    let seconds = lines
        .into_iter()
        .map(|(_, line)| Second {
            histograms: histograms.remove(&line.elapsed_s).unwrap_or_default(),
            line,
        })
        .collect();
    Ok(ShardDir {
        dir: dir.to_path_buf(),
        manifest,
        seconds,
    })
}

fn read_text(path: &Path, dir: &Path) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|e| {
        InputError::file(
            path,
            format!(
                "cannot read it ({e}): {} is not a complete shard directory",
                dir.display()
            ),
        )
    })
}

/// 1-based line of the first occurrence of `needle` (a manifest key), or 1.
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(1, |at| text[..at].matches('\n').count() + 1)
}

/// The lines of `seconds.jsonl` with their line numbers: seconds 1, 2, 3...
fn read_seconds(
    path: &Path,
    text: &str,
    tasks: usize,
) -> Result<Vec<(usize, SecondLine)>, InputError> {
    let source = Source::new(path, text);
    let mut lines: Vec<(usize, SecondLine)> = Vec::new();
    for (at, raw) in text.lines().enumerate() {
        let number = at + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let line: SecondLine = Source::new(path, raw)
            .json("second")
            .map_err(|e| relocate(e, &source, number))?;
        if line.tasks.len() != tasks {
            return Err(source.at_line(
                number,
                "tasks",
                format!(
                    "expected counts of {tasks} tasks (the manifest's), got {}",
                    line.tasks.len()
                ),
            ));
        }
        // A run's seconds follow each other from 1, in every thread and shard.
        let expected = lines.len() as u64 + 1;
        if line.elapsed_s != expected {
            return Err(source.at_line(
                number,
                "elapsed_s",
                format!(
                    "expected second {expected} (the seconds follow each other from 1), got {}",
                    line.elapsed_s
                ),
            ));
        }
        lines.push((number, line));
    }
    Ok(lines)
}

/// An error placed in one line read alone, moved to that line of the whole file.
fn relocate(err: InputError, source: &Source<'_>, line: usize) -> InputError {
    match err {
        InputError::AtLine { field, message, .. } => {
            let message = message.split("\n  | ").next().unwrap_or("").to_string();
            source.at_line(line, field, message)
        }
        other => other,
    }
}

/// The log's intervals by second and tag; every interval must belong to a second of
/// `seconds.jsonl`, and tags must be known.
fn read_log(
    path: &Path,
    text: &str,
    seconds: &[(usize, SecondLine)],
    highest_us: u64,
) -> Result<BTreeMap<u64, BTreeMap<String, Vec<u8>>>, InputError> {
    use base64::Engine;
    let source = Source::new(path, text);
    let known: std::collections::HashSet<u64> = seconds.iter().map(|(_, l)| l.elapsed_s).collect();
    let mut out: BTreeMap<u64, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut deserializer = Deserializer::new();
    for (at, raw) in text.lines().enumerate() {
        let number = at + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('"') {
            continue;
        }
        let whole_line = format!("{trimmed}\n");
        let entry = IntervalLogIterator::new(whole_line.as_bytes())
            .next()
            .transpose()
            .map_err(|e| {
                source.at_line(
                    number,
                    "interval",
                    format!("not an interval log line: {e:?}"),
                )
            })?;
        let Some(LogEntry::Interval(interval)) = entry else {
            continue;
        };
        let tag = interval
            .tag()
            .map(|t| t.as_str().to_string())
            .ok_or_else(|| {
                source.at_line(number, "Tag", "every interval of a shard log has a tag")
            })?;
        let offset = interval.start_timestamp().as_secs_f64();
        if interval.duration().as_secs_f64() != 1.0 || offset.fract() != 0.0 {
            return Err(source.at_line(
                number,
                "interval",
                format!(
                    "intervals must be whole seconds of 1 s: this one starts at {offset} s and \
                     lasts {} s (misaligned)",
                    interval.duration().as_secs_f64()
                ),
            ));
        }
        let second = offset as u64 + 1;
        if !known.contains(&second) {
            return Err(source.at_line(
                number,
                "interval",
                format!("second {second} has no line in {SECONDS}"),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| source.at_line(number, "histogram", format!("not base64: {e}")))?;
        let histogram: Histogram<u64> =
            deserializer
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| {
                    source.at_line(number, "histogram", format!("not an HdrHistogram: {e:?}"))
                })?;
        if histogram.max() > highest_us {
            return Err(source.at_line(
                number,
                "histogram",
                format!(
                    "holds {} µs, beyond the {highest_us} µs capplan records",
                    histogram.max()
                ),
            ));
        }
        let slot = out.entry(second).or_default();
        if slot.insert(tag.clone(), bytes).is_some() {
            return Err(source.at_line(
                number,
                "Tag",
                format!("second {second} has two intervals tagged {tag}"),
            ));
        }
    }
    Ok(out)
}
