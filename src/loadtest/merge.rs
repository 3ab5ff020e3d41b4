//! `capplan merge`'s core: the shards of one run (formats/shard_dir.rs) checked
//! against each other and added, second by second, through the same [`Aggregator`] a
//! run uses, into the [`RunResult`] every loadtest renderer reads. HDR histograms add
//! without loss, so the merged percentiles are those of one histogram holding every
//! shard's values. Pure: shard data in, result out; the observers see each merged
//! second as a run's do (history, `--hdr-log`).
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use crate::error::InputError;
use crate::formats::shard_dir::{
    decode, service_tag, task_tag, Second, ShardDir, CONNECT_TAG, TLS_TAG,
};
use crate::loadtest::aggregator::{Aggregator, FailureRow, WallClock};
use crate::loadtest::client::{Failure, HttpVersion};
use crate::loadtest::connector::Negotiated;
use crate::loadtest::recorder::Interval;
use crate::loadtest::result::{
    self, CheckSummary, GeneratorReport, ProtocolReport, RateReport, RunResult,
};
use crate::loadtest::run::Observer;

/// Shards whose first seconds begin further apart than this do not line up: their
/// second N would cover different moments.
pub const ALIGNMENT_TOLERANCE: Duration = Duration::from_millis(500);

/// The merged result, and what the shards asked for besides their numbers (their
/// thresholds the command reads from the manifests, to name the file of a bad one).
#[derive(Debug, Clone)]
pub struct Merged {
    pub result: RunResult,
    pub run_id: String,
    /// Any shard was given `--fail-on-errors`.
    pub fail_on_errors: bool,
}

fn name(shard: &ShardDir) -> String {
    format!(
        "{} (shard {}/{})",
        shard.dir.display(),
        shard.manifest.shard.index,
        shard.manifest.shard.count
    )
}

/// Check that `shards` are every shard of one run, once each, with aligned intervals.
pub fn check(shards: &mut [ShardDir]) -> Result<(), InputError> {
    let Some(first) = shards.first() else {
        return Err(InputError::flag("DIR", "give at least one shard directory"));
    };
    let (run_id, count) = (first.manifest.run_id.clone(), first.manifest.shard.count);
    let reference = name(first);
    for shard in shards.iter() {
        let m = &shard.manifest;
        if m.run_id != run_id {
            return Err(InputError::file(
                &shard.dir,
                format!(
                    "is a shard of run {}, not of run {run_id} like {reference}: merge the \
                     shards of one run",
                    m.run_id
                ),
            ));
        }
        if m.shard.count != count {
            return Err(InputError::file(
                &shard.dir,
                format!(
                    "is shard {}/{} but {reference} is one of {count}",
                    m.shard.index, m.shard.count
                ),
            ));
        }
    }
    shards.sort_by_key(|s| s.manifest.shard.index);
    for pair in shards.windows(2) {
        if pair[0].manifest.shard.index == pair[1].manifest.shard.index {
            return Err(InputError::file(
                &pair[1].dir,
                format!(
                    "is shard {}/{count} again: {} is that shard too (a duplicate)",
                    pair[1].manifest.shard.index,
                    pair[0].dir.display()
                ),
            ));
        }
    }
    let present: Vec<u32> = shards.iter().map(|s| s.manifest.shard.index).collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(InputError::flag(
            "DIR",
            format!(
                "shard {} of run {run_id} is missing: {} of {count} shard directories given",
                missing.join(", "),
                shards.len()
            ),
        ));
    }
    let first = &shards[0];
    let reference = name(first);
    for shard in &shards[1..] {
        let (a, b) = (&first.manifest, &shard.manifest);
        let differs = [
            ("target", a.target != b.target),
            ("model", a.model != b.model),
            ("tasks", a.tasks != b.tasks),
            ("warmup_s", a.warmup_s != b.warmup_s),
            ("http", a.http != b.http),
            ("shape", a.shape != b.shape),
        ];
        if let Some((field, _)) = differs.iter().find(|(_, d)| *d) {
            return Err(InputError::file(
                &shard.dir,
                format!("its {field} differs from {reference}'s: not shards of one run"),
            ));
        }
    }
    let earliest = shards
        .iter()
        .min_by_key(|s| s.manifest.started_at)
        .expect("at least one shard");
    for shard in shards.iter() {
        let apart = (shard.manifest.started_at - earliest.manifest.started_at)
            .to_std()
            .unwrap_or_default();
        if apart > ALIGNMENT_TOLERANCE {
            return Err(InputError::file(
                &shard.dir,
                format!(
                    "misaligned intervals: {} started {:.3} s after {}, so its seconds do \
                     not line up with the others' (at most {} ms apart); start every shard \
                     with the same --start-at",
                    name(shard),
                    apart.as_secs_f64(),
                    name(earliest),
                    ALIGNMENT_TOLERANCE.as_millis()
                ),
            ));
        }
    }
    Ok(())
}

