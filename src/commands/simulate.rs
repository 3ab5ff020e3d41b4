//! `capplan simulate` as a command: flags to a [`Settings`], the policy, capacity,
//! traffic and forecast read and checked, the pure core ([`crate::simulate::simulate`])
//! run, the outputs written and printed.
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::{ReportArgs, SimulateArgs};
use crate::commands::prometheus::{history_source, HistoryQuery};
use crate::error::{InputError, Outcome};
use crate::formats::profile::CapacityProfile;
use crate::output::{self, write_bytes};
use crate::report::html;
use crate::report::simulate as render;
use crate::simulate::engine::WorkerCapacity;
use crate::simulate::latency::MeasuredCurve;
use crate::simulate::policy::Policy;
use crate::simulate::whatif::{DbLimit, DemandLevers};
use crate::simulate::{failures, traffic, ForecastUpper, Inputs, Settings, SimulateOutput};
use crate::slo::LatencySlo;

/// The files one simulation reads besides the policy and the capacity profile.
#[derive(Debug, Clone)]
pub struct Files {
    /// The traffic replayed (`--traffic`); with `prometheus`, the name errors give it.
    pub traffic: PathBuf,
    /// Read the traffic from Prometheus instead (`--prometheus`), at the simulation step.
    pub prometheus: Option<HistoryQuery>,
    /// A forecast CSV whose `upper` column drives the pre-warm (`--forecast`).
    pub forecast: Option<PathBuf>,
    /// Interpolate missing intervals instead of failing (`--fill-gaps`).
    pub fill_gaps: bool,
}

/// Where one simulation's results go (`-`: standard output), and the exit it asks for.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// The per-step timeline CSV (`--timeline`).
    pub timeline: Option<PathBuf>,
    /// The scaling events CSV (`--events`).
    pub events: Option<PathBuf>,
    pub report: ReportArgs,
    /// Exit 1 when the SLO is missed (`--fail-on-breach`).
    pub fail_on_breach: bool,
    /// The verdict as JUnit XML (`--junit`).
    pub junit: Option<PathBuf>,
}

impl Outputs {
    pub fn of(args: &SimulateArgs) -> Outputs {
        Outputs {
            timeline: args.timeline.clone(),
            events: args.events.clone(),
            report: args.report.clone(),
            fail_on_breach: args.fail_on_breach,
            junit: args.junit.clone(),
        }
    }

    /// Check every output before any work (see [`output::check_outputs`]).
    pub fn check(&self) -> Result<(), InputError> {
        output::check_outputs(&[
            ("--timeline", self.timeline.as_deref()),
            ("--events", self.events.as_deref()),
            ("--json", self.report.json.as_deref()),
            ("--html", self.report.html.as_deref()),
            ("--plot", self.report.plot.as_deref()),
            ("--junit", self.junit.as_deref()),
        ])
    }

    /// Whether an output draws the per-step timeline (the HTML report and the plot do
    /// too; the JUnit report lists the breach windows).
    pub fn needs_timeline(&self) -> bool {
        self.timeline.is_some()
            || self.report.html.is_some()
            || self.report.plot.is_some()
            || self.junit.is_some()
    }
}

/// Run `capplan simulate` as the command line asks.
pub fn run(args: SimulateArgs) -> anyhow::Result<Outcome> {
    let output = compute(&args)?;
    emit(&Outputs::of(&args), &output)
}

/// Check the outputs, read the inputs and simulate (and search, with
/// `--recommend`): no output.
pub fn compute(args: &SimulateArgs) -> anyhow::Result<SimulateOutput> {
    Outputs::of(args).check()?;
    let policy = policy_from(args)?;
    let (capacity, curve) = resolve_capacity(args, &policy.slo.latency())?;
    let settings = settings_from(args, &policy)?;
    simulate(&files_from(args)?, policy, capacity, curve, &settings)
}

