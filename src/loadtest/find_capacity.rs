//! `loadtest --find-capacity`: measure the service time at low load, run the capacity
//! search against the real target, and build the capacity profile.
use std::time::Duration;

use crate::cli::{Arrivals, LoadtestArgs};
use crate::error::{InputError, Outcome};
use crate::formats::profile::{CapacityProfile, CurvePoint, ServiceTimeMs, VERSION};

/// Version of the `--find-capacity --json` document (profile and search steps).
const SEARCH_JSON_VERSION: u32 = 1;
use crate::loadtest::capacity::{self, SearchOutcome, SearchSettings, SloRule, StepMeasurement};
use crate::loadtest::client::{self, PreparedRequest};
use crate::loadtest::plan::{self, LoadModel, Plan};
use crate::loadtest::result::RunResult;
use crate::loadtest::stats::LatencySummary;
use crate::loadtest::threshold::{Comparison, Metric};
use crate::report;

/// How long the low-load (one user) phase lasts.
const LOW_LOAD: Duration = Duration::from_secs(3);
/// A step lasts long enough for about this many requests (a p95 of fewer is noise).
const MIN_SAMPLES: f64 = 300.0;
/// ... but no longer than this.
const MAX_STEP: Duration = Duration::from_secs(20);
/// After a step, at least this pause before probing whether the target's queue drained.
const MIN_PAUSE: Duration = Duration::from_millis(200);
/// One drain probe: a single user's requests for this long.
const PROBE: Duration = Duration::from_millis(300);
/// Give up waiting for the queue to drain after this long (and say so).
const MAX_DRAIN: Duration = Duration::from_secs(15);

/// The whole search: low-load service time, then ramp and bisection.
pub struct CapacityRun {
    pub profile: CapacityProfile,
    pub outcome: SearchOutcome,
}

/// Run the search as the command line asks and report it.
pub fn run(args: &LoadtestArgs) -> anyhow::Result<Outcome> {
    let rule = SloRule {
        slo: args.slo.clone(),
        max_error_rate: args.max_error_rate,
    };
    // An objective is an upper bound on latency: `p95>1ms` would search inverted.
    if !matches!(
        rule.slo.metric,
        Metric::Percentile(_) | Metric::Mean | Metric::Max
    ) || !matches!(
        rule.slo.comparison,
        Comparison::Less | Comparison::LessOrEqual
    ) {
        return Err(InputError::flag(
            "--slo",
            format!(
                "'{}': must be an upper bound on latency such as p95<200ms",
                rule.slo
            ),
        )
        .into());
    }
    if args.step_duration < Duration::from_secs(2)
        || args.step_duration.subsec_nanos() != 0
        || args.step_duration > plan::MAX_DURATION
    {
        return Err(
            InputError::flag("--step-duration", "must be whole seconds, from 2s to 365d").into(),
        );
    }
    plan::check_rate("--max-rate", args.max_rate)?;
    if let Some(rate) = args.start_rate {
        plan::check_rate("--start-rate", rate)?;
    }
    let plan = Plan::from_args(args)?;
    super::fd_limit::ensure(&plan)?;
    let requests = client::prepare(&plan)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Between measurements nothing awaits a signal: remember one for the next check.
    crate::stop_signal::watch_in_background("the capacity search stops");
    let settings = |start_rps: f64| SearchSettings {
        start_rps,
        growth: 1.5,
        tolerance: 0.02,
        max_steps: 16,
        max_rps: args.max_rate,
    };
    let run = measure_capacity(
        &runtime,
        &plan,
        &requests,
        &rule,
        args,
        settings,
        args.report.quiet,
    )?;
    // Files first: a closed stdout (`| head`) must not lose them.
    if let Some(path) = &args.profile_out {
        crate::output::write_json(path, &run.profile)?;
    }
    if let Some(path) = &args.report.json {
        let body = serde_json::json!({
            "version": SEARCH_JSON_VERSION,
            "profile": run.profile,
            "search": run.outcome,
        });
        crate::output::write_json(path, &body)?;
    }
    if !args.report.quiet {
        let stdout_taken =
            crate::output::any_stdout([args.profile_out.as_deref(), args.report.json.as_deref()]);
        crate::output::print_text(
            &report::capacity::summary(&run.profile, &run.outcome),
            stdout_taken,
        )?;
    }
    if run.outcome.sustainable_rps.is_none() {
        eprintln!(
            "capacity: the SLO {} failed even at the lowest rate tried ({:.1} rps)",
            rule.slo,
            run.outcome
                .steps
                .iter()
                .map(|s| s.measurement.offered_rps)
                .fold(f64::INFINITY, f64::min)
        );
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Success)
}

