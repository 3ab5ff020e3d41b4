//! `capplan demo`: the whole pipeline on embedded defaults. It runs the same commands a
//! user would, one after the other, on files in a work folder:
//! `target` → `loadtest --find-capacity` → `loadtest --rate` → `forecast` → `simulate`
//! (reactive vs predictive) → `simulate --recommend`, and with `--html` one report of it all.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::Table;
use serde_json::Value;

use crate::cli::{Cli, Command as CliCommand, DemoArgs};
use crate::error::{Outcome, RunError};
use crate::simulate::SimulateOutput;

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
const INSTANCE_COST: &str = "0.10";

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

/// Parse a capplan command line exactly as the shell would hand it over.
fn parse(args: &[String]) -> anyhow::Result<CliCommand> {
    let cli =
        Cli::try_parse_from(std::iter::once("capplan".to_string()).chain(args.iter().cloned()))
            .map_err(|e| RunError(format!("demo: bad internal command {args:?}: {e}")))?;
    Ok(cli.command)
}

/// Run one capplan command in this process, exactly as the command line would.
fn capplan(args: &[String]) -> anyhow::Result<Outcome> {
    crate::run(Cli {
        command: parse(args)?,
    })
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
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

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Run one `capplan simulate` command line in this process (writing what it asks for)
/// and keep its output for the demo's own tables.
fn simulate(args: &[String]) -> anyhow::Result<SimulateOutput> {
    let CliCommand::Simulate(args) = parse(args)? else {
        unreachable!("parsed a simulate command")
    };
    let output = crate::commands::simulate::compute(&args)?;
    crate::commands::simulate::emit(&crate::commands::simulate::Outputs::of(&args), &output)?;
    Ok(output)
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
    let found = capplan(&owned(&[
        "loadtest",
        "--url",
        &url,
        "--find-capacity",
        "--slo",
        "p95<100ms",
        "--workers-measured",
        "8",
        "--step-duration",
        "3s",
        "--profile-out",
        &arg(&profile),
    ]))?;
    if found != Outcome::Success {
        return Ok(found);
    }
    let knee = read_json(&profile)?["sustainable_rps"]
        .as_f64()
        .unwrap_or(0.0);

    let rate = format!("{:.0}", 0.8 * knee);
    step(
        3,
        &format!("load-testing it at 80% of the knee: loadtest --rate {rate} --arrivals poisson"),
    )?;
    let CliCommand::Loadtest(load_args) = parse(&owned(&[
        "loadtest",
        "--url",
        &url,
        "--rate",
        &rate,
        "--arrivals",
        "poisson",
        "--duration",
        "6s",
        "--warmup",
        "1s",
        "--json",
        &arg(&file("loadtest.json")),
    ]))?
    else {
        unreachable!("parsed a loadtest command")
    };
    let load = crate::commands::loadtest::measure(&load_args)?;
    let loaded = crate::commands::loadtest::report_run(&load_args, &load)?;
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
    let CliCommand::Forecast(forecast_args) = parse(&owned(&[
        "forecast",
        "--history",
        &arg(&file("history.csv")),
        "--horizon",
        "48h",
        "--capacity",
        &arg(&profile),
        "--out",
        &arg(&file("forecast.csv")),
        "--json",
        &arg(&file("forecast.json")),
    ]))?
    else {
        unreachable!("parsed a forecast command")
    };
    let (series, calendar, forecast) = crate::commands::forecast::compute(&forecast_args)?;
    let forecast_outputs = crate::commands::forecast::Outputs::of(&forecast_args);
    crate::commands::forecast::emit(&forecast_outputs, &series, &calendar, &forecast)?;

    step(
        5,
        "replaying those 48 h (what happened) through the bundled policy: reactive vs predictive",
    )?;
    let simulate_args = |json: &str, prewarm: bool, extra: &[&str]| -> Vec<String> {
        let mut a = owned(&[
            "simulate",
            "--traffic",
            &arg(&file("replay.csv")),
            "--capacity",
            &arg(&profile),
            "--policy",
            &arg(&file("policy.toml")),
            "--instance-cost",
            INSTANCE_COST,
            "--json",
            &arg(&file(json)),
            "--events",
            &arg(&file(&json.replace(".json", "_events.csv"))),
        ]);
        if prewarm {
            a.extend(owned(&["--forecast", &arg(&file("forecast.csv"))]));
        }
        a.extend(owned(extra));
        a
    };
    let reactive = simulate(&simulate_args("reactive.json", false, &["--quiet"]))?;
    let predictive = simulate(&simulate_args("predictive.json", true, &["--quiet"]))?;
    println!("{}", comparison(&reactive, &predictive));

    step(
        6,
        "recommending min/max instances and workers for the predictive policy",
    )?;
    let recommended = simulate(&simulate_args(
        "recommended.json",
        true,
        &[
            "--recommend",
            "--timeline",
            &arg(&file("recommended_timeline.csv")),
        ],
    ))?;

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
