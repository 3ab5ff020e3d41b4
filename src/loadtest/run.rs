//! A load test you can drive: `Run::new(plan)?.drive(&mut [observers])` reaches the
//! target, runs the generator threads until the duration ends or a signal comes, and
//! returns what was measured. What watches the run second by second (the history
//! kept for the reports, the progress bar, the hlog, a capacity step's trend) is an
//! [`Observer`] outside this file.
//!
//! ```no_run
//! use std::time::Duration;
//! use capplan::commands::loadtest::plan::url_plan;
//! use capplan::loadtest::aggregator::FinishedSecond;
//! use capplan::loadtest::plan::{Arrivals, LoadModel, RunLength, DEFAULT_TIMEOUT};
//! use capplan::loadtest::{Observer, Run};
//!
//! /// Prints each second's p95 as the run goes.
//! struct P95;
//! impl Observer for P95 {
//!     fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
//!         println!("{}s: p95 {:.1} ms", second.row.elapsed_s, second.row.p95_ms);
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> anyhow::Result<()> {
//! let load = LoadModel::Open { rate: 200.0, connections: 50, arrivals: Arrivals::Poisson };
//! let length = RunLength {
//!     duration: Duration::from_secs(10),
//!     warmup: Duration::from_secs(1),
//!     timeout: DEFAULT_TIMEOUT,
//! };
//! let plan = url_plan("http://127.0.0.1:8080/", load, length)?;
//! let result = Run::new(plan)?.drive(&mut [&mut P95])?;
//! println!("{} requests, p99 {:.1} ms", result.requests, result.latency_ms.p99);
//! # Ok(())
//! # }
//! ```
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::loadtest::aggregator::{self, Aggregator, FinishedSecond, RunTotals};
use crate::loadtest::client::{self, Failure, PreparedRequest};
use crate::loadtest::engine::{self, Report};
use crate::loadtest::flow::Flow;
use crate::loadtest::plan::{LoadModel, Plan};
use crate::loadtest::reach::reach;
use crate::loadtest::result::{self, GeneratorReport, ProtocolReport, RateReport, RunResult};
use crate::loadtest::{cpu, fd_limit};

/// A start this much after --start-at is reported as late.
pub const LATE_START_TOLERANCE: std::time::Duration = std::time::Duration::from_millis(100);

/// What watches a run second by second. Each observer sees every finished second
/// once, in order, then `finished`; an error from one ends the run with that error.
pub trait Observer {
    /// The run starts now; `wall` dates its first second.
    fn started(&mut self, _wall: SystemTime) -> anyhow::Result<()> {
        Ok(())
    }
    /// A second is complete: its history row (the generator's CPU included) and its
    /// merged latency histogram.
    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()>;
    /// The run has ended (after the last second, before the result is built).
    fn finished(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// One load test, ready to start: a validated plan and its requests built once.
pub struct Run {
    plan: Plan,
    requests: Vec<PreparedRequest>,
    flow: Flow,
}

impl Run {
    /// Check the plan against the machine (open-file limit) and build its requests;
    /// a plan this machine cannot run is an input error (exit 2).
    pub fn new(plan: Plan) -> anyhow::Result<Run> {
        fd_limit::ensure(&plan)?;
        let requests = client::prepare(&plan)?;
        let flow = Flow::new(&plan)?;
        Ok(Run {
            plan,
            requests,
            flow,
        })
    }

    /// Run to the end of the duration, or until a signal (then `interrupted` is set
    /// and the result covers what was measured until then).
    pub fn drive(self, observers: &mut [&mut dyn Observer]) -> anyhow::Result<RunResult> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(self.drive_async(observers))
    }

    async fn drive_async(self, observers: &mut [&mut dyn Observer]) -> anyhow::Result<RunResult> {
        let Run {
            plan,
            requests,
            flow,
        } = self;
        let reach = reach(&plan).await?;
        let shared = Arc::new(engine::shared_from_plan(
            &plan,
            requests,
            flow,
            Arc::new(reach.connector),
            reach.version,
        ));
        let stop_signal = crate::stop_signal::stop_requested();
        tokio::pin!(stop_signal);
        // --start-at: every shard's traffic begins on the same moment, the target
        // already reached. A shard that comes late starts at once and says so.
        let mut late_start = None;
        if let Some(at) = plan.start_at {
            match at.duration_since(SystemTime::now()) {
                Ok(wait) => tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    signal = &mut stop_signal => {
                        return Err(crate::error::Interrupted(format!(
                            "{signal} while waiting for --start-at: nothing was measured"
                        ))
                        .into());
                    }
                },
                Err(late) => late_start = Some(late.duration()),
            }
        }
        let started_wall = SystemTime::now();
        for observer in observers.iter_mut() {
            observer.started(started_wall)?;
        }

        let (stop_tx, stop_rx) = watch::channel(false);
        let (report_tx, mut reports) = mpsc::unbounded_channel();
        let start = Instant::now();
        let deadline = start + plan.duration;
        let (recycle, recycled): (Vec<_>, Vec<_>) = (0..plan.threads)
            .map(|_| std::sync::mpsc::channel())
            .unzip();
        let handles = engine::start(
            Arc::clone(&shared),
            start,
            deadline,
            stop_rx,
            report_tx,
            recycled,
        )?;

        let start_unix = started_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let warmup_seconds = plan.warmup.as_secs();
        let mut aggregator = Aggregator::new(
            plan.stats_names.clone(),
            plan.threads,
            start_unix,
            warmup_seconds,
        );
        let mut cpu_mark = (cpu::working_cpu_time(), std::time::Instant::now());
        let mut generator = Generator::default();
        let users = |shared: &engine::RunShared| match shared.load {
            LoadModel::Closed { .. } => shared.active_users.load(Ordering::Relaxed),
            LoadModel::Open { connections, .. } => connections,
        };

        let mut stopped_by: Option<&'static str> = None;
        let mut stopped_at: Option<Instant> = None;
        let mut threads_done = 0usize;
        let mut finished = Vec::new();
        let mut observer_failed: Option<anyhow::Error> = None;

        while threads_done < plan.threads {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline), if stopped_at.is_none() => {
                    // The threads stop by themselves at the deadline.
                    stopped_at = Some(deadline);
                }
                signal = &mut stop_signal, if stopped_at.is_none() => {
                    stopped_by = Some(signal);
                    stopped_at = Some(Instant::now());
                    let _ = stop_tx.send(true);
                }
                message = reports.recv() => match message {
                    Some(Report::Tick { thread, second, mut interval }) => {
                        if let Some(done) = aggregator.add_tick(second, &interval, users(&shared)) {
                            finished.push(done);
                        }
                        interval.reset();
                        let _ = recycle[thread].send(interval);
                    }
                    Some(Report::Done { backlog }) => {
                        aggregator.add_done(backlog);
                        threads_done += 1;
                    }
                    None => break,
                }
            }
            for mut second in finished.drain(..) {
                intend(&plan, &mut second.row);
                let now = (cpu::working_cpu_time(), std::time::Instant::now());
                // Saturating: a spin is subtracted whole when it ends, so a second that
                // ends mid-spin can see a little less work than the one before.
                let percent = cpu::percent_of_threads(
                    now.0.saturating_sub(cpu_mark.0),
                    now.1 - cpu_mark.1,
                    plan.threads,
                );
                cpu_mark = now;
                second.row.generator_cpu_percent = percent;
                generator.count(percent);
                if observer_failed.is_none() {
                    if let Err(e) = tell(observers, &second) {
                        // Stop the threads and wait for them: none outlives drive().
                        observer_failed = Some(e);
                        let _ = stop_tx.send(true);
                    }
                }
            }
        }
        for handle in handles {
            // A generator thread that panicked (a bug) fails the run instead of exiting 0.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        if let Some(e) = observer_failed {
            return Err(e);
        }
        // The threads stop by themselves at the deadline and may all report done
        // before the deadline's timer fires here: the run still ended at the deadline.
        let stopped_at = stopped_at.unwrap_or_else(|| Instant::now().min(deadline));
        // Statistics cover the time after the warm-up.
        let duration_s = ((stopped_at - start).as_secs_f64() - warmup_seconds as f64).max(0.0);
        for mut second in aggregator.flush_pending(users(&shared)) {
            intend(&plan, &mut second.row);
            generator.seconds += 1;
            tell(observers, &second)?;
        }
        for observer in observers.iter_mut() {
            observer.finished()?;
        }
        let totals = aggregator.finish(
            duration_s,
            &aggregator::WallClock {
                start: start.into_std(),
                wall: started_wall,
            },
        );
        let ended = Ended {
            started_wall,
            late_start,
            duration_s,
            stopped_by,
            reach_warning: reach.warning,
            generator,
        };
        Ok(assemble(&plan, &shared, totals, ended))
    }
}

