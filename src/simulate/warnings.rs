//! What a user must hear before trusting a simulation's verdict: bursts the step
//! averages away, a forecast that covers only part of the traffic, a policy that
//! flaps on constant demand. Pure: data in, sentences out (the command prints them
//! as `warning:` lines, the JSON lists them).
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::engine::{self, RunOptions, SimulationResult, WorkerCapacity, Workload};
use super::latency::LatencyModel;
use super::policy::Policy;
use super::scaler::{Action, Event};

/// Steady demand levels the flap check tries, geometrically spaced.
const FLAP_LEVELS: usize = 160;
/// Largest fleet the flap check sizes its levels for, instances.
const FLAP_MAX_FLEET: u32 = 200;
/// Step of the flap check's runs, seconds.
const FLAP_STEP_SECONDS: f64 = 60.0;

fn stamp(start: DateTime<Utc>, seconds: f64) -> String {
    (start + Duration::milliseconds((seconds * 1000.0) as i64))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Bursts shorter than the step that the fleet could not have carried, though the
/// step's mean fits: the verdict cannot see them.
pub fn hidden_bursts(
    result: &SimulationResult,
    start: DateTime<Utc>,
    row_seconds: f64,
    step_seconds: f64,
) -> Option<String> {
    let first = result.first_hidden_burst?;
    let steps = result.totals.hidden_burst_steps;
    Some(format!(
        "the traffic's {row_seconds:.0}-second rows burst above the fleet's sustainable capacity \
         inside {steps} step(s) whose {step_seconds:.0}-second mean fits it (first at {}: \
         {:.1} rps against {:.1} rps of capacity, a step mean of {:.1} rps): the SLO verdict \
         averages those bursts away; simulate with --step {row_seconds:.0}s to see them",
        stamp(start, f64::from(first.step) * step_seconds),
        first.burst_rps,
        first.capacity_rps,
        first.mean_rps,
    ))
}

/// A forecast that covers only part of the simulated traffic (`covered` of `steps`
/// steps have a forecast value).
pub fn forecast_coverage(
    covered: usize,
    steps: usize,
    start: DateTime<Utc>,
    step_seconds: f64,
    first_covered: Option<usize>,
    last_covered: Option<usize>,
) -> Option<String> {
    if steps == 0 || covered >= steps {
        return None;
    }
    let span = match (first_covered, last_covered) {
        (Some(a), Some(b)) => format!(
            "from {} to {}",
            stamp(start, a as f64 * step_seconds),
            stamp(start, (b + 1) as f64 * step_seconds)
        ),
        _ => "nothing".to_string(),
    };
    Some(format!(
        "the forecast covers {covered} of the {steps} steps simulated ({:.1} %: {span}); \
         outside it the pre-warm has nothing to go on and the policy runs reactive only",
        100.0 * covered as f64 / steps as f64
    ))
}

/// Whether the policy flaps on demand that never changes: a steady level at which a
/// scale-in lands the metric above the scale-out threshold (or a scale-out below the
/// scale-in one). Runs the policy's own scaler on steady levels from a fraction of
/// the smallest fleet's capacity to the largest fleet's (at most
/// [`FLAP_MAX_FLEET`] instances).
pub fn flapping(
    policy: &Policy,
    capacity: &WorkerCapacity,
    latency: &LatencyModel,
) -> Option<String> {
    let per_instance = f64::from(policy.fleet.workers_per_instance) * capacity.rps_per_worker;
    let largest = policy.fleet.max_instances.clamp(1, FLAP_MAX_FLEET);
    let low = 0.2 * per_instance * f64::from(policy.fleet.min_instances);
    let high = per_instance * f64::from(largest);
    if !(low > 0.0 && high > low) {
        return None;
    }
    let fleet = &policy.fleet;
    let settle =
        3.0 * (policy.scale_down.window_seconds + fleet.boot_seconds + fleet.warmup_seconds);
    let steps = ((settle.max(7200.0) / FLAP_STEP_SECONDS).ceil() as usize).min(2000);
    let mut demand = vec![0.0; steps];
    let ratio = (high / low).powf(1.0 / (FLAP_LEVELS - 1) as f64);
    let mut flapping_levels = 0;
    let mut first: Option<(f64, u32, Vec<Event>)> = None;
    for level in 0..FLAP_LEVELS {
        let rps = low * ratio.powi(level as i32);
        demand.iter_mut().for_each(|d| *d = rps);
        let workload = Workload {
            demand: &demand,
            prewarm_rps: None,
            step_seconds: FLAP_STEP_SECONDS,
            normal_peak_rps: rps,
            excused: None,
            burst_rps: None,
        };
        let run = engine::run(&workload, policy, capacity, latency, RunOptions::default());
        if run.totals.flaps > 0 {
            flapping_levels += 1;
            if first.is_none() {
                first = Some((rps, run.totals.flaps, run.events));
            }
        }
    }
    let (rps, flaps, events) = first?;
    let mut moves = events
        .iter()
        .filter(|e| e.action != Action::Hold)
        .map(|e| format!("{} -> {} at {:.0} min", e.from, e.to, e.at_seconds / 60.0));
    let story: Vec<String> = moves.by_ref().take(3).collect();
    // The remedy names the rules that decide: the thresholds, or the tracking section's.
    let remedy = match policy.own_rules() {
        Some(own) => format!("[{own}]'s target and tolerance leave no band for this fleet's steps"),
        None => format!(
            "widen the dead band between scale_down.threshold ({}) and scale_up.threshold ({})",
            policy.scale_down.threshold, policy.scale_up.threshold
        ),
    };
    Some(format!(
        "the policy flaps on constant demand: at a steady {rps:.1} rps it goes {} \
         ({flaps} flap(s) in {:.0} h; {flapping_levels} of {FLAP_LEVELS} steady levels \
         between {low:.1} and {high:.1} rps flap): a scale-in lands the metric above the \
         scale-out threshold, or a scale-out below the scale-in one; {remedy}",
        story.join(", "),
        steps as f64 * FLAP_STEP_SECONDS / 3600.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity() -> WorkerCapacity {
        WorkerCapacity {
            rps_per_worker: 10.0,
            service_time_seconds: 0.05,
        }
    }

    fn latency(policy: &Policy) -> LatencyModel {
        LatencyModel::new(policy.fleet.workers_per_instance, 20.0, None)
    }

    #[test]
    fn a_wide_dead_band_does_not_flap() {
        let mut policy = Policy::default();
        policy.fleet.max_instances = 20;
        assert_eq!(flapping(&policy, &capacity(), &latency(&policy)), None);
    }

    #[test]
    fn a_narrow_dead_band_flaps_and_says_where() {
        let mut policy = Policy::default();
        policy.fleet.max_instances = 20;
        policy.scale_up.threshold = 0.60;
        policy.scale_down.threshold = 0.55;
        let warning = flapping(&policy, &capacity(), &latency(&policy)).expect("flaps");
        assert!(warning.contains("flaps on constant demand"), "{warning}");
        assert!(warning.contains("scale_down.threshold (0.55)"), "{warning}");
    }

    #[test]
    fn coverage_is_said_only_when_partial() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            forecast_coverage(10, 10, start, 60.0, Some(0), Some(9)),
            None
        );
        let text = forecast_coverage(5, 10, start, 60.0, Some(5), Some(9)).unwrap();
        assert!(text.contains("5 of the 10 steps"), "{text}");
        assert!(
            text.contains("from 2026-01-01T00:05:00Z to 2026-01-01T00:10:00Z"),
            "{text}"
        );
    }
}
