//! `capplan loadtest`: flags to a plan, the run driven with its observers (history,
//! progress bar, hlog), then every report written and the thresholds judged.
pub mod find_capacity;
pub mod metrics;
pub mod plan;
pub mod shard;

use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::cli::{LoadtestArgs, ReportArgs};
use crate::error::Outcome;
use crate::loadtest::history_spill::HistorySpill;
use crate::loadtest::plan::{LoadModel, Plan};
use crate::loadtest::result::RunResult;
use crate::loadtest::shape::ShapeKind;
use crate::loadtest::threshold::Threshold;
use crate::loadtest::{Observer, Run};
use crate::output::{self, OutputFile};
use crate::report;
use crate::report::hlog::HlogObserver;
use crate::report::openmetrics::LiveMetrics;
use crate::report::progress::Progress;
use crate::report::shard_dir::ShardLog;
use metrics::MetricsServer;
use plan::plan_from_args;

/// The files a run writes (and `capplan merge` writes again), each with its flag, for
/// `output::check_outputs`; `extra` are a command's own, checked after `--hdr-log`.
pub(crate) fn run_outputs<'a>(
    report: &'a ReportArgs,
    hdr_log: Option<&'a Path>,
    extra: &[(&'static str, Option<&'a Path>)],
    junit: Option<&'a Path>,
    csv_files: &'a [PathBuf],
) -> Vec<(&'static str, Option<&'a Path>)> {
    let mut outputs = vec![
        ("--json", report.json.as_deref()),
        ("--html", report.html.as_deref()),
        ("--plot", report.plot.as_deref()),
        ("--hdr-log", hdr_log),
    ];
    outputs.extend_from_slice(extra);
    outputs.push(("--junit", junit));
    outputs.extend(csv_files.iter().map(|p| ("--csv", Some(p.as_path()))));
    outputs
}

/// Run a load test (or, with `--find-capacity`, a capacity search) as the command line asks.
pub fn run(args: LoadtestArgs) -> anyhow::Result<Outcome> {
    let csv_files = report::locust_csv::paths(args.csv.as_deref());
    output::check_outputs(&run_outputs(
        &args.report,
        args.hdr_log.as_deref(),
        &[("--profile-out", args.profile_out.as_deref())],
        args.junit.as_deref(),
        &csv_files,
    ))?;
    if args.find_capacity {
        return find_capacity::run(&args);
    }
    if let Some(dir) = &args.shard.out_dir {
        output::OutputDir::check("--out-dir", dir)?;
    }
    let outputs = Outputs::of(&args);
    let whole = plan_from_args(&args)?;
    let shard = shard::shard_of(&args.shard)?;
    let mut plan = whole.shard(shard)?;
    plan.start_at = shard::start_at(&args.shard)?;
    let out_dir = args
        .shard
        .out_dir
        .as_deref()
        .map(|dir| shard::ShardOut::create(dir, shard::info(&args, &whole, &plan, shard)?))
        .transpose()?;
    // Listening before any traffic: a port in use is a bad flag, not a lost run.
    let mut metrics = args
        .metrics_listen
        .map(|addr| MetricsServer::start(addr, live_metrics_of(&plan)))
        .transpose()?;
    let mut shard_files = out_dir.as_ref().map(shard::ShardOut::files).transpose()?;
    let mut serializer = V2DeflateSerializer::new();
    let mut result = {
        let mut shard_log = shard_files
            .as_mut()
            .map(|(hlog, seconds)| ShardLog::new(hlog, &mut serializer, seconds));
        let mut watchers: Vec<&mut dyn Observer> = Vec::new();
        if let Some(metrics) = metrics.as_mut() {
            watchers.push(metrics);
        }
        if let Some(log) = shard_log.as_mut() {
            watchers.push(log);
        }
        measure_plan(plan, &outputs, &args.thresholds, &mut watchers)?
    };
    if let Some((mut hlog, mut seconds)) = shard_files {
        use std::io::Write;
        hlog.flush()?;
        seconds.flush()?;
    }
    if result.failures > 0 && args.thresholds.is_empty() && !args.fail_on_errors {
        result.warnings.push(unjudged_failures(&result));
    }
    if shard.count > 1 && out_dir.is_none() {
        result.warnings.push(format!(
            "this is shard {shard}: these numbers are its part of the load only; give \
             every shard --out-dir and merge them with capplan merge"
        ));
    }
    // The shard's directory first: a table the reader stops (| head) must not cost it.
    if let Some(out_dir) = out_dir {
        out_dir.commit(&result)?;
    }
    let outcome = report_run(&outputs, &result)?;
    // After the reports: the last scrape must see the totals, the user need not wait for them.
    if let (Some(metrics), false) = (metrics, result.interrupted) {
        metrics.linger(args.metrics_linger);
    }
    Ok(outcome)
}

/// The warning of a run whose failed requests nothing judges.
pub fn unjudged_failures(result: &RunResult) -> String {
    format!(
        "{} of {} requests failed ({:.3}%) and nothing judges them: this run exits 0; \
         add --threshold \"error_rate<1%\" or --fail-on-errors to fail it",
        result.failures,
        result.requests,
        100.0 * result.error_rate
    )
}