/// What the plan intended in a second, beside what was measured: users at its end
/// (closed model) or requests sent during it (open model; the last second may be short).
fn intend(plan: &Plan, row: &mut aggregator::HistoryRow) {
    let end = (row.elapsed_s as f64).min(plan.duration.as_secs_f64());
    let begin = row.elapsed_s.saturating_sub(1) as f64;
    row.intended_users = plan.intended_users(end);
    row.intended_rps = plan.intended_requests(begin.min(end), end);
}

/// Hand a finished second to every observer, in order.
fn tell(observers: &mut [&mut dyn Observer], second: &FinishedSecond) -> anyhow::Result<()> {
    for observer in observers.iter_mut() {
        observer.second(second)?;
    }
    Ok(())
}

/// The generator's own CPU over the run's seconds.
#[derive(Default)]
struct Generator {
    seconds: usize,
    saturated_seconds: u64,
    max_cpu: f64,
}

impl Generator {
    fn count(&mut self, percent: f64) {
        self.seconds += 1;
        self.max_cpu = self.max_cpu.max(percent);
        self.saturated_seconds += u64::from(percent >= cpu::SATURATED_PERCENT);
    }
}

/// How the run went, besides what the aggregator measured.
struct Ended {
    started_wall: SystemTime,
    /// How late after --start-at the traffic began (none when on time or not asked).
    late_start: Option<std::time::Duration>,
    duration_s: f64,
    /// The signal that stopped the run early, if one did.
    stopped_by: Option<&'static str>,
    reach_warning: Option<String>,
    generator: Generator,
}

