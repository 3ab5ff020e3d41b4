//! `capplan demo`: the whole pipeline on embedded defaults. It runs the commands a user
//! would, one after the other, through their typed entries (`commands::*`), on files
//! in a work folder:
//! `target` → `loadtest --find-capacity` → `loadtest --rate` → `forecast` → `simulate`
//! (reactive vs predictive) → `simulate --recommend`, and with `--html` one report of it all.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;

use crate::cli::{DemoArgs, ReportArgs};
use crate::commands::forecast as forecast_cmd;
use crate::commands::loadtest::find_capacity::{search_and_report, SearchOutputs};
use crate::commands::loadtest::plan::url_plan;
use crate::commands::loadtest::{measure_plan, report_run, Outputs as LoadtestOutputs};
use crate::commands::simulate as simulate_cmd;
use crate::error::{Outcome, RunError};
use crate::forecast::ingest::IngestOptions;
use crate::forecast::Settings as ForecastSettings;
use crate::loadtest::capacity_search::SloRule;
use crate::loadtest::find_capacity::CapacitySearch;
use crate::loadtest::plan::{Arrivals, LoadModel, RunLength};
use crate::simulate::policy::Policy;
use crate::simulate::traffic::Interpolate;
use crate::simulate::whatif::DemandLevers;
use crate::simulate::{Settings as SimulateSettings, SimulateOutput};
use crate::slo::LatencySlo;

/// A run of `duration` whose first `warmup_seconds` stay out of the statistics,
/// with loadtest's default request timeout.
fn run_length(duration: Duration, warmup_seconds: u64) -> RunLength {
    RunLength {
        duration,
        warmup: Duration::from_secs(warmup_seconds),
        timeout: crate::loadtest::plan::DEFAULT_TIMEOUT,
    }
}

/// The bundled traffic history (12 weeks, hourly; scripts/gen_history.py).
const HISTORY: &str = include_str!("../fixtures/history_hourly.csv");
/// The bundled autoscaling policy.
const POLICY: &str = include_str!("../examples/policy.toml");
/// The demo forecasts from the history up to one week before its end and replays the
/// next 48 hours (a Monday and a Tuesday) as "what happened".
const REPLAY_HOURS: usize = 48;
const REPLAY_STARTS_HOURS_BEFORE_END: usize = 168;
/// The bundled history peaks at a few hundred rps; the demo plays a site this many times
/// busier, so that the fleet has to scale.
const TRAFFIC_SCALE: u64 = 8;
/// The demo target: a Gunicorn-like app with 8 sync workers and exponential 20 ms service.
const TARGET_ARGS: [&str; 6] = [
    "--workers",
    "8",
    "--service-time",
    "exp:20ms",
    "--seed",
    "1",
];
/// Steps the demo announces.
const STEPS: u32 = 6;
/// Instance price used for the cost lines, per hour.
const INSTANCE_COST: f64 = 0.10;

/// A child `capplan target`, killed when dropped.
struct DemoTarget {
    child: Child,
    url: String,
}

impl DemoTarget {
    fn start() -> anyhow::Result<DemoTarget> {
        let exe = std::env::current_exe().context("cannot find the capplan executable")?;
        let mut child = Command::new(exe)
            .args(["target", "--host", "127.0.0.1", "--port", "0"])
            .args(TARGET_ARGS)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the demo target")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("the demo target did not start")?;
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| RunError(format!("the demo target said {line:?}")))?
            .to_string();
        Ok(DemoTarget { child, url })
    }
}

impl Drop for DemoTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Split the bundled history (scaled by `TRAFFIC_SCALE`): the part to forecast from, and
/// the `REPLAY_HOURS` after it to replay.
fn split_history() -> anyhow::Result<(String, String)> {
    let mut lines = HISTORY.lines();
    let header = lines.next().unwrap_or("timestamp,requests");
    let rows: Vec<String> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (stamp, requests) = l.split_once(',').unwrap_or((l, "0"));
            let requests: u64 = requests.trim().parse().context("bundled history")?;
            Ok(format!("{stamp},{}", requests * TRAFFIC_SCALE))
        })
        .collect::<anyhow::Result<_>>()?;
    let cut = rows.len().saturating_sub(REPLAY_STARTS_HOURS_BEFORE_END);
    let join = |part: &[String]| format!("{header}\n{}\n", part.join("\n"));
    Ok((join(&rows[..cut]), join(&rows[cut..cut + REPLAY_HOURS])))
}