/// The connection's negotiated names as the connector spells them.
fn known(name: Option<&str>) -> Option<&'static str> {
    name.map(|n| match n {
        "h2" => "h2",
        "http/1.1" => "http/1.1",
        "TLSv1.3" => "TLSv1.3",
        "TLSv1.2" => "TLSv1.2",
        _ => "other",
    })
}

/// A shard's second as the interval a generator thread reports.
fn interval_of(second: &Second, tasks: usize) -> Interval {
    let mut interval = Interval::new(tasks);
    let line = &second.line;
    for (k, (slot, counts)) in interval.endpoints.iter_mut().zip(&line.tasks).enumerate() {
        slot.requests = counts.requests;
        slot.failures = counts.failures;
        slot.content_bytes = counts.content_bytes;
        if let Some(bytes) = second.histograms.get(&task_tag(k)) {
            slot.latency.add(decode(bytes)).expect("capplan's bounds");
        }
        if let Some(bytes) = second.histograms.get(&service_tag(k)) {
            slot.service.add(decode(bytes)).expect("capplan's bounds");
        }
    }
    interval.pacing.sent = line.pacing.sent;
    interval.pacing.late = line.pacing.late;
    interval.pacing.late_connection_busy = line.pacing.late_connection_busy;
    interval.pacing.max_late_us = line.pacing.max_late_us;
    let c = &mut interval.connections;
    c.opened = line.connections.opened;
    c.resumed = line.connections.resumed;
    c.negotiated = line
        .connections
        .negotiated
        .iter()
        .map(|n| {
            (
                Negotiated {
                    alpn: known(n.alpn.as_deref()),
                    tls_version: known(n.tls_version.as_deref()),
                },
                n.connections,
            )
        })
        .collect();
    if let Some(bytes) = second.histograms.get(CONNECT_TAG) {
        c.connect.add(decode(bytes)).expect("capplan's bounds");
    }
    if let Some(bytes) = second.histograms.get(TLS_TAG) {
        c.tls_handshake
            .add(decode(bytes))
            .expect("capplan's bounds");
    }
    interval
}

/// Merge checked shards ([`check`]) into one result; `observers` see every merged
/// second, as a run's observers do.
pub fn merge(shards: &[ShardDir], observers: &mut [&mut dyn Observer]) -> anyhow::Result<Merged> {
    let first = &shards[0].manifest;
    let names: Vec<(String, String)> = first
        .tasks
        .iter()
        .map(|t| (t.method.clone(), t.name.clone()))
        .collect();
    let started: DateTime<Utc> = shards
        .iter()
        .map(|s| s.manifest.started_at)
        .min()
        .expect("at least one shard");
    let started_wall: SystemTime = started.into();
    for observer in observers.iter_mut() {
        observer.started(started_wall)?;
    }
    let mut aggregator = Aggregator::new(
        names.clone(),
        shards.len(),
        started.timestamp(),
        first.warmup_s,
    );
    let mut by_second: Vec<BTreeMap<u64, &Second>> = shards
        .iter()
        .map(|s| s.seconds.iter().map(|x| (x.line.elapsed_s, x)).collect())
        .collect();
    let last = by_second
        .iter()
        .filter_map(|m| m.keys().next_back().copied())
        .max()
        .unwrap_or(0);
    let empty = Interval::new(names.len());
    let mut saturated_seconds = 0;
    for elapsed in 1..=last {
        let seconds: Vec<Option<&Second>> =
            by_second.iter_mut().map(|m| m.remove(&elapsed)).collect();
        let users: u32 = seconds.iter().flatten().map(|s| s.line.users).sum();
        // What the shards intended adds up as what they did (None: no shard said).
        let intended_users = seconds
            .iter()
            .flatten()
            .filter_map(|s| s.line.intended_users)
            .reduce(|a, b| a + b);
        let intended_rps = seconds
            .iter()
            .flatten()
            .filter_map(|s| s.line.intended_rps)
            .reduce(|a, b| a + b);
        let cpu = seconds
            .iter()
            .flatten()
            .map(|s| s.line.generator_cpu_percent)
            .fold(0.0, f64::max);
        let mut finished = None;
        for second in &seconds {
            let interval = match second {
                Some(s) => interval_of(s, names.len()),
                None => empty.clone(),
            };
            finished = aggregator.add_tick(elapsed, &interval, users);
        }
        let mut finished = finished.expect("every shard reported the second");
        finished.row.generator_cpu_percent = cpu;
        finished.row.intended_users = intended_users;
        finished.row.intended_rps = intended_rps;
        saturated_seconds += u64::from(cpu >= crate::loadtest::cpu::SATURATED_PERCENT);
        for observer in observers.iter_mut() {
            observer.second(&finished)?;
        }
    }
    for observer in observers.iter_mut() {
        observer.finished()?;
    }
    let unsent: u64 = shards.iter().map(|s| s.manifest.unsent).sum();
    aggregator.add_done(unsent);
    let duration_s = shards
        .iter()
        .map(|s| s.manifest.duration_s)
        .fold(0.0, f64::max);
    // Failures come from the manifests (their kinds are text there): the clock only
    // dates the aggregator's own failures, of which a merge has none.
    let now = Instant::now();
    let totals = aggregator.finish(
        duration_s,
        &WallClock {
            start: now,
            wall: started_wall,
        },
    );
    let aggregate = totals.aggregate;
    let requests = aggregate.requests;
    let failures = aggregate.failures;
    let rps = requests.saturating_sub(unsent) as f64 / duration_s.max(1e-9);
    let open = first.model == "open";
    let pacing = totals.pacing;
    let rate = open.then(|| RateReport {
        intended_rps: shards.iter().filter_map(|s| s.manifest.rate).sum(),
        achieved_rps: rps,
        connections: shards.iter().filter_map(|s| s.manifest.connections).sum(),
        late_sends: pacing.late,
        unsent: pacing.backlog,
        max_late_ms: pacing.max_late_us as f64 / 1e3,
        late_tolerance_ms: first.late_tolerance_ms,
    });
    let version = if first.http == HttpVersion::Http2.name() {
        HttpVersion::Http2
    } else {
        HttpVersion::Http1
    };
    // Each shard's warnings, named by shard (a run of one shard keeps its own words).
    let mut warnings: Vec<String> = Vec::new();
    for shard in shards {
        let id = shard.manifest.shard;
        warnings.extend(shard.manifest.warnings.iter().map(|w| {
            if id.count > 1 {
                format!("shard {}/{}: {w}", id.index, id.count)
            } else {
                w.clone()
            }
        }));
    }
    let result = RunResult {
        version: result::JSON_VERSION,
        target: first.target.clone(),
        started_at: started.to_rfc3339(),
        model: first.model.clone(),
        users: (!open).then(|| shards.iter().filter_map(|s| s.manifest.users).sum()),
        duration_s,
        interrupted: shards.iter().any(|s| s.manifest.interrupted),
        requests,
        failures,
        error_rate: failures as f64 / requests.max(1) as f64,
        rps,
        latency_ms: aggregate.latency_ms,
        service_time_ms: if open {
            aggregate.service_time_ms
        } else {
            None
        },
        rate_achieved: open.then(|| pacing.on_time_fraction()),
        rate,
        generator: GeneratorReport {
            threads: shards.iter().map(|s| s.manifest.threads).sum(),
            max_cpu_percent: shards
                .iter()
                .map(|s| s.manifest.generator.max_cpu_percent)
                .fold(0.0, f64::max),
            saturated_seconds,
        },
        protocol: ProtocolReport::new(version, &totals.connections),
        warnings,
        tasks: totals.endpoints,
        aggregate,
        errors: merged_failures(shards),
        thresholds: Vec::new(),
        history: Vec::new(),
        shape: first.shape.clone(),
        checks: merged_checks(shards),
    };
    Ok(Merged {
        result,
        run_id: first.run_id.clone(),
        fail_on_errors: shards.iter().any(|s| s.manifest.fail_on_errors),
    })
}

