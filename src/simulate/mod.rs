//! `capplan simulate`: replay traffic through an autoscaling policy offline.
//!
//! Pure core: [`simulate`] takes the data already read and checked (traffic,
//! forecast, policy, capacity) and validated [`Settings`] and returns a
//! [`SimulateOutput`]; `commands::simulate` reads the files, prints and writes
//! (renderers: `report::simulate`).
pub mod engine;
pub mod fleet;
pub mod hpa;
pub mod latency;
pub mod policy;
pub mod policy_import;
pub mod queueing;
pub mod recommend;
pub mod scaler;
pub mod traffic;
pub mod warnings;
pub mod whatif;

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;

use engine::{RunOptions, SimulationResult, WorkerCapacity, Workload};
use latency::{LatencyModel, LatencyReport, MeasuredCurve};
use policy::Policy;
use recommend::Search;
use traffic::Interpolate;
use whatif::{DbLimit, DbReport, DemandFigures, DemandLevers, WhatIfReport};

/// Everything a simulate run produced, handed to the renderers.
#[derive(Debug, Clone)]
pub struct SimulateOutput {
    /// Time of step 0.
    pub start: DateTime<Utc>,
    /// Step length, seconds.
    pub step_seconds: f64,
    /// The policy simulated (with `--slo-p95` applied).
    pub policy: Policy,
    pub capacity: WorkerCapacity,
    /// Price of one instance-hour, when given.
    pub instance_cost: Option<f64>,
    pub result: SimulationResult,
    /// Which latency model the run's p95 came from.
    pub latency: LatencyReport,
    /// With `--recommend`.
    pub search: Option<Search>,
    /// The what-if levers and what they did.
    pub what_if: WhatIfReport,
    /// Per step, all demand before the CDN and the cache (rps); only when a
    /// lever is active (otherwise the timeline's demand is all of it).
    pub total_demand: Option<Vec<f64>>,
    /// The normal peak the safety cap multiplies, rps, and whether the policy gave it.
    pub normal_peak: NormalPeak,
    /// What the user must hear before trusting the verdict (see [`warnings`]).
    pub warnings: Vec<String>,
    /// Wall time of the core, for the benchmark script.
    pub timing: Timing,
}

/// The safety cap's reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NormalPeak {
    /// Normal peak demand, rps.
    pub rps: f64,
    /// `limits.normal_peak_rps` gave it (else the traffic's median day's second-busiest hour).
    pub from_policy: bool,
}

/// Wall time of the pure core (not of reading or writing files), milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timing {
    /// The simulation of the user's policy, ms.
    pub simulate: f64,
    /// The `--recommend` search, ms (0 without it).
    pub recommend: f64,
}

/// Validated settings of one simulation.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Simulation step, seconds (at least 1).
    pub step_seconds: f64,
    /// How a step between two input rows is filled.
    pub interpolate: Interpolate,
    /// CDN offload and cache hits: demand that never reaches the app.
    pub levers: DemandLevers,
    /// The database's connection limit; the policy's smallest fleet fits in it.
    pub db_limit: Option<DbLimit>,
    /// Price of one instance-hour, when given.
    pub instance_cost: Option<f64>,
    /// Search for the cheapest passing policy (`--recommend`).
    pub recommend: bool,
    /// Cores per instance: the search tries 2..4 workers per core.
    pub cores: u32,
    /// Let the search recommend `min_instances = 1` (`--allow-single-instance`).
    pub allow_single_instance: bool,
    /// Longest stretch of extreme demand the search reports as an incident instead
    /// of planning for (`--incident-max`), seconds; 0: none.
    pub incident_max_seconds: f64,
    /// Keep the per-step timeline (the timeline CSV, the HTML report and the plot draw it).
    pub record_timeline: bool,
}

/// The upper bound of a forecast (the `upper` column of `--forecast`), on its own grid.
#[derive(Debug, Clone)]
pub struct ForecastUpper {
    /// Timestamp of the first row.
    pub start: DateTime<Utc>,
    /// Spacing of the rows, seconds.
    pub interval_seconds: f64,
    /// Upper bound per row, requests per second.
    pub upper: Vec<f64>,
}

/// What one simulation runs on, already read and checked.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub traffic: traffic::Series,
    /// The pre-warm lookahead's source; `None`: a reactive policy only.
    pub forecast: Option<ForecastUpper>,
    /// The policy simulated (with `--slo-p95` applied).
    pub policy: Policy,
    pub capacity: WorkerCapacity,
    /// A capacity profile's measured load -> p95 curve (`None`: the queueing model only).
    pub curve: Option<MeasuredCurve>,
}