/// Where a load test's reports go (`-`: standard output).
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// `--csv PREFIX`: Locust's four files.
    pub csv: Option<String>,
    pub report: ReportArgs,
    /// `--hdr-log`: written as the run goes.
    pub hdr_log: Option<PathBuf>,
    /// `--junit`: the verdicts as JUnit XML.
    pub junit: Option<PathBuf>,
    /// `--fail-on-errors`: any failed request fails the run.
    pub fail_on_errors: bool,
}

impl Outputs {
    pub fn of(args: &LoadtestArgs) -> Outputs {
        Outputs {
            csv: args.csv.clone(),
            report: args.report.clone(),
            hdr_log: args.hdr_log.clone(),
            junit: args.junit.clone(),
            fail_on_errors: args.fail_on_errors,
        }
    }
}

/// Run a validated plan with the observers its outputs need (and the caller's
/// `watchers`) and judge `thresholds`: the entry a caller without a command line (the
/// demo) uses.
pub fn measure_plan(
    plan: Plan,
    outputs: &Outputs,
    thresholds: &[Threshold],
    watchers: &mut [&mut dyn Observer],
) -> anyhow::Result<RunResult> {
    let duration = plan.duration;
    let run = Run::new(plan)?;
    let mut history = HistorySpill::default();
    let mut progress = Progress::new(duration, outputs.report.quiet);
    let mut hlog_file = outputs
        .hdr_log
        .as_deref()
        .map(OutputFile::create)
        .transpose()?;
    let mut serializer = V2DeflateSerializer::new();
    let mut result = {
        let mut hlog = hlog_file
            .as_mut()
            .map(|file| HlogObserver::new(file, &mut serializer));
        let mut observers: Vec<&mut dyn Observer> = vec![&mut history, &mut progress];
        if let Some(hlog) = hlog.as_mut() {
            observers.push(hlog);
        }
        for watcher in watchers.iter_mut() {
            observers.push(&mut **watcher);
        }
        run.drive(&mut observers)?
    };
    if let Some(file) = hlog_file {
        file.commit()?;
    }
    result.history = history
        .into_rows()
        .context("cannot read back the run's per-second history")?;
    result.thresholds = result.evaluate(thresholds);
    Ok(result)
}

/// The live metrics of a plan: its endpoints, its target without credentials, the
/// open model's rate.
fn live_metrics_of(plan: &Plan) -> LiveMetrics {
    let target = url::Url::parse(&plan.host).map_or_else(
        |_| plan.host.clone(),
        |mut url| {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.as_str().trim_end_matches('/').to_string()
        },
    );
    let intended = match plan.load {
        LoadModel::Open { rate, .. } => Some(rate),
        LoadModel::Closed { .. } => None,
    };
    let live = LiveMetrics::new(&target, plan.stats_names.clone(), intended);
    match &plan.shape {
        Some(shape) if shape.kind() == ShapeKind::Rate => live.with_rate_shape(shape.clone()),
        _ => live,
    }
}

/// Print and write every output the arguments ask for; exit 1 on a failed threshold.
pub fn report_run(outputs: &Outputs, result: &RunResult) -> anyhow::Result<Outcome> {
    write_outputs(outputs, result)?;
    let failed: Vec<_> = result.thresholds.iter().filter(|t| !t.passed).collect();
    for t in &failed {
        eprintln!(
            "threshold failed: {} (measured {})",
            t.expr,
            report::table::format_value(&t.expr, t.value)
        );
    }
    let failed_requests = outputs.fail_on_errors && result.failures > 0;
    if failed_requests {
        eprintln!(
            "failed requests: {} of {} (--fail-on-errors)",
            result.failures, result.requests
        );
    }
    // A run cut short is not a pass, whatever its thresholds say.
    Ok(if result.interrupted {
        Outcome::Interrupted
    } else if failed.is_empty() && !failed_requests {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// Write every requested file, then print the summary: a closed pipe on the
/// table must not cost the files. One output that fails does not stop the others.
pub fn write_outputs(args: &Outputs, result: &RunResult) -> anyhow::Result<()> {
    let mut written = output::Outcomes::default();
    if let Some(prefix) = &args.csv {
        for (suffix, render) in report::locust_csv::FILES {
            let path = PathBuf::from(format!("{prefix}{suffix}"));
            written.note(output::write_bytes(&path, &render(result)));
        }
    }
    if let Some(path) = &args.report.json {
        written.note(output::write_json(path, result));
    }
    if let Some(path) = &args.junit {
        written.note(
            report::junit::loadtest(result, args.fail_on_errors)
                .and_then(|xml| output::write_bytes(path, &xml)),
        );
    }
    if let Some(path) = &args.report.html {
        let page = report::html::loadtest_page(result);
        written.note(output::write_bytes(path, page.as_bytes()));
    }
    if let Some(path) = &args.report.plot {
        let chart = report::html::loadtest::latency_chart(&result.history);
        written.note(report::html::plot::write(path, &chart.render()));
    }
    let stdout_taken = output::any_stdout([
        args.report.json.as_deref(),
        args.hdr_log.as_deref(),
        args.junit.as_deref(),
    ]);
    if !args.report.quiet {
        output::print_text(&report::table::loadtest_summary(result), stdout_taken)?;
    } else {
        for w in &result.warnings {
            eprintln!("warning: {w}");
        }
    }
    written.finish()
}
