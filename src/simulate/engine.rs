//! The step loop: fleet → queueing → record → scaling decision, once per step.
//! Pure and allocation-free inside the loop (the timeline and event vectors are
//! reserved up front; events are rare).
use serde::Serialize;

use super::fleet::Fleet;
use super::latency::{LatencyModel, LatencyState, Source, StepLoad};
use super::policy::{Metric, Policy, TrackedMetric};
use super::queueing::{fluid_step, FluidStep};
use super::scaler::{Event, Observation, Scaler, ScalerConfig, ScalerCounts};
use super::whatif::{fleet_cap, DbLimit};

pub use super::latency::P95_CAP_MS;

/// What one worker can do.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WorkerCapacity {
    /// Sustainable rate of one worker at the SLO (the utilization denominator), rps.
    pub rps_per_worker: f64,
    /// Mean service time of one request (`1/mu` in the queueing model), seconds.
    pub service_time_seconds: f64,
}

/// Demand and forecast on the simulation grid, shared by every policy tried.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    /// Demand per step, rps.
    pub demand: &'a [f64],
    /// Per step, the largest forecast upper bound the pre-warm must cover (see
    /// [`forecast_lookahead`]), rps; NaN where there is no forecast.
    pub prewarm_rps: Option<&'a [f64]>,
    /// Step length, seconds.
    pub step_seconds: f64,
    /// Normal peak demand (the 99th percentile of demand), rps.
    pub normal_peak_rps: f64,
    /// Per step, whether its breaches and drops are excused from the error budget
    /// (short incidents `--recommend` reports instead of planning for); `None`: none are.
    pub excused: Option<&'a [bool]>,
    /// Per step, the busiest input row inside it when the rows are finer than the
    /// step (see `traffic::step_peaks`), rps; `None`: rows are not finer.
    pub burst_rps: Option<&'a [f64]>,
}

/// The first step whose mean the fleet carried but whose busiest input row it could
/// not: a burst the step's mean hides from the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HiddenBurst {
    /// Step index.
    pub step: u32,
    /// The busiest row's rate, rps.
    pub burst_rps: f64,
    /// The step's mean rate, rps.
    pub mean_rps: f64,
    /// The fleet's sustainable capacity during the step, rps.
    pub capacity_rps: f64,
}

/// How much to record and when to give up (the recommendation search stops early).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Keep one [`StepRecord`] per step.
    pub record_timeline: bool,
    /// Stop once the error budget below is spent (breach steps or dropped requests
    /// outside excused steps beyond it; with the default budgets of 0: at the first).
    pub stop_on_failure: bool,
    /// Breach steps allowed outside excused steps, steps.
    pub breach_budget_steps: u32,
    /// Dropped requests allowed outside excused steps, requests.
    pub drop_budget_requests: f64,
    /// Stop once instance-hours are sure to exceed this (spent so far plus `min_instances` for the rest).
    pub max_instance_hours: Option<f64>,
    /// Never grow the fleet beyond the connections this database accepts
    /// (`CAPPED_DB_CONNECTIONS`). `min_instances` must fit (checked by the caller).
    pub db_limit: Option<DbLimit>,
}

/// One step of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepRecord {
    /// Step index (time = start + index × step).
    pub step: u32,
    /// Arrivals, rps.
    pub demand_rps: f64,
    /// Completed, rps.
    pub served_rps: f64,
    /// All instances (billed), instances.
    pub instances: u32,
    /// Booting, instances.
    pub booting: u32,
    /// Warming, instances.
    pub warming: u32,
    /// Fully in service, instances.
    pub in_service: u32,
    /// Demand over sustainable capacity, fraction (above 1 means overloaded).
    pub utilization: f64,
    /// Requests waiting at the end of the step, requests.
    pub queue_depth: f64,
    /// Estimated p95 response time, ms.
    pub p95_ms: f64,
    /// Requests dropped in the step, requests.
    pub dropped: f64,
}