/// Read the traffic (and the forecast) and simulate with a policy, capacity and
/// settings already validated: the entry a caller without a command line (the demo) uses.
pub fn simulate(
    files: &Files,
    policy: Policy,
    capacity: WorkerCapacity,
    curve: Option<MeasuredCurve>,
    settings: &Settings,
) -> anyhow::Result<SimulateOutput> {
    let traffic = match &files.prometheus {
        Some(query) => {
            let text =
                crate::commands::prometheus::fetch(query, settings.step_seconds.round() as i64)?;
            traffic::parse_text(&text, &files.traffic, files.fill_gaps)?
        }
        None => traffic::read(&files.traffic, files.fill_gaps)?,
    };
    let forecast = match &files.forecast {
        Some(path) => Some(read_forecast_upper(path, files.fill_gaps)?),
        None => None,
    };
    if let (Some(forecast), Some(path)) = (&forecast, &files.forecast) {
        check_overlap(&traffic, forecast, path)?;
    }
    let inputs = Inputs {
        traffic,
        forecast,
        policy,
        capacity,
        curve,
    };
    Ok(crate::simulate::simulate(inputs, settings))
}

/// Write every output asked for, then print the summary; exit 1 on a breach with
/// `fail_on_breach`.
pub fn emit(outputs: &Outputs, output: &SimulateOutput) -> anyhow::Result<Outcome> {
    // Files first: a closed pipe on the table must not cost them.
    let mut written = output::Outcomes::default();
    if let Some(path) = &outputs.timeline {
        written.note(
            render::timeline_csv(output)
                .and_then(|csv| write_bytes(path, &csv))
                .context("writing --timeline"),
        );
    }
    if let Some(path) = &outputs.events {
        written.note(
            render::events_csv(output)
                .and_then(|csv| write_bytes(path, &csv))
                .context("writing --events"),
        );
    }
    if let Some(path) = &outputs.report.json {
        written.note(
            render::json(output)
                .and_then(|json| write_bytes(path, json.as_bytes()))
                .context("writing --json"),
        );
    }
    if let Some(path) = &outputs.junit {
        written.note(
            crate::report::junit::simulate(output)
                .and_then(|xml| write_bytes(path, &xml))
                .context("writing --junit"),
        );
    }
    if let Some(path) = &outputs.report.html {
        let page = html::simulate_page(output);
        written.note(write_bytes(path, page.as_bytes()).context("writing --html"));
    }
    if let Some(path) = &outputs.report.plot {
        let svg = html::plot::stack(&[
            html::simulate::demand_chart(output),
            html::simulate::instances_chart(output),
        ]);
        written.note(html::plot::write(path, &svg).context("writing --plot"));
    }
    // A CSV or the JSON on stdout keeps it: the table then goes to stderr.
    let stdout_taken = output::any_stdout([
        outputs.timeline.as_deref(),
        outputs.events.as_deref(),
        outputs.report.json.as_deref(),
        outputs.junit.as_deref(),
    ]);
    if !outputs.report.quiet {
        output::print_text(&format!("{}\n", render::summary(output)), stdout_taken)?;
    } else {
        for warning in &output.warnings {
            eprintln!("warning: {warning}");
        }
    }
    written.finish()?;

    let failures = failures(output);
    if outputs.fail_on_breach && !failures.is_empty() {
        for reason in &failures {
            eprintln!("simulate: SLO missed: {reason}");
        }
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Success)
}

/// The files to read.
pub fn files_from(args: &SimulateArgs) -> Result<Files, InputError> {
    let (traffic, prometheus) = history_source(
        args.traffic.as_ref(),
        &args.prometheus,
        std::time::Duration::from_secs(7 * 86_400),
        "--traffic",
    )?;
    Ok(Files {
        traffic,
        prometheus,
        forecast: args.forecast.clone(),
        fill_gaps: args.fill_gaps,
    })
}

