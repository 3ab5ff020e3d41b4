//! `loadtest --find-capacity`: measure the service time at low load, run the capacity
//! search (`capacity.rs`) against the real target, and build the capacity profile.
use std::time::Duration;

use crate::formats::profile::{CapacityProfile, CurvePoint, ServiceTimeMs, VERSION};
use crate::loadtest::aggregator::LatencySummary;
use crate::loadtest::capacity_search::{
    self, SearchOutcome, SearchSettings, SloRule, StepMeasurement,
};
use crate::loadtest::plan::{Arrivals, LoadModel, Plan};
use crate::loadtest::result::RunResult;
use crate::loadtest::run::{Run, Seconds};
use crate::loadtest::threshold::Statistic;

/// How long the low-load (one user) phase lasts.
const LOW_LOAD: Duration = Duration::from_secs(3);
/// A step lasts long enough for about this many requests (a p95 of fewer is noise).
const MIN_SAMPLES: f64 = 300.0;
/// ... but no longer than this.
const MAX_STEP: Duration = Duration::from_secs(20);
/// Warm-up of a coarse step: its rate is far from the knee, where a queue settles fast.
const WARMUP: Duration = Duration::from_secs(1);
/// After a step, at least this pause before probing whether the target's queue drained.
const MIN_PAUSE: Duration = Duration::from_millis(200);
/// One drain probe: a single user's requests for this long.
const PROBE: Duration = Duration::from_millis(300);
/// Give up waiting for the queue to drain after this long (and say so).
const MAX_DRAIN: Duration = Duration::from_secs(15);

/// A search as the command line sets it, validated.
pub struct CapacitySearch {
    pub rule: SloRule,
    /// Shortest step (a step at a low rate lasts longer, for enough samples).
    pub step_duration: Duration,
    /// Workers of the target while measured: the profile's per-worker rate.
    pub workers_measured: u32,
    pub max_rps: f64,
    /// First rate tried; by default half what the workers serve at the low-load
    /// service time.
    pub start_rps: Option<f64>,
}

/// The whole search: low-load service time, then ramp and bisection.
pub struct CapacityRun {
    pub profile: CapacityProfile,
    pub outcome: SearchOutcome,
}

