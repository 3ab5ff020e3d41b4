//! `capplan simulate`: replay traffic through an autoscaling policy offline.
//!
//! Inputs are read and checked here, the pure core ([`engine::run`],
//! [`recommend::search`]) does the work, and `report::simulate` presents it.
pub mod engine;
pub mod fleet;
pub mod policy;
pub mod queueing;
pub mod recommend;
pub mod scaler;
pub mod traffic;
pub mod whatif;

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::SimulateArgs;
use crate::error::{InputError, Outcome};
use crate::report::simulate as render;
use engine::{Capacity, RunOptions, RunResult, Workload};
use policy::Policy;
use queueing::MmcTable;
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
    pub capacity: Capacity,
    /// Price of one instance-hour, when given.
    pub instance_cost: Option<f64>,
    pub result: RunResult,
    /// With `--recommend`.
    pub search: Option<Search>,
    /// The what-if levers and what they did.
    pub what_if: WhatIfReport,
    /// Per step, all demand before the CDN and the cache (rps); only when a
    /// lever is active (otherwise the timeline's demand is all of it).
    pub total_demand: Option<Vec<f64>>,
    /// Wall time of the core, for the benchmark script.
    pub timing: Timing,
}

/// Wall time of the pure core (not of reading or writing files), milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timing {
    /// The simulation of the user's policy, ms.
    pub simulate: f64,
    /// The `--recommend` search, ms (0 without it).
    pub recommend: f64,
}

/// Run `capplan simulate` as the command line asks.
pub fn run(args: SimulateArgs) -> anyhow::Result<Outcome> {
    let output = compute(&args)?;
    emit(&args, &output)
}