/// The result: totals, the rate report and every warning about how far to trust them.
fn assemble(plan: &Plan, shared: &engine::RunShared, totals: RunTotals, ended: Ended) -> RunResult {
    let Ended {
        started_wall,
        late_start,
        duration_s,
        stopped_by,
        reach_warning,
        generator,
    } = ended;
    let interrupted = stopped_by.is_some();
    let aggregate = totals.aggregate;
    let requests_done = aggregate.requests;
    let failures = aggregate.failures;
    let mut warnings: Vec<String> = reach_warning.into_iter().collect();
    if let Some(late) = late_start.filter(|late| *late >= LATE_START_TOLERANCE) {
        warnings.push(format!(
            "started {:.3}s after --start-at: this shard's seconds do not line up with the \
             others' (capplan merge refuses shards more than 0.5 s apart); give the shards a \
             --start-at far enough ahead for every one to be ready",
            late.as_secs_f64()
        ));
    }
    if let Some(signal) = stopped_by {
        warnings.push(format!(
            "interrupted by {signal} after {duration_s:.1}s: the results cover what was measured until then"
        ));
    }
    let count_kind = |kind: &Failure| -> u64 {
        totals
            .failure_kinds
            .iter()
            .filter(|((_, failure), _)| failure == kind)
            .map(|(_, seen)| seen.count)
            .sum()
    };
    // Unsent sends count as failed requests (the error rate sees them), but the
    // throughput is what was sent.
    let unsent = count_kind(&Failure::Unsent);
    let rps = requests_done.saturating_sub(unsent) as f64 / duration_s.max(1e-9);
    let cut_off = count_kind(&Failure::CutOff);
    if cut_off > 0 {
        warnings.push(format!(
            "{cut_off} requests were still without a response {:.1}s after the end of the run; \
             they count as failures (Timeout) with their latency so far",
            plan.timeout.min(engine::GRACE).as_secs_f64()
        ));
    }
    if let LoadModel::Closed { .. } = plan.load {
        let started = shared.active_users.load(Ordering::Relaxed);
        let answered = shared.answered_users.load(Ordering::Relaxed);
        if answered < started && !interrupted {
            warnings.push(format!(
                "{} of the {started} users started got no answer to their first request \
                 during the run: the target held them in its listen queue or never read \
                 them (too few workers, a full backlog, or its own open-file limit); \
                 the throughput is that of {answered} users",
                started - answered
            ));
        }
    }
    warnings.extend(cpu::saturation_warning(
        generator.saturated_seconds,
        generator.seconds,
        generator.max_cpu,
        plan.threads,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    ));
    let (rate_report, rate_achieved, service_time) = match plan.load {
        LoadModel::Open {
            rate, connections, ..
        } => {
            let pacing = totals.pacing;
            let achieved = pacing.on_time_fraction();
            if achieved < 0.99 {
                let cause = if generator.saturated_seconds > 0 {
                    "the generator's CPU was saturated".to_string()
                } else if pacing.backlog > 0 || 2 * pacing.late_connection_busy >= pacing.late {
                    format!(
                        "all {connections} connections were busy: the target is slower than the rate, \
                         or --connections is too low"
                    )
                } else {
                    // Connections were free and waiting: the thread woke late.
                    "the generator's threads woke late though connections were free: \
                     the machine is busy (other processes, too few cores)"
                        .to_string()
                };
                warnings.push(format!(
                    "the rate was not kept: {:.1}% of the {} sends due left on time \
                     ({} late by more than {}ms, up to {:.0}ms; {} never sent). Cause: {cause}. \
                     Latency is still measured from the intended send times.",
                    100.0 * achieved,
                    pacing.due(),
                    pacing.late,
                    engine::LATE_TOLERANCE.as_millis(),
                    pacing.max_late_us as f64 / 1e3,
                    pacing.backlog,
                ));
            }
            (
                Some(RateReport {
                    intended_rps: rate,
                    achieved_rps: rps,
                    connections,
                    late_sends: pacing.late,
                    unsent: pacing.backlog,
                    max_late_ms: pacing.max_late_us as f64 / 1e3,
                    late_tolerance_ms: engine::LATE_TOLERANCE.as_secs_f64() * 1e3,
                }),
                Some(achieved),
                aggregate.service_time_ms,
            )
        }
        LoadModel::Closed { .. } => (None, None, None),
    };
    RunResult {
        version: result::JSON_VERSION,
        target: plan.host.clone(),
        started_at: chrono::DateTime::<chrono::Utc>::from(started_wall).to_rfc3339(),
        model: match plan.load {
            LoadModel::Closed { .. } => "closed".into(),
            LoadModel::Open { .. } => "open".into(),
        },
        users: match plan.load {
            LoadModel::Closed { users, .. } => Some(users),
            LoadModel::Open { .. } => None,
        },
        shape: plan.shape.as_ref().map(result::ShapeReport::of),
        duration_s,
        interrupted,
        requests: requests_done,
        failures,
        error_rate: failures as f64 / requests_done.max(1) as f64,
        rps,
        latency_ms: aggregate.latency_ms,
        service_time_ms: service_time,
        rate_achieved,
        rate: rate_report,
        protocol: ProtocolReport::new(shared.version, &totals.connections),
        generator: GeneratorReport {
            threads: plan.threads,
            max_cpu_percent: generator.max_cpu,
            saturated_seconds: generator.saturated_seconds,
        },
        warnings,
        tasks: totals.endpoints,
        aggregate,
        errors: totals.failures,
        checks: shared.flow.summaries(plan),
        thresholds: Vec::new(),
        // The per-second rows went to the observers; a caller that keeps them
        // (loadtest's reports do, with `history::HistorySpill`) puts them here.
        history: Vec::new(),
    }
}

/// The rows of a short run, in memory: a capacity step's per-second medians.
#[derive(Default)]
pub struct Seconds(pub Vec<aggregator::HistoryRow>);

impl Observer for Seconds {
    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
        self.0.push(second.row.clone());
        Ok(())
    }
}