/// Measure the low-load service time, then search; `say` hears a line per
/// measurement (the command prints them as the search goes).
pub fn measure_capacity(
    base: &Plan,
    search: &CapacitySearch,
    say: &dyn Fn(String),
) -> anyhow::Result<CapacityRun> {
    let rule = &search.rule;
    let low = one_user(base, LOW_LOAD);
    let low_run = Run::new(low)?.drive(&mut [])?;
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
    let start_rps = search
        .start_rps
        .unwrap_or(0.5 * search.workers_measured as f64 / (service.mean / 1e3));
    let settings = SearchSettings {
        start_rps,
        growth: 1.5,
        tolerance: 0.02,
        max_steps: 16,
        max_rps: search.max_rps,
    };

    let mut step_number = 0;
    let outcome = capacity_search::search(&settings, rule, |rate, phase| {
        step_number += 1;
        let mut step = base.clone();
        let slo_seconds = rule.slo.limit_ms() / 1e3;
        step.load = LoadModel::Open {
            rate,
            // Enough connections that they never cap the offered load below the SLO latency.
            connections: ((rate * slo_seconds.max(0.05) * 4.0).ceil() as u32).clamp(50, 2000),
            arrivals: Arrivals::Poisson,
        };
        // Saturating: a tiny --start-rate asks for more seconds than a u64 holds.
        let for_samples =
            Duration::from_secs(((MIN_SAMPLES / rate).ceil() as u64).saturating_add(1));
        // The measured window is the step's duration less the coarse warm-up; a longer
        // warm-up comes on top of it.
        step.warmup = if phase == "coarse" {
            WARMUP
        } else {
            near_knee_warmup(search.step_duration)
        };
        step.duration =
            search.step_duration.max(for_samples.min(MAX_STEP)) + (step.warmup - WARMUP);
        step.seed = base.seed.wrapping_add(step_number);
        let warmup = step.warmup.as_secs() as usize;
        let mut seconds = Seconds::default();
        let result = Run::new(step)?.drive(&mut [&mut seconds])?;
        stop_if_interrupted(&result, &format!("step {step_number} ({rate:.1} rps)"))?;
        let per_second_p50: Vec<f64> = seconds.0.iter().skip(warmup).map(|h| h.p50_ms).collect();
        let measurement = StepMeasurement {
            offered_rps: rate,
            achieved_rps: result.rps,
            p50_ms: result.latency_ms.p50,
            p95_ms: result.latency_ms.p95,
            p99_ms: result.latency_ms.p99,
            slo_value_ms: slo_value(rule, &result.latency_ms, &result.aggregate.histogram),
            error_rate: result.error_rate,
            rate_achieved: result.rate_achieved.unwrap_or(1.0),
            trend: capacity_search::trend(&per_second_p50),
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
        let waited = drain(base, &service)?;
        if waited >= MAX_DRAIN {
            say(format!(
                "capacity: the target still answers slower than at low load {}s after the step; going on",
                waited.as_secs()
            ));
        }
        Ok::<_, anyhow::Error>(measurement)
    })?;

    let sustainable = outcome.sustainable_rps.unwrap_or(0.0);
    let curve = curve_of(&outcome);
    let profile = CapacityProfile {
        version: VERSION,
        target: base.host.clone(),
        measured_at: chrono::Utc::now().to_rfc3339(),
        slo: rule.slo.clone(),
        workers_measured: search.workers_measured,
        sustainable_rps: sustainable,
        rps_per_worker: sustainable / search.workers_measured as f64,
        service_time_ms: ServiceTimeMs {
            mean: service.mean,
            p95: service.p95,
        },
        curve,
    };
    Ok(CapacityRun { profile, outcome })
}

/// Warm-up of a step near the knee (bisect, confirm): half the step duration, whole
/// seconds, at least [`WARMUP`]. Near the knee a queue fills slowly (its time constant
/// grows as 1 / (1 - sqrt(utilisation))^2: about 6 s at 96 % on 8 workers of 20 ms),
/// and a step measured from an almost empty queue sees a lower p95 than the rate
/// has, so rates over the knee pass. For M/M/8 at p95<200ms with 6 s steps, 3 s
/// instead of 1 s took the share of searches more than 5 % off the theory from 7 %
/// to 3 % for 18 % more search time (scripts/capacity_search_model.py; measured:
/// docs/BENCHMARKS.md, "Capacity search").
fn near_knee_warmup(step_duration: Duration) -> Duration {
    Duration::from_secs(step_duration.as_secs() / 2).max(WARMUP)
}

/// Wait until the target's queue from the last step has drained: a lone user's requests
/// are answered within twice the low-load p95 (plus 5 ms), as before the search. A fixed
/// pause is too short after a step far above capacity (a sync server works through
/// every queued request, even those whose client has gone) and wastes time after the
/// others. Returns how long it waited.
fn drain(base: &Plan, service: &LatencySummary) -> anyhow::Result<Duration> {
    let started = std::time::Instant::now();
    std::thread::sleep(MIN_PAUSE);
    let limit_ms = 2.0 * service.p95.max(service.mean) + 5.0;
    let probe = one_user(base, PROBE);
    while started.elapsed() < MAX_DRAIN {
        let result = Run::new(probe.clone())?.drive(&mut [])?;
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
    match rule.slo.statistic() {
        Statistic::Percentile(p) => LatencySummary::percentile(histogram, p),
        Statistic::Mean => summary.mean,
        _ => summary.max,
    }
}

/// The profile's latency curve: every measured step, by offered rate.
pub fn curve_of(outcome: &SearchOutcome) -> Vec<CurvePoint> {
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
    curve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_near_the_knee_warm_up_for_half_the_step() {
        let warmup = |s| near_knee_warmup(Duration::from_secs(s)).as_secs();
        assert_eq!(warmup(6), 3);
        assert_eq!(warmup(4), 2);
        assert_eq!(warmup(9), 4);
        // Never less than a coarse step's.
        assert_eq!(warmup(2), 1);
    }
}