/// Measure the low-load service time, then search; `settings` gets the start rate.
pub fn measure_capacity(
    runtime: &tokio::runtime::Runtime,
    base: &Plan,
    requests: &[PreparedRequest],
    rule: &SloRule,
    args: &LoadtestArgs,
    settings: impl Fn(f64) -> SearchSettings,
    quiet: bool,
) -> anyhow::Result<CapacityRun> {
    let say = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let low = one_user(base, LOW_LOAD);
    let low_run = runtime.block_on(super::execute(&low, requests.to_vec(), None, true))?;
    stop_if_interrupted(&low_run, "the low-load measurement")?;
    let service = low_run.latency_ms;
    say(format!(
        "capacity: service time at low load: mean {:.2}ms, p95 {:.2}ms ({} requests)",
        service.mean, service.p95, low_run.requests
    ));
    if low_run.error_rate > rule.max_error_rate {
        let first = low_run
            .errors
            .first()
            .map_or(String::new(), |e| format!(": {}", e.error));
        return Err(crate::error::RunError(format!(
            "capacity: the target fails {:.1}% of requests even at low load{first}",
            100.0 * low_run.error_rate
        ))
        .into());
    }
    if low_run.requests == 0 || service.mean <= 0.0 {
        return Err(
            crate::error::RunError("capacity: no request completed at low load".into()).into(),
        );
    }
    let start_rps = args
        .start_rate
        .unwrap_or(0.5 * args.workers_measured as f64 / (service.mean / 1e3));

    let mut step_number = 0;
    let outcome = capacity::search(&settings(start_rps), rule, |rate, phase| {
        step_number += 1;
        let mut step = base.clone();
        let slo_seconds = rule.slo.value / 1e3;
        step.load = LoadModel::Open {
            rate,
            // Enough connections that they never cap the offered load below the SLO latency.
            connections: ((rate * slo_seconds.max(0.05) * 4.0).ceil() as u32).clamp(50, 2000),
            arrivals: Arrivals::Poisson,
        };
        // Saturating: a tiny --start-rate asks for more seconds than a u64 holds.
        let for_samples =
            Duration::from_secs(((MIN_SAMPLES / rate).ceil() as u64).saturating_add(1));
        step.duration = args.step_duration.max(for_samples.min(MAX_STEP));
        step.warmup = Duration::from_secs(1);
        step.seed = base.seed.wrapping_add(step_number);
        let result = runtime.block_on(super::execute(&step, requests.to_vec(), None, true))?;
        stop_if_interrupted(&result, &format!("step {step_number} ({rate:.1} rps)"))?;
        let per_second_p50: Vec<f64> = result
            .history
            .iter()
            .skip(step.warmup.as_secs() as usize)
            .map(|h| h.p50_ms)
            .collect();
        let measurement = StepMeasurement {
            offered_rps: rate,
            achieved_rps: result.rps,
            p50_ms: result.latency_ms.p50,
            p95_ms: result.latency_ms.p95,
            p99_ms: result.latency_ms.p99,
            slo_value_ms: slo_value(rule, &result.latency_ms, &result.aggregate.histogram),
            error_rate: result.error_rate,
            rate_achieved: result.rate_achieved.unwrap_or(1.0),
            trend: capacity::trend(&per_second_p50),
        };
        say(format!(
            "capacity: step {step_number} ({phase}): {rate:.1} rps offered, {:.1} achieved, p95 {}, median trend {:+.1}ms/s (t {:.1}), errors {:.2}%: {:?}",
            measurement.achieved_rps,
            crate::units::format_ms(measurement.p95_ms),
            measurement.trend.slope_ms_per_s,
            measurement.trend.t,
            100.0 * measurement.error_rate,
            rule.judge(&measurement),
        ));
        let waited = drain(runtime, base, requests, &service)?;
        if waited >= MAX_DRAIN {
            say(format!(
                "capacity: the target still answers slower than at low load {}s after the step; going on",
                waited.as_secs()
            ));
        }
        Ok::<_, anyhow::Error>(measurement)
    })?;

    let sustainable = outcome.sustainable_rps.unwrap_or(0.0);
    let mut curve: Vec<CurvePoint> = outcome
        .steps
        .iter()
        .map(|s| CurvePoint {
            rps: s.measurement.offered_rps,
            p50_ms: s.measurement.p50_ms,
            p95_ms: s.measurement.p95_ms,
            p99_ms: s.measurement.p99_ms,
            error_rate: s.measurement.error_rate,
        })
        .collect();
    curve.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    let profile = CapacityProfile {
        version: VERSION,
        target: base.host.clone(),
        measured_at: chrono::Utc::now().to_rfc3339(),
        slo: rule.slo.expr.clone(),
        workers_measured: args.workers_measured,
        sustainable_rps: sustainable,
        rps_per_worker: sustainable / args.workers_measured as f64,
        service_time_ms: ServiceTimeMs {
            mean: service.mean,
            p95: service.p95,
        },
        curve,
    };
    Ok(CapacityRun { profile, outcome })
}