/// Totals of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SimulationTotals {
    /// Steps simulated, steps.
    pub steps: u32,
    /// Steps with p95 above the SLO, steps.
    pub breach_steps: u32,
    /// Time with p95 above the SLO, minutes.
    pub breach_minutes: f64,
    /// Share of time with p95 above the SLO, percent.
    pub breach_percent: f64,
    /// Requests dropped (queue full), requests.
    pub dropped_requests: f64,
    /// Requests offered, requests.
    pub total_requests: f64,
    /// Deepest queue at a step end, requests.
    pub max_queue_depth: f64,
    /// Worst step p95, ms.
    pub max_p95_ms: f64,
    /// Instance time billed (booting and warming included), instance-hours.
    pub instance_hours: f64,
    /// Most instances at once, instances.
    pub peak_instances: u32,
    /// Scale-ups made, decisions.
    pub scale_ups: u32,
    /// Scale-downs made, decisions.
    pub scale_downs: u32,
    /// Scale-downs followed by a scale-up within the window, flaps.
    pub flaps: u32,
    /// Decisions refused or capped (safety cap, max, database connections, freeze), decisions.
    pub refused: u32,
    /// Of those, capped by the database connection limit, decisions.
    pub db_capped: u32,
    /// Largest capacity asked for (initial fleet or any decision) before
    /// `max_instances` and the safety cap, instances. A run with a lower
    /// `max_instances` that is still at least this would be identical.
    pub max_requested: u32,
    /// The run reached the last step (false when stopped early).
    pub completed: bool,
    /// Steps whose p95 came from the measured curve, the model, or had no arrivals, steps.
    pub latency_steps: [u32; 3],
    /// Of `breach_steps`, those in excused steps, steps.
    pub excused_breach_steps: u32,
    /// Of `breach_steps`, those with p95 above `limits.freeze_p95_ms` (the panic
    /// freeze was on: scale-in held), steps.
    pub frozen_breach_steps: u32,
    /// Of `dropped_requests`, those in excused steps, requests.
    pub excused_dropped: f64,
    /// Steps whose mean fits the fleet's sustainable capacity but whose busiest input
    /// row does not (bursts shorter than the step), steps.
    pub hidden_burst_steps: u32,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct SimulationResult {
    pub totals: SimulationTotals,
    pub timeline: Vec<StepRecord>,
    pub events: Vec<Event>,
    /// Safety cap used, instances.
    pub safety_cap: u32,
    /// The first of `totals.hidden_burst_steps`.
    pub first_hidden_burst: Option<HiddenBurst>,
}

/// For each step `k`, the largest forecast value in steps `k+1 ..= k+1+horizon`
/// (the capacity a decision at the end of step `k` must put in place). O(n) with a
/// monotonic queue; NaN (no forecast) counts as nothing.
pub fn forecast_lookahead(upper: &[f64], horizon_steps: usize) -> Vec<f64> {
    let n = upper.len();
    let mut out = vec![f64::NAN; n];
    let mut window: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let value = |i: usize| {
        if upper[i].is_nan() {
            f64::NEG_INFINITY
        } else {
            upper[i]
        }
    };
    let mut next = 0;
    for (k, slot) in out.iter_mut().enumerate() {
        let end = (k + 1 + horizon_steps).min(n.saturating_sub(1));
        while next <= end && next < n {
            while window.back().is_some_and(|&j| value(j) <= value(next)) {
                window.pop_back();
            }
            window.push_back(next);
            next += 1;
        }
        while window.front().is_some_and(|&j| j < k + 1) {
            window.pop_front();
        }
        if let Some(&j) = window.front() {
            if value(j).is_finite() {
                *slot = value(j);
            }
        }
    }
    out
}