/// Read the inputs and simulate (and search, with `--recommend`): no output.
pub fn compute(args: &SimulateArgs) -> anyhow::Result<SimulateOutput> {
    crate::output::check_outputs(&[
        ("--timeline", args.timeline.as_deref()),
        ("--events", args.events.as_deref()),
        ("--json", args.report.json.as_deref()),
        ("--html", args.report.html.as_deref()),
        ("--plot", args.report.plot.as_deref()),
    ])?;
    let mut policy = match &args.policy {
        Some(path) => Policy::read(path)?,
        None => Policy::default(),
    };
    if let Some(slo) = args.slo_p95 {
        let ms = slo.as_secs_f64() * 1000.0;
        if ms <= 0.0 {
            return Err(InputError::flag("--slo-p95", "must be above 0").into());
        }
        policy.slo.p95_ms = ms;
    }
    let capacity = resolve_capacity(args)?;
    let step = args.step.as_secs_f64();
    if step < 1.0 {
        return Err(InputError::flag("--step", "must be at least 1s").into());
    }
    if let Some(cost) = args.instance_cost {
        if !(cost.is_finite() && cost >= 0.0) {
            return Err(InputError::flag(
                "--instance-cost",
                "must be a price per instance-hour >= 0",
            )
            .into());
        }
    }
    if !(1..=64).contains(&args.cores) {
        return Err(InputError::flag("--cores", "must be between 1 and 64").into());
    }
    let levers = DemandLevers {
        cdn_offload: args.cdn_offload,
        cache_hit: args.cache_hit,
    };
    let db_limit = db_limit(args, &policy)?;

    let series = traffic::read(&args.traffic, args.fill_gaps)?;
    let steps = (series.span_seconds() / step).ceil() as usize;
    let mut demand = traffic::resample(
        &series.rps,
        series.interval_seconds,
        0.0,
        step,
        steps,
        args.interpolate,
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

    let prewarm = match &args.forecast {
        Some(path) => Some(forecast_on_grid(
            path,
            &traffic::read(path, args.fill_gaps)?,
            &series.start,
            step,
            steps,
            args.interpolate,
            &policy,
            levers.app_share(),
        )?),
        None => None,
    };
    let workload = Workload {
        demand: &demand,
        prewarm_rps: prewarm.as_deref(),
        step_seconds: step,
        normal_peak_rps: engine::normal_peak_rps(&demand),
    };

    let clock = Instant::now();
    let table = MmcTable::new(policy.fleet.workers_per_instance);
    let options = RunOptions {
        // The HTML report and the plot draw the timeline too.
        record_timeline: args.timeline.is_some()
            || args.report.html.is_some()
            || args.report.plot.is_some(),
        db_limit,
        ..RunOptions::default()
    };
    let result = engine::run(&workload, &policy, &capacity, &table, options);
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

    let search = if args.recommend {
        let clock = Instant::now();
        let found = recommend::search(
            &workload,
            &policy,
            &capacity,
            app_demand.peak_rps,
            args.cores,
            args.instance_cost.unwrap_or(0.0),
            db_limit,
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
    let output = SimulateOutput {
        start: series.start,
        step_seconds: step,
        policy,
        capacity,
        instance_cost: args.instance_cost,
        result,
        search,
        what_if,
        total_demand,
        timing,
    };
    Ok(output)
}

/// Print and write every output the arguments ask for; exit 1 on a breach with
/// `--fail-on-breach`.
pub fn emit(args: &SimulateArgs, output: &SimulateOutput) -> anyhow::Result<Outcome> {
    // Files first: a closed pipe on the table must not cost them.
    let mut written = crate::output::Outcomes::default();
    if let Some(path) = &args.timeline {
        written.note(
            render::timeline_csv(output)
                .and_then(|csv| crate::output::write_bytes(path, &csv))
                .context("writing --timeline"),
        );
    }
    if let Some(path) = &args.events {
        written.note(
            render::events_csv(output)
                .and_then(|csv| crate::output::write_bytes(path, &csv))
                .context("writing --events"),
        );
    }
    if let Some(path) = &args.report.json {
        written.note(
            render::json(output)
                .and_then(|json| crate::output::write_bytes(path, json.as_bytes()))
                .context("writing --json"),
        );
    }
    if let Some(path) = &args.report.html {
        let page = crate::report::html::simulate_page(output);
        written.note(crate::output::write_bytes(path, page.as_bytes()).context("writing --html"));
    }
    if let Some(path) = &args.report.plot {
        let svg = crate::report::html::plot::stack(&[
            crate::report::html::simulate::demand_chart(output),
            crate::report::html::simulate::instances_chart(output),
        ]);
        written.note(crate::report::html::plot::write(path, &svg).context("writing --plot"));
    }
    // A CSV or the JSON on stdout keeps it: the table then goes to stderr.
    let stdout_taken = crate::output::any_stdout([
        args.timeline.as_deref(),
        args.events.as_deref(),
        args.report.json.as_deref(),
    ]);
    if !args.report.quiet {
        crate::output::print_text(&format!("{}\n", render::summary(output)), stdout_taken)?;
    }
    written.finish()?;

    let failures = failures(output);
    if args.fail_on_breach && !failures.is_empty() {
        for reason in &failures {
            eprintln!("simulate: SLO missed: {reason}");
        }
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Success)
}

/// Why the run misses the SLO (empty when it holds).
pub fn failures(output: &SimulateOutput) -> Vec<String> {
    let totals = &output.result.totals;
    let slo = &output.policy.slo;
    let mut reasons = Vec::new();
    if totals.breach_steps > 0 {
        reasons.push(format!(
            "p95 above {} ms for {:.1} minutes ({:.2}% of the time; worst {:.0} ms)",
            slo.p95_ms, totals.breach_minutes, totals.breach_percent, totals.max_p95_ms
        ));
    }
    let drop_rate = if totals.total_requests > 0.0 {
        totals.dropped_requests / totals.total_requests
    } else {
        0.0
    };
    if totals.dropped_requests > 0.0 && drop_rate > slo.max_drop_rate {
        reasons.push(format!(
            "{:.0} requests dropped ({:.4}% of requests; allowed {}%)",
            totals.dropped_requests,
            100.0 * drop_rate,
            100.0 * slo.max_drop_rate
        ));
    }
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

/// The database limit from `--db-max-connections` and `--pool-per-worker` (clap
/// makes them come together). The policy's smallest fleet must fit in it.
fn db_limit(args: &SimulateArgs, policy: &Policy) -> Result<Option<DbLimit>, InputError> {
    let (Some(max_connections), Some(pool_per_worker)) =
        (args.db_max_connections, args.pool_per_worker)
    else {
        return Ok(None);
    };
    if pool_per_worker == 0 {
        return Err(InputError::flag(
            "--pool-per-worker",
            "must be at least 1 connection per worker",
        ));
    }
    let db = DbLimit {
        max_connections,
        pool_per_worker,
    };
    let fleet = &policy.fleet;
    let needed = db.connections(fleet.min_instances, fleet.workers_per_instance);
    if needed > u64::from(max_connections) {
        return Err(InputError::flag(
            "--db-max-connections",
            format!(
                "{max_connections} connections cannot hold the smallest fleet: fleet.min_instances ({}) x fleet.workers_per_instance ({}) x --pool-per-worker ({pool_per_worker}) = {needed}; raise --db-max-connections or lower --pool-per-worker or min_instances",
                fleet.min_instances, fleet.workers_per_instance
            ),
        ));
    }
    Ok(Some(db))
}

/// Capacity from `--capacity`, overridden by `--rps-per-worker` / `--service-time`.
/// With only one of the two, the other is derived: `service_time = 1 / rps_per_worker`.
fn resolve_capacity(args: &SimulateArgs) -> Result<Capacity, InputError> {
    let profile = args
        .capacity
        .as_deref()
        .map(crate::formats::profile::read)
        .transpose()?;
    let rps = args
        .rps_per_worker
        .or(profile.as_ref().map(|p| p.rps_per_worker));
    let service = args
        .service_time
        .map(|d| d.as_secs_f64())
        .or(profile.as_ref().map(|p| p.service_time_ms.mean / 1000.0));
    if let Some(r) = args.rps_per_worker {
        if !(r.is_finite() && r > 0.0) {
            return Err(InputError::flag("--rps-per-worker", "must be a rate > 0"));
        }
    }
    if service.is_some_and(|s| s <= 0.0) {
        return Err(InputError::flag("--service-time", "must be above 0"));
    }
    let capacity = match (rps, service) {
        (Some(r), Some(s)) => Capacity { rps_per_worker: r, service_time_seconds: s },
        (Some(r), None) => Capacity { rps_per_worker: r, service_time_seconds: 1.0 / r },
        (None, Some(s)) => Capacity { rps_per_worker: 1.0 / s, service_time_seconds: s },
        (None, None) => {
            return Err(InputError::flag(
                "--rps-per-worker",
                "capacity needed: give --rps-per-worker and/or --service-time, or --capacity profile.json",
            ))
        }
    };
    if capacity.rps_per_worker > 1.0 / capacity.service_time_seconds * (1.0 + 1e-9) {
        if args.service_time.is_none() && profile.is_some() {
            // A measured profile's mean latency includes the network, so its
            // sustainable rate can beat 1/latency: the worker demonstrably served
            // that fast, so the model's service time is 1/rps_per_worker.
            return Ok(Capacity {
                rps_per_worker: capacity.rps_per_worker,
                service_time_seconds: 1.0 / capacity.rps_per_worker,
            });
        }
        return Err(InputError::flag(
            "--rps-per-worker",
            format!(
                "{} rps exceeds what one worker can serve at a {} ms service time ({:.1} rps)",
                capacity.rps_per_worker,
                capacity.service_time_seconds * 1000.0,
                1.0 / capacity.service_time_seconds
            ),
        ));
    }
    Ok(capacity)
}

/// The forecast's upper bound on the traffic grid, as the pre-warm lookahead.
#[allow(clippy::too_many_arguments)] // the grid, the policy horizon and the demand share, each needed
fn forecast_on_grid(
    path: &Path,
    forecast: &traffic::Series,
    start: &DateTime<Utc>,
    step: f64,
    steps: usize,
    mode: Interpolate,
    policy: &Policy,
    app_share: f64,
) -> Result<Vec<f64>, InputError> {
    let upper = forecast.upper.as_ref().ok_or_else(|| {
        InputError::at_line(
            path,
            1,
            "upper",
            "a --forecast file needs an upper column (timestamp,rps,lower,upper)",
        )
    })?;
    let offset = (forecast.start - *start).num_milliseconds() as f64 / 1000.0;
    let mut on_grid =
        traffic::resample(upper, forecast.interval_seconds, offset, step, steps, mode);
    // The forecast is of all traffic: only the app's share needs instances.
    on_grid.iter_mut().for_each(|v| *v *= app_share);
    let horizon =
        policy.predictive.lead_seconds + policy.fleet.boot_seconds + policy.fleet.warmup_seconds;
    Ok(engine::forecast_lookahead(
        &on_grid,
        (horizon / step).ceil() as usize,
    ))
}