/// Failures of every shard by endpoint and kind: counts added, first and last seen kept.
fn merged_failures(shards: &[ShardDir]) -> Vec<FailureRow> {
    let mut rows: BTreeMap<(String, String, String), FailureRow> = BTreeMap::new();
    for line in shards.iter().flat_map(|s| &s.manifest.failures) {
        let key = (line.method.clone(), line.name.clone(), line.error.clone());
        rows.entry(key)
            .and_modify(|row| {
                row.occurrences += line.occurrences;
                row.first_seen = row.first_seen.min(line.first_seen);
                row.last_seen = row.last_seen.max(line.last_seen);
            })
            .or_insert_with(|| FailureRow {
                method: line.method.clone(),
                name: line.name.clone(),
                kind: Failure::known_kind(&line.kind).expect("checked when the shard was read"),
                error: line.error.clone(),
                occurrences: line.occurrences,
                first_seen: line.first_seen,
                last_seen: line.last_seen,
            });
    }
    let mut rows: Vec<FailureRow> = rows.into_values().collect();
    rows.sort_by(|a, b| b.occurrences.cmp(&a.occurrences).then(a.name.cmp(&b.name)));
    rows
}

/// Every shard's checks and captures, counts added, in the order the first shard lists
/// them (every shard runs the same scenario).
fn merged_checks(shards: &[ShardDir]) -> Vec<CheckSummary> {
    let mut rows: Vec<CheckSummary> = Vec::new();
    for line in shards.iter().flat_map(|s| &s.manifest.checks) {
        match rows.iter_mut().find(|row| {
            row.method == line.method
                && row.name == line.name
                && row.kind == line.kind
                && row.what == line.what
        }) {
            Some(row) => {
                row.passed += line.passed;
                row.failed += line.failed;
            }
            None => rows.push(CheckSummary {
                method: line.method.clone(),
                name: line.name.clone(),
                kind: if line.kind == "capture" {
                    "capture"
                } else {
                    "check"
                },
                what: line.what.clone(),
                passed: line.passed,
                failed: line.failed,
            }),
        }
    }
    rows
}