/// A row label and how to show one simulation's value.
type ComparisonRow = (&'static str, fn(&SimulateOutput) -> String);

/// Reactive vs predictive, side by side.
fn comparison(reactive: &SimulateOutput, predictive: &SimulateOutput) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "48 h replayed",
        "reactive",
        "predictive (pre-warm)",
    ]);
    let rows: [ComparisonRow; 7] = [
        ("p95 over SLO", |o| {
            format!("{:.0} min", o.result.totals.breach_minutes)
        }),
        ("requests dropped", |o| {
            format!("{:.0}", o.result.totals.dropped_requests)
        }),
        ("worst p95", |o| {
            crate::units::format_ms(o.result.totals.max_p95_ms)
        }),
        ("instance-hours", |o| {
            format!("{:.1}", o.result.totals.instance_hours)
        }),
        ("cost", |o| {
            let cost = o.instance_cost.unwrap_or(0.0) * o.result.totals.instance_hours;
            format!("{cost:.2}")
        }),
        ("scale-ups / downs", |o| {
            let t = &o.result.totals;
            format!("{} / {}", t.scale_ups, t.scale_downs)
        }),
        ("peak instances", |o| {
            o.result.totals.peak_instances.to_string()
        }),
    ];
    for (label, value) in rows {
        table.add_row(vec![label.to_string(), value(reactive), value(predictive)]);
    }
    table.to_string()
}