/// The policy file (or the default policy), with `--slo-p95` applied.
pub fn policy_from(args: &SimulateArgs) -> Result<Policy, InputError> {
    let mut policy = match &args.policy {
        Some(path) => {
            // An AWS or Kubernetes document says how it was mapped.
            let imported = Policy::read_with_notes(path)?;
            for note in &imported.notes {
                eprintln!("note: {}: {note}", path.display());
            }
            imported.policy
        }
        None => Policy::default(),
    };
    if let Some(slo) = args.slo_p95 {
        let ms = slo.as_secs_f64() * 1000.0;
        if ms <= 0.0 {
            return Err(InputError::flag("--slo-p95", "must be above 0"));
        }
        policy.slo.p95_ms = ms;
    }
    Ok(policy)
}

/// The validated settings; `policy` is what the database limit must hold.
pub fn settings_from(args: &SimulateArgs, policy: &Policy) -> Result<Settings, InputError> {
    let step = args.step.as_secs_f64();
    if step < 1.0 {
        return Err(InputError::flag("--step", "must be at least 1s"));
    }
    if let Some(cost) = args.instance_cost {
        if !(cost.is_finite() && cost >= 0.0) {
            return Err(InputError::flag(
                "--instance-cost",
                "must be a price per instance-hour >= 0",
            ));
        }
    }
    if !(1..=64).contains(&args.cores) {
        return Err(InputError::flag("--cores", "must be between 1 and 64"));
    }
    Ok(Settings {
        step_seconds: step,
        interpolate: args.interpolate,
        levers: DemandLevers {
            cdn_offload: args.cdn_offload,
            cache_hit: args.cache_hit,
        },
        db_limit: db_limit(args, policy)?,
        instance_cost: args.instance_cost,
        recommend: args.recommend,
        cores: args.cores,
        allow_single_instance: args.allow_single_instance,
        incident_max_seconds: args.incident_max.as_secs_f64(),
        record_timeline: Outputs::of(args).needs_timeline(),
    })
}

/// A forecast that shares no time with the traffic can pre-warm nothing: a wrong file
/// or a wrong year, not a policy finding.
fn check_overlap(
    traffic: &traffic::Series,
    forecast: &ForecastUpper,
    path: &Path,
) -> Result<(), InputError> {
    let end = |start: chrono::DateTime<chrono::Utc>, seconds: f64| {
        start + chrono::Duration::milliseconds((seconds * 1000.0) as i64)
    };
    let traffic_end = end(traffic.start, traffic.span_seconds());
    let forecast_end = end(
        forecast.start,
        forecast.upper.len() as f64 * forecast.interval_seconds,
    );
    if forecast_end <= traffic.start || forecast.start >= traffic_end {
        let fmt =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        return Err(InputError::file(
            path,
            format!(
                "the forecast covers {} to {}, the traffic {} to {}: they do not overlap, so \
                 nothing would be pre-warmed (a forecast of another period?)",
                fmt(forecast.start),
                fmt(forecast_end),
                fmt(traffic.start),
                fmt(traffic_end)
            ),
        ));
    }
    Ok(())
}