/// Simulate (and search, with `settings.recommend`): data in, data out.
pub fn simulate(inputs: Inputs, settings: &Settings) -> SimulateOutput {
    let Inputs {
        traffic: series,
        forecast,
        policy,
        capacity,
        curve,
    } = inputs;
    let step = settings.step_seconds;
    let levers = settings.levers;
    let db_limit = settings.db_limit;
    let steps = (series.span_seconds() / step).ceil() as usize;
    let mut demand = traffic::resample(
        &series.rps,
        series.interval_seconds,
        0.0,
        step,
        steps,
        settings.interpolate,
    );
    demand
        .iter_mut()
        .filter(|v| v.is_nan())
        .for_each(|v| *v = 0.0);
    // From here on `demand` is what reaches the workers.
    let total_demand = levers.active().then(|| {
        let app = levers.app_demand(&demand);
        std::mem::replace(&mut demand, app)
    });

    let mut findings = Vec::new();
    let forecast_grid = forecast.as_ref().map(|forecast| {
        let on_grid = forecast_on_grid(
            forecast,
            &series.start,
            step,
            steps,
            settings.interpolate,
            levers.app_share(),
        );
        let covered = || on_grid.iter().enumerate().filter(|(_, v)| !v.is_nan());
        findings.extend(warnings::forecast_coverage(
            covered().count(),
            steps,
            series.start,
            step,
            covered().next().map(|(k, _)| k),
            covered().next_back().map(|(k, _)| k),
        ));
        on_grid
    });
    let prewarm = forecast_grid.as_ref().map(|on_grid| {
        let horizon = policy.predictive.launch_ahead_seconds(&policy.fleet);
        engine::forecast_lookahead(on_grid, (horizon / step).ceil() as usize)
    });
    // Rows finer than the step: the busiest row of each step, as the app sees it.
    let bursts = (series.interval_seconds < step).then(|| {
        let mut peaks = traffic::step_peaks(&series.rps, series.interval_seconds, step, steps);
        peaks.iter_mut().for_each(|p| *p *= levers.app_share());
        peaks
    });
    let normal_peak = NormalPeak {
        rps: engine::normal_peak_of(&policy, &demand, step),
        from_policy: policy.limits.normal_peak_rps.is_some(),
    };
    let workload = Workload {
        demand: &demand,
        prewarm_rps: prewarm.as_deref(),
        step_seconds: step,
        normal_peak_rps: normal_peak.rps,
        excused: None,
        burst_rps: bursts.as_deref(),
    };

    let clock = Instant::now();
    let mu = 1.0 / capacity.service_time_seconds;
    let latency = LatencyModel::new(policy.fleet.workers_per_instance, mu, curve.as_ref());
    let options = RunOptions {
        record_timeline: settings.record_timeline,
        db_limit,
        ..RunOptions::default()
    };
    let result = engine::run(&workload, &policy, &capacity, &latency, options);
    findings.extend(warnings::hidden_bursts(
        &result,
        series.start,
        series.interval_seconds,
        step,
    ));
    findings.extend(warnings::flapping(&policy, &capacity, &latency));
    let latency_report = LatencyReport::new(curve.as_ref(), result.totals.latency_steps);
    let mut timing = Timing {
        simulate: clock.elapsed().as_secs_f64() * 1000.0,
        recommend: 0.0,
    };

    // One pass over each series: the app's figures also size the recommend grid,
    // and without a lever all demand is the app's.
    let app_demand = DemandFigures::of(&demand, step);
    let all_demand = total_demand
        .as_deref()
        .map_or(app_demand, |total| DemandFigures::of(total, step));

    let search = if settings.recommend {
        let clock = Instant::now();
        let found = recommend::search(
            &workload,
            &policy,
            &recommend::SearchSettings {
                capacity: &capacity,
                curve: curve.as_ref(),
                workers_measured: curve.as_ref().map(MeasuredCurve::workers),
                cores: settings.cores,
                instance_cost: settings.instance_cost.unwrap_or(0.0),
                db_limit,
                allow_single_instance: settings.allow_single_instance,
                incident_max_seconds: settings.incident_max_seconds,
                estimate_optimality: true,
                forecast_on_grid: forecast_grid.as_deref(),
            },
        );
        timing.recommend = clock.elapsed().as_secs_f64() * 1000.0;
        Some(found)
    } else {
        None
    };

    let what_if = WhatIfReport {
        cdn_offload: levers.cdn_offload,
        cache_hit: levers.cache_hit,
        app_share: levers.app_share(),
        demand: all_demand,
        app_demand,
        db_connections: db_limit.map(|db| {
            DbReport::new(
                db,
                policy.fleet.workers_per_instance,
                result.totals.peak_instances,
                result.totals.db_capped,
            )
        }),
    };
    SimulateOutput {
        start: series.start,
        step_seconds: step,
        policy,
        capacity,
        instance_cost: settings.instance_cost,
        result,
        latency: latency_report,
        search,
        what_if,
        total_demand,
        normal_peak,
        warnings: findings,
        timing,
    }
}