/// Run the demo.
pub fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    // A signal between steps, or during one that awaits none, ends the demo at the
    // next step boundary (each step takes at most a few seconds).
    crate::stop_signal::watch_in_background("the demo stops after this step");
    let keep = args.out_dir.is_some();
    let temp;
    let dir: PathBuf = match &args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::tempdir().context("cannot create a work folder")?;
            temp.path().to_path_buf()
        }
    };
    let step = |n: u32, what: &str| -> anyhow::Result<()> {
        if let Some(signal) = crate::stop_signal::requested() {
            return Err(crate::error::Interrupted(format!(
                "demo: stopped by {signal} before step {n} of {STEPS}"
            ))
            .into());
        }
        eprintln!(
            "\n[{n}/{STEPS} {:>5.1}s] {what}",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    };
    let file = |name: &str| dir.join(name);

    step(
        1,
        "starting the demo app: capplan target --workers 8 --service-time exp:20ms",
    )?;
    let target = DemoTarget::start()?;
    eprintln!("        {}", target.url);
    let url = format!("{}/api/items", target.url);

    step(
        2,
        "measuring its capacity: loadtest --find-capacity --slo \"p95<100ms\"",
    )?;
    let profile = file("profile.json");
    let one_user = LoadModel::Closed {
        users: 1,
        spawn_rate: 1.0,
    };
    let search_plan = url_plan(&url, one_user, run_length(Duration::from_secs(10), 0))?;
    let search = CapacitySearch {
        rule: SloRule {
            slo: LatencySlo::percentile(95.0, 100.0),
            max_error_rate: 0.01,
        },
        step_duration: Duration::from_secs(3),
        workers_measured: 8,
        max_rps: 100_000.0,
        start_rps: None,
    };
    let search_outputs = SearchOutputs {
        profile: Some(profile.clone()),
        ..SearchOutputs::default()
    };
    let (found, capacity) = search_and_report(&search_plan, &search, &search_outputs)?;
    if found != Outcome::Success {
        return Ok(found);
    }
    let knee = capacity.profile.sustainable_rps;

    let rate = (0.8 * knee).round();
    step(
        3,
        &format!(
            "load-testing it at 80% of the knee: loadtest --rate {rate:.0} --arrivals poisson"
        ),
    )?;
    let open = LoadModel::Open {
        rate,
        connections: 100,
        arrivals: Arrivals::Poisson,
    };
    let load_plan = url_plan(&url, open, run_length(Duration::from_secs(6), 1))?;
    let load_outputs = LoadtestOutputs {
        report: ReportArgs {
            json: Some(file("loadtest.json")),
            ..ReportArgs::default()
        },
        ..LoadtestOutputs::default()
    };
    let load = measure_plan(load_plan, &load_outputs, &[], &mut [])?;
    let loaded = report_run(&load_outputs, &load)?;
    drop(target);
    if loaded == Outcome::Interrupted {
        return Ok(loaded);
    }

    step(
        4,
        &format!("forecasting the bundled history (11 weeks, hourly, x{TRAFFIC_SCALE}) 48 h ahead"),
    )?;
    let (history, replay) = split_history()?;
    std::fs::write(file("history.csv"), history)?;
    std::fs::write(file("replay.csv"), replay)?;
    std::fs::write(file("policy.toml"), POLICY)?;
    let forecast_files = forecast_cmd::Files {
        history: file("history.csv"),
        prometheus: None,
        ingest: IngestOptions::default(),
        holidays: None,
    };
    let forecast_settings = ForecastSettings {
        horizon_hours: 48,
        rps_per_instance: Some(crate::forecast::capacity::rps_per_instance(
            &capacity.profile,
        )),
        ..ForecastSettings::default()
    };
    let (series, calendar, forecast) = forecast_cmd::forecast(&forecast_files, &forecast_settings)?;
    let forecast_outputs = forecast_cmd::Outputs {
        csv: Some(file("forecast.csv")),
        schedule: None,
        report: ReportArgs {
            json: Some(file("forecast.json")),
            ..ReportArgs::default()
        },
    };
    forecast_cmd::emit(&forecast_outputs, &series, &calendar, &forecast)?;

    step(
        5,
        "replaying those 48 h (what happened) through the bundled policy: reactive vs predictive",
    )?;
    let policy = Policy::read(&file("policy.toml"))?;
    let workers = simulate_cmd::capacity_of_profile(&capacity.profile);
    let curve = simulate_cmd::curve_of_profile(&capacity.profile, &file("capacity.json"))?;
    let simulate = |json: &str, prewarm: bool, recommend: bool| -> anyhow::Result<SimulateOutput> {
        let files = simulate_cmd::Files {
            traffic: file("replay.csv"),
            prometheus: None,
            forecast: prewarm.then(|| file("forecast.csv")),
            fill_gaps: false,
        };
        let outputs = simulate_cmd::Outputs {
            timeline: recommend.then(|| file("recommended_timeline.csv")),
            events: Some(file(&json.replace(".json", "_events.csv"))),
            report: ReportArgs {
                json: Some(file(json)),
                quiet: !recommend,
                ..ReportArgs::default()
            },
            fail_on_breach: false,
            junit: None,
        };
        let settings = SimulateSettings {
            step_seconds: 60.0,
            interpolate: Interpolate::Hold,
            levers: DemandLevers::default(),
            db_limit: None,
            instance_cost: Some(INSTANCE_COST),
            recommend,
            cores: 2,
            allow_single_instance: false,
            incident_max_seconds: 1800.0,
            record_timeline: outputs.needs_timeline(),
        };
        let output =
            simulate_cmd::simulate(&files, policy.clone(), workers, curve.clone(), &settings)?;
        simulate_cmd::emit(&outputs, &output)?;
        Ok(output)
    };
    let reactive = simulate("reactive.json", false, false)?;
    let predictive = simulate("predictive.json", true, false)?;
    println!("{}", comparison(&reactive, &predictive));

    step(
        6,
        "recommending min/max instances and workers for the predictive policy",
    )?;
    let recommended = simulate("recommended.json", true, true)?;

    if let Some(path) = &args.html {
        let page =
            crate::report::html::demo_page(&load, &series, &calendar, &forecast, &recommended);
        crate::output::write_bytes(path, page.as_bytes()).context("writing --html")?;
        eprintln!("\nreport: {}", path.display());
    }
    eprintln!(
        "\ndemo finished in {:.1}s{}",
        started.elapsed().as_secs_f64(),
        if keep {
            format!("; files in {}", dir.display())
        } else {
            " (rerun with --out-dir DIR to keep the files)".to_string()
        }
    );
    Ok(Outcome::Success)
}