/// Wait until the target's queue from the last step has drained: a lone user's requests
/// are answered within twice the low-load p95 (plus 5 ms), as before the search. A fixed
/// pause is too short after a step far above capacity (a sync server works through
/// every queued request, even those whose client has gone) and wastes time after the
/// others. Returns how long it waited.
fn drain(
    runtime: &tokio::runtime::Runtime,
    base: &Plan,
    requests: &[PreparedRequest],
    service: &LatencySummary,
) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    std::thread::sleep(MIN_PAUSE);
    let limit_ms = 2.0 * service.p95.max(service.mean) + 5.0;
    let probe = one_user(base, PROBE);
    while started.elapsed() < MAX_DRAIN {
        let result = runtime.block_on(super::execute(&probe, requests.to_vec(), None, true))?;
        stop_if_interrupted(&result, "the pause between steps")?;
        if result.requests > 0 && result.latency_ms.max <= limit_ms {
            break;
        }
    }
    Ok(started.elapsed())
}

/// A signal during a measurement ends the search: an emptied step would be
/// judged "holds" and corrupt the knee, so no profile is written.
fn stop_if_interrupted(result: &RunResult, during: &str) -> anyhow::Result<()> {
    if result.interrupted || crate::stop_signal::requested().is_some() {
        return Err(crate::error::Interrupted(format!(
            "capacity: stopped by a signal during {during}; no profile is written from an \
             unfinished search (the steps so far are above)"
        ))
        .into());
    }
    Ok(())
}

/// The plan with one user for `duration`: the low-load and drain measurements.
fn one_user(base: &Plan, duration: Duration) -> Plan {
    let mut plan = base.clone();
    plan.load = LoadModel::Closed {
        users: 1,
        spawn_rate: 1.0,
    };
    plan.duration = duration;
    plan.warmup = Duration::ZERO;
    plan
}

/// The latency the SLO speaks of, ms.
fn slo_value(
    rule: &SloRule,
    summary: &LatencySummary,
    histogram: &hdrhistogram::Histogram<u64>,
) -> f64 {
    match rule.slo.metric {
        Metric::Percentile(p) => LatencySummary::percentile(histogram, p),
        Metric::Mean => summary.mean,
        _ => summary.max,
    }
}