/// One part of the SLO verdict: the latency objective within its error budget, or
/// the drop rate.
#[derive(Debug, Clone, PartialEq)]
pub struct SloCheck {
    /// What is checked, e.g. `p95 <= 300 ms (budget 0 minutes)`.
    pub name: String,
    /// Why it failed; `None` when it held.
    pub failure: Option<String>,
}

/// The SLO's two checks: p95 within the breach budget, drops within the drop rate.
pub fn slo_checks(output: &SimulateOutput) -> [SloCheck; 2] {
    let totals = &output.result.totals;
    let slo = &output.policy.slo;
    let latency_failed = totals.breach_steps > 0 && totals.breach_minutes > slo.max_breach_minutes;
    let budget = if slo.max_breach_minutes > 0.0 {
        format!("; budget {} minutes", slo.max_breach_minutes)
    } else {
        String::new()
    };
    let drop_rate = if totals.total_requests > 0.0 {
        totals.dropped_requests / totals.total_requests
    } else {
        0.0
    };
    let drops_failed = totals.dropped_requests > 0.0 && drop_rate > slo.max_drop_rate;
    [
        SloCheck {
            name: format!(
                "p95 at most {} ms, error budget {} minutes",
                slo.p95_ms, slo.max_breach_minutes
            ),
            failure: latency_failed.then(|| {
                format!(
                    "p95 above {} ms for {:.1} minutes ({:.2}% of the time; worst {:.0} ms{budget})",
                    slo.p95_ms, totals.breach_minutes, totals.breach_percent, totals.max_p95_ms
                )
            }),
        },
        SloCheck {
            name: format!("drop rate at most {}%", 100.0 * slo.max_drop_rate),
            failure: drops_failed.then(|| {
                format!(
                    "{:.0} requests dropped ({:.4}% of requests; allowed {}%)",
                    totals.dropped_requests,
                    100.0 * drop_rate,
                    100.0 * slo.max_drop_rate
                )
            }),
        },
    ]
}

/// Why the run misses the SLO (empty when it holds).
pub fn failures(output: &SimulateOutput) -> Vec<String> {
    let mut reasons: Vec<String> = slo_checks(output)
        .into_iter()
        .filter_map(|check| check.failure)
        .collect();
    if let Some(db) = output.what_if.db_connections {
        if !reasons.is_empty() && db.capped_decisions > 0 {
            reasons.push(format!(
                "the fleet was held at {} instances by --db-max-connections {} ({} connections per instance; CAPPED_DB_CONNECTIONS events: {})",
                db.max_instances, db.max_connections, db.connections_per_instance, db.capped_decisions
            ));
        }
    }
    reasons
}

/// A stretch of consecutive steps whose p95 is above the SLO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreachWindow {
    /// First step of the stretch.
    pub first_step: u32,
    /// Steps in it, steps.
    pub steps: u32,
    /// Its worst p95, ms.
    pub worst_p95_ms: f64,
}

/// The breach windows of the recorded timeline (empty when none was recorded).
pub fn breach_windows(output: &SimulateOutput) -> Vec<BreachWindow> {
    let slo_ms = output.policy.slo.p95_ms;
    let mut windows: Vec<BreachWindow> = Vec::new();
    for record in &output.result.timeline {
        if record.p95_ms.is_nan() || record.p95_ms <= slo_ms {
            continue;
        }
        match windows.last_mut() {
            Some(w) if w.first_step + w.steps == record.step => {
                w.steps += 1;
                w.worst_p95_ms = w.worst_p95_ms.max(record.p95_ms);
            }
            _ => windows.push(BreachWindow {
                first_step: record.step,
                steps: 1,
                worst_p95_ms: record.p95_ms,
            }),
        }
    }
    windows
}

/// The forecast's upper bound on the traffic grid (NaN where it has no value), as
/// the app's share of it.
fn forecast_on_grid(
    forecast: &ForecastUpper,
    start: &DateTime<Utc>,
    step: f64,
    steps: usize,
    mode: Interpolate,
    app_share: f64,
) -> Vec<f64> {
    let offset = (forecast.start - *start).num_milliseconds() as f64 / 1000.0;
    let mut on_grid = traffic::resample(
        &forecast.upper,
        forecast.interval_seconds,
        offset,
        step,
        steps,
        mode,
    );
    // The forecast is of all traffic: only the app's share needs instances.
    on_grid.iter_mut().for_each(|v| *v *= app_share);
    on_grid
}