/// A `--forecast` file's upper bound: the file must have that column.
fn read_forecast_upper(path: &Path, fill_gaps: bool) -> Result<ForecastUpper, InputError> {
    let forecast = traffic::read(path, fill_gaps)?;
    let upper = forecast.upper.ok_or_else(|| {
        InputError::at_line(
            path,
            1,
            "upper",
            "a --forecast file needs an upper column (timestamp,rps,lower,upper)",
        )
    })?;
    Ok(ForecastUpper {
        start: forecast.start,
        interval_seconds: forecast.interval_seconds,
        upper,
    })
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

/// The workers' capacity from `--capacity`, overridden by `--rps-per-worker` / `--service-time`,
/// and the profile's measured curve (kept with the overrides: it is a measurement).
fn resolve_capacity(
    args: &SimulateArgs,
    objective: &LatencySlo,
) -> Result<(WorkerCapacity, Option<MeasuredCurve>), InputError> {
    let profile = args
        .capacity
        .as_deref()
        .map(crate::formats::profile::read)
        .transpose()?;
    let curve = match (&profile, args.capacity.as_deref()) {
        (Some(profile), Some(path)) => curve_of_profile(profile, path)?,
        _ => None,
    };
    capacity_from(args, objective, profile.as_ref()).map(|c| (c, curve))
}

/// A profile's measured curve for the latency model (`None` when it has no points).
pub fn curve_of_profile(
    profile: &CapacityProfile,
    path: &Path,
) -> Result<Option<MeasuredCurve>, InputError> {
    if profile.curve.is_empty() {
        return Ok(None);
    }
    let points: Vec<(f64, f64)> = profile.curve.iter().map(|p| (p.rps, p.p95_ms)).collect();
    MeasuredCurve::new(&points, profile.workers_measured)
        .map(Some)
        .map_err(|message| InputError::file(path, message))
}

/// With only one of the two flags, the other is derived: `service_time = 1 / rps_per_worker`.
fn capacity_from(
    args: &SimulateArgs,
    objective: &LatencySlo,
    profile: Option<&CapacityProfile>,
) -> Result<WorkerCapacity, InputError> {
    if let Some(note) = profile
        .as_ref()
        .and_then(|p| objective_mismatch(&p.slo, objective))
    {
        eprintln!("note: {note}");
    }
    if let (Some(profile), None, None) = (&profile, args.rps_per_worker, args.service_time) {
        return Ok(capacity_of_profile(profile));
    }
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
        (Some(r), Some(s)) => WorkerCapacity { rps_per_worker: r, service_time_seconds: s },
        (Some(r), None) => WorkerCapacity { rps_per_worker: r, service_time_seconds: 1.0 / r },
        (None, Some(s)) => WorkerCapacity { rps_per_worker: 1.0 / s, service_time_seconds: s },
        (None, None) => {
            return Err(InputError::flag(
                "--rps-per-worker",
                "capacity needed: give --rps-per-worker and/or --service-time, or --capacity profile.json",
            ))
        }
    };
    if capacity.rps_per_worker > 1.0 / capacity.service_time_seconds * (1.0 + 1e-9) {
        if args.service_time.is_none() && profile.is_some() {
            // --rps-per-worker over a profile's service time: as for the profile alone.
            return Ok(WorkerCapacity {
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

/// The workers' capacity a profile alone gives: its sustainable rate per worker
/// and mean latency. A measured profile's mean latency includes the network, so
/// its sustainable rate can beat 1/latency: the worker demonstrably served that
/// fast, so the model's service time is then 1/rps_per_worker.
pub fn capacity_of_profile(profile: &CapacityProfile) -> WorkerCapacity {
    let rps = profile.rps_per_worker;
    let service = profile.service_time_ms.mean / 1000.0;
    WorkerCapacity {
        rps_per_worker: rps,
        service_time_seconds: if rps > 1.0 / service * (1.0 + 1e-9) {
            1.0 / rps
        } else {
            service
        },
    }
}

/// A capacity profile measured against a looser or another objective than the one
/// simulated: its knee is not what a worker sustains at this SLO.
fn objective_mismatch(measured: &LatencySlo, simulated: &LatencySlo) -> Option<String> {
    if measured.statistic() != simulated.statistic() {
        return Some(format!(
            "the capacity profile's knee holds {measured}, not the simulated objective \
             {simulated}: measure it with --find-capacity --slo \"{simulated}\" to size for this SLO"
        ));
    }
    (measured.limit_ms() > simulated.limit_ms()).then(|| {
        format!(
            "the capacity profile's knee holds {measured}, looser than the simulated \
             {simulated}: its rps_per_worker is more than a worker sustains at this SLO \
             (measure it with --find-capacity --slo \"{simulated}\")"
        )
    })
}