/// The "normal peak" the safety cap multiplies, rps: the median over 24-hour blocks
/// (from the start of the traffic) of each block's second-busiest hour (mean demand
/// of 3600-second blocks). One unusual hour a day, or unusual days short of half,
/// do not move it, and it changes continuously with the data: a spike does not set
/// the cap that is meant to contain it. The lower median is taken for an even count.
pub fn normal_peak_rps(demand: &[f64], step_seconds: f64) -> f64 {
    if demand.is_empty() || step_seconds.is_nan() || step_seconds <= 0.0 {
        return 0.0;
    }
    let per_hour = ((3600.0 / step_seconds).round() as usize).max(1);
    let hourly: Vec<f64> = demand
        .chunks(per_hour)
        .map(|hour| hour.iter().sum::<f64>() / hour.len() as f64)
        .collect();
    let mut daily: Vec<f64> = hourly
        .chunks(24)
        .map(|day| {
            let mut hours = day.to_vec();
            hours.sort_by(|a, b| b.total_cmp(a));
            hours[1.min(hours.len() - 1)]
        })
        .collect();
    daily.sort_by(f64::total_cmp);
    daily[(daily.len() - 1) / 2]
}

/// The normal peak of a run: the policy's `limits.normal_peak_rps`, else [`normal_peak_rps`].
pub fn normal_peak_of(policy: &Policy, demand: &[f64], step_seconds: f64) -> f64 {
    policy
        .limits
        .normal_peak_rps
        .unwrap_or_else(|| normal_peak_rps(demand, step_seconds))
}

/// Utilization the fleet is sized for when a count is computed from a rate
/// (initial fleet, pre-warm): the scale-up threshold when the metric is utilization
/// or rps per worker, otherwise 0.75.
pub fn sizing_utilization(policy: &Policy, capacity: &WorkerCapacity) -> f64 {
    let per_instance = f64::from(policy.fleet.workers_per_instance) * capacity.rps_per_worker;
    let (metric, level) = if let Some(tt) = &policy.target_tracking {
        (tt.metric.metric(), tt.target)
    } else if let Some(hpa) = &policy.hpa {
        let level = match hpa.metric {
            TrackedMetric::Utilization => hpa.target / 100.0,
            TrackedMetric::RpsPerInstance => hpa.target,
        };
        (hpa.metric.metric(), level)
    } else {
        (policy.scale_up.metric, policy.scale_up.threshold)
    };
    let value = match metric {
        Metric::Utilization => level,
        Metric::RpsPerWorker => level / capacity.rps_per_worker,
        Metric::RpsPerInstance => level / per_instance,
        Metric::QueueDepth | Metric::P95Ms => 0.75,
    };
    value.clamp(0.01, 1.0)
}

/// Instances needed to carry `rps` at `utilization` of sustainable capacity.
fn instances_for(rps: f64, per_instance_rps: f64, utilization: f64) -> u32 {
    if rps.is_nan() || rps <= 0.0 {
        return 0;
    }
    (rps / (per_instance_rps * utilization) - 1e-9)
        .ceil()
        .min(1e9) as u32
}

/// Simulate `workload` under `policy`. `latency` must be for `policy.fleet.workers_per_instance`.
pub fn run(
    workload: &Workload,
    policy: &Policy,
    capacity: &WorkerCapacity,
    latency: &LatencyModel,
    options: RunOptions,
) -> SimulationResult {
    debug_assert_eq!(latency.servers(), policy.fleet.workers_per_instance);
    let n = workload.demand.len();
    let dt = workload.step_seconds;
    let workers = f64::from(policy.fleet.workers_per_instance);
    let mu = 1.0 / capacity.service_time_seconds;
    let per_instance_rps = workers * capacity.rps_per_worker;
    let sizing = sizing_utilization(policy, capacity);
    let warm_share = policy.fleet.warmup_capacity;
    let slo_ms = policy.slo.p95_ms;

    let normal_peak = instances_for(workload.normal_peak_rps, per_instance_rps, 1.0).max(1);
    let safety_cap = (f64::from(normal_peak) * policy.limits.safety_cap_multiple).floor() as u32;
    let mut scaler = Scaler::new(ScalerConfig {
        db_cap: fleet_cap(options.db_limit, policy.fleet.workers_per_instance),
        ..ScalerConfig::new(policy, safety_cap, dt)
    });
    let prewarm_at = |k: usize| {
        workload
            .prewarm_rps
            .map_or(0, |p| instances_for(p[k], per_instance_rps, sizing))
    };

    let first = workload.demand.first().copied().unwrap_or(0.0);
    let wanted =
        instances_for(first, per_instance_rps, sizing).max(if n > 0 { prewarm_at(0) } else { 0 });
    let mut events = Vec::with_capacity(256);
    let initial = scaler.initial_fleet(wanted, &mut events);
    let mut fleet = Fleet::new(
        initial,
        policy.fleet.boot_seconds,
        policy.fleet.warmup_seconds,
        dt,
    );

    let mut timeline = Vec::with_capacity(if options.record_timeline { n } else { 0 });
    let mut totals = SimulationTotals {
        steps: n as u32,
        breach_steps: 0,
        breach_minutes: 0.0,
        breach_percent: 0.0,
        dropped_requests: 0.0,
        total_requests: 0.0,
        max_queue_depth: 0.0,
        max_p95_ms: 0.0,
        instance_hours: 0.0,
        peak_instances: 0,
        scale_ups: 0,
        scale_downs: 0,
        flaps: 0,
        refused: 0,
        db_capped: 0,
        max_requested: 0,
        completed: true,
        latency_steps: [0; 3],
        excused_breach_steps: 0,
        frozen_breach_steps: 0,
        excused_dropped: 0.0,
        hidden_burst_steps: 0,
    };
    let mut first_hidden_burst = None;
    let mut backlog = 0.0_f64;
    let mut latency_state = LatencyState::default();
    let mu_over_sustainable = mu / capacity.rps_per_worker;
    let min_instance_seconds = f64::from(policy.fleet.min_instances) * dt;
    let budget_seconds = options
        .max_instance_hours
        .map_or(f64::INFINITY, |h| h * 3600.0);
    let mut instance_seconds = 0.0;
    let decision_metric = policy.decision_metric();

    for (k, &lambda) in workload.demand.iter().enumerate() {
        let start = k as f64 * dt;
        let counts = fleet.counts_at(start);
        let accepting = f64::from(counts.in_service + counts.warming);
        let effective = f64::from(counts.in_service) + warm_share * f64::from(counts.warming);
        let service_rate = effective * workers * mu;
        // One division per step: everything else multiplies by this.
        let per_service_rate = if service_rate > 0.0 {
            1.0 / service_rate
        } else {
            0.0
        };

        // Fluid backlog: arrivals beyond the service rate queue, up to the backlog limit.
        let before = backlog;
        let limit = accepting * policy.fleet.max_queue_per_instance;
        let FluidStep {
            backlog: after,
            dropped,
        } = fluid_step(before, lambda, service_rate, dt, limit);
        backlog = after;

        let rho = lambda * per_service_rate;
        let step_latency = latency.step(
            &mut latency_state,
            &StepLoad {
                lambda,
                service_rate,
                accepting,
                backlog_before: before,
                backlog_limit: limit,
                dt,
            },
        );
        // NaN without arrivals: no latency to report (never a breach).
        let p95_ms = step_latency.p95_ms;
        let queue_depth = after + step_latency.queue;
        totals.latency_steps[match step_latency.source {
            Source::Measured => 0,
            Source::Model => 1,
            Source::None => 2,
        }] += 1;
        // Demand over sustainable capacity = rho x (mu / rps_per_worker).
        let utilization = if service_rate > 0.0 {
            rho * mu_over_sustainable
        } else {
            f64::MAX
        };

        totals.total_requests += lambda * dt;
        totals.dropped_requests += dropped;
        totals.max_queue_depth = totals.max_queue_depth.max(queue_depth);
        totals.max_p95_ms = totals.max_p95_ms.max(p95_ms);
        let total = counts.total();
        totals.peak_instances = totals.peak_instances.max(total);
        instance_seconds += f64::from(total) * dt;
        let breach = p95_ms > slo_ms;
        totals.breach_steps += u32::from(breach);
        totals.frozen_breach_steps += u32::from(breach && p95_ms > policy.limits.freeze_p95_ms);
        if let Some(bursts) = workload.burst_rps {
            let sustainable = effective * workers * capacity.rps_per_worker;
            if bursts[k] > sustainable && lambda <= sustainable {
                totals.hidden_burst_steps += 1;
                first_hidden_burst.get_or_insert(HiddenBurst {
                    step: k as u32,
                    burst_rps: bursts[k],
                    mean_rps: lambda,
                    capacity_rps: sustainable,
                });
            }
        }
        if workload.excused.is_some_and(|e| e[k]) {
            totals.excused_breach_steps += u32::from(breach);
            totals.excused_dropped += dropped;
        }

        if options.record_timeline {
            timeline.push(StepRecord {
                step: k as u32,
                demand_rps: lambda,
                served_rps: (lambda * dt + before - after - dropped) / dt,
                instances: total,
                booting: counts.booting,
                warming: counts.warming,
                in_service: counts.in_service,
                utilization,
                queue_depth,
                p95_ms,
                dropped,
            });
        }
        // Never fewer than min_instances from here on: a lower bound of the final bill.
        let floor_seconds = (n - k - 1) as f64 * min_instance_seconds;
        let over_budget = totals.breach_steps - totals.excused_breach_steps
            > options.breach_budget_steps
            || totals.dropped_requests - totals.excused_dropped > options.drop_budget_requests;
        if (options.stop_on_failure && over_budget)
            || instance_seconds + floor_seconds > budget_seconds
        {
            totals.steps = k as u32 + 1;
            totals.completed = false;
            break;
        }

        let metric = match decision_metric {
            Metric::Utilization => utilization,
            Metric::QueueDepth => queue_depth / accepting.max(1.0),
            Metric::P95Ms => p95_ms.max(0.0),
            Metric::RpsPerWorker => utilization * capacity.rps_per_worker,
            Metric::RpsPerInstance => lambda / accepting.max(1.0),
        };
        let observation = Observation {
            metric,
            p95_ms: p95_ms.max(0.0),
            counts,
        };
        let now = start + dt;
        let change = scaler.decide(now, &observation, prewarm_at(k), &mut events);
        if change > 0 {
            fleet.launch(change as u32, now);
        } else if change < 0 {
            fleet.remove((-change) as u32);
        }
    }

    let ScalerCounts {
        scale_ups,
        scale_downs,
        flaps,
        refused,
        db_capped,
        max_target,
    } = scaler.counts;
    totals.max_requested = wanted.max(max_target);
    totals.scale_ups = scale_ups;
    totals.scale_downs = scale_downs;
    totals.flaps = flaps;
    totals.refused = refused;
    totals.db_capped = db_capped;
    totals.instance_hours = instance_seconds / 3600.0;
    totals.breach_minutes = f64::from(totals.breach_steps) * dt / 60.0;
    totals.breach_percent = if n > 0 {
        100.0 * f64::from(totals.breach_steps) / n as f64
    } else {
        0.0
    };
    SimulationResult {
        totals,
        timeline,
        events,
        safety_cap,
        first_hidden_burst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookahead_takes_the_max_of_the_coming_steps() {
        let upper = [1.0, 5.0, 2.0, 3.0, f64::NAN, 1.0];
        let out = forecast_lookahead(&upper, 1);
        // step k looks at k+1..=k+2
        assert_eq!(&out[..5], &[5.0, 3.0, 3.0, 1.0, 1.0]);
        assert!(out[5].is_nan());
    }

    #[test]
    fn normal_peak_is_the_median_days_second_busiest_hour() {
        // Three days at 1-minute steps: hour h of every day at 10 + h rps.
        let mut demand: Vec<f64> = (0..3 * 1440)
            .map(|m| 10.0 + f64::from(m / 60 % 24))
            .collect();
        // Second-busiest hour of each day: 32 rps.
        assert_eq!(normal_peak_rps(&demand, 60.0), 32.0);
        // A 15-minute spike of 100x on day 2 moves nothing, nor does a whole busy day.
        demand[1440 + 600..1440 + 615]
            .iter_mut()
            .for_each(|v| *v *= 100.0);
        assert_eq!(normal_peak_rps(&demand, 60.0), 32.0);
        demand[1440 + 600..1440 + 615]
            .iter_mut()
            .for_each(|v| *v /= 100.0);
        demand[..1440].iter_mut().for_each(|v| *v *= 10.0);
        assert_eq!(normal_peak_rps(&demand, 60.0), 32.0);
        // One day: a spike inside one hour is that day's busiest hour, not its second.
        let mut day: Vec<f64> = vec![10.0; 1440];
        for minutes in [14, 15, 16, 59] {
            day.iter_mut().for_each(|v| *v = 10.0);
            day[600..600 + minutes].iter_mut().for_each(|v| *v = 1000.0);
            assert_eq!(normal_peak_rps(&day, 60.0), 10.0, "{minutes}-minute spike");
        }
        assert_eq!(normal_peak_rps(&[], 60.0), 0.0);
        assert_eq!(normal_peak_rps(&[5.0], 60.0), 5.0);
    }

    /// One worker per instance (10 rps sustainable, mu = 20 rps), at least one instance.
    fn setup() -> (Policy, WorkerCapacity, LatencyModel) {
        let mut policy = Policy::default();
        policy.fleet.workers_per_instance = 1;
        policy.fleet.min_instances = 1;
        let capacity = WorkerCapacity {
            rps_per_worker: 10.0,
            service_time_seconds: 0.05,
        };
        (policy, capacity, LatencyModel::new(1, 20.0, None))
    }

    /// `demand` at one-minute steps, without a forecast.
    fn per_minute(demand: &[f64], normal_peak_rps: f64) -> Workload<'_> {
        Workload {
            demand,
            prewarm_rps: None,
            step_seconds: 60.0,
            normal_peak_rps,
            excused: None,
            burst_rps: None,
        }
    }

    /// Keep the timeline, under `db_limit`.
    fn recorded(db_limit: Option<DbLimit>) -> RunOptions {
        RunOptions {
            record_timeline: true,
            db_limit,
            ..RunOptions::default()
        }
    }

    #[test]
    fn every_request_is_served_or_dropped() {
        // Bursty demand (deterministic pseudo-random), ending with idle time so the backlog drains.
        let mut x = 12345u64;
        let mut demand: Vec<f64> = (0..2000)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) % 400) as f64
            })
            .collect();
        demand.extend(std::iter::repeat_n(0.0, 60));
        let (mut policy, capacity, table) = setup();
        policy.fleet.max_instances = 10;
        policy.fleet.max_queue_per_instance = 500.0;
        let workload = per_minute(&demand, 200.0);
        let options = recorded(None);
        let result = run(&workload, &policy, &capacity, &table, options);
        let served: f64 = result.timeline.iter().map(|r| r.served_rps * 60.0).sum();
        let total = result.totals.total_requests;
        assert!(result.totals.dropped_requests > 0.0);
        assert!((served + result.totals.dropped_requests - total).abs() < 1e-6 * total);
        // Instances never leave [min, max] and the bill matches the timeline.
        assert!(result
            .timeline
            .iter()
            .all(|r| (1..=10).contains(&r.instances)));
        let hours: f64 = result
            .timeline
            .iter()
            .map(|r| f64::from(r.instances) / 60.0)
            .sum();
        assert!((hours - result.totals.instance_hours).abs() < 1e-9);
    }

    #[test]
    fn fluid_backlog_drains_and_drops_beyond_the_limit() {
        // One worker, mu = 20 rps. 30 rps for one minute: +600 queued, 200 over a limit of 400.
        let demand = [30.0, 10.0, 0.0];
        let (mut policy, capacity, table) = setup();
        policy.fleet.max_instances = 1;
        policy.fleet.max_queue_per_instance = 400.0;
        let workload = per_minute(&demand, 10.0);
        let options = recorded(None);
        let result = run(&workload, &policy, &capacity, &table, options);
        let t = &result.timeline;
        assert!((t[0].dropped - 200.0).abs() < 1e-9);
        // The fluid backlog (400) plus the stochastic queue of a saturated instance.
        assert!(t[0].queue_depth >= 400.0);
        assert!((t[0].served_rps - 20.0).abs() < 1e-9);
        // Drains 10 rps net: 400 -> 0 in 40 s, so the second step ends empty.
        assert!(t[1].queue_depth < 1.0);
        assert_eq!(result.totals.dropped_requests, 200.0);
    }

    #[test]
    fn database_limit_holds_the_fleet_and_the_breach_shows() {
        use crate::simulate::scaler::Reason;
        // 5 rps, then 100 rps for minutes 10-19, then 5 rps; one worker of mu = 20 rps
        // per instance; 40 connections at 10 per worker: at most 4 instances.
        let demand: Vec<f64> = (0..40)
            .map(|m| if (10..20).contains(&m) { 100.0 } else { 5.0 })
            .collect();
        let (mut policy, capacity, table) = setup();
        policy.fleet.boot_seconds = 60.0;
        policy.fleet.warmup_seconds = 0.0;
        policy.scale_up.step_percent = 100.0;
        policy.limits.safety_cap_multiple = 100.0;
        policy.limits.freeze_p95_ms = 1e12;
        let workload = per_minute(&demand, normal_peak_rps(&demand, 60.0));
        let db = DbLimit {
            max_connections: 40,
            pool_per_worker: 10,
        };
        let options = recorded(Some(db));
        let capped = run(&workload, &policy, &capacity, &table, options);
        // Decisions: 1 -> 2 at 11:00, 2 -> 4 at 13:00 (the step is taken from the
        // instances in service: the one booting in minute 12 is not counted), 4 -> 8
        // wanted at 15:00 and held at 4 (logged once for the whole spike).
        let reasons: Vec<(u32, u32, Reason)> = capped
            .events
            .iter()
            .filter(|e| e.at_seconds <= 1200.0)
            .map(|e| (e.from, e.to, e.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, 2, Reason::StepUp(Metric::Utilization)),
                (2, 4, Reason::StepUp(Metric::Utilization)),
                (4, 4, Reason::CappedDbConnections),
            ]
        );
        assert_eq!(capped.events[2].at_seconds, 900.0);
        assert_eq!((capped.totals.db_capped, capped.totals.refused), (1, 1));
        assert_eq!(capped.totals.peak_instances, 4);
        assert!(capped
            .timeline
            .iter()
            .all(|r| db.connections(r.instances, 1) <= 40));
        // 4 x 20 = 80 rps served against 100: every spike minute breaches.
        assert!(capped.timeline[10..20].iter().all(|r| r.p95_ms > 300.0));

        let options = recorded(None);
        let free = run(&workload, &policy, &capacity, &table, options);
        assert!(free.totals.peak_instances > 4);
        assert_eq!(free.totals.db_capped, 0);
        assert!(free.totals.breach_steps < capped.totals.breach_steps);
    }

    #[test]
    fn initial_fleet_starts_at_the_database_limit() {
        // 100 rps from the start needs 14 instances at 75 %; the database allows 4.
        let demand = vec![100.0; 5];
        let (mut policy, capacity, table) = setup();
        policy.limits.safety_cap_multiple = 100.0;
        policy.limits.freeze_p95_ms = 1e12;
        let workload = per_minute(&demand, 100.0);
        let options = recorded(Some(DbLimit {
            max_connections: 45,
            pool_per_worker: 10,
        }));
        let result = run(&workload, &policy, &capacity, &table, options);
        assert_eq!(result.timeline[0].instances, 4);
        assert_eq!(result.events.len(), 1);
        assert_eq!(result.events[0].at_seconds, 0.0);
        assert_eq!(result.totals.max_requested, 14);
        assert!(result.timeline.iter().all(|r| r.instances == 4));
    }
}
