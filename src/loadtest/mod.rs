//! `capplan loadtest`: scenario, engine (closed/open), recorder, thresholds.
pub mod capacity;
pub mod client;
pub mod connector;
pub mod cpu;
pub mod engine;
pub mod fd_limit;
pub mod find_capacity;
pub mod history;
pub mod http1;
pub mod http1_conn;
pub mod http2_conn;
pub mod plan;
pub mod recorder;
pub mod result;
pub mod scenario;
pub mod stats;
pub mod threshold;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use hdrhistogram::serialization::V2DeflateSerializer;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::cli::LoadtestArgs;
use crate::error::{InputError, Outcome, RunError};
use crate::output::OutputFile;
use crate::report;
use client::{Failure, HttpVersion};
use connector::{Connector, TlsTarget};
use engine::Report;
use plan::{LoadModel, Plan};
use result::{GeneratorReport, ProtocolReport, RateReport, RunResult};
use stats::Aggregator;

/// Run a load test as the command line asks.
pub fn run(args: LoadtestArgs) -> anyhow::Result<Outcome> {
    let csv_files: Vec<PathBuf> = match &args.csv {
        Some(prefix) => LOCUST_CSV_SUFFIXES
            .iter()
            .map(|suffix| PathBuf::from(format!("{prefix}{suffix}")))
            .collect(),
        None => Vec::new(),
    };
    let mut outputs = vec![
        ("--json", args.report.json.as_deref()),
        ("--html", args.report.html.as_deref()),
        ("--plot", args.report.plot.as_deref()),
        ("--hdr-log", args.hdr_log.as_deref()),
        ("--profile-out", args.profile_out.as_deref()),
    ];
    outputs.extend(csv_files.iter().map(|p| ("--csv", Some(p.as_path()))));
    crate::output::check_outputs(&outputs)?;
    if args.find_capacity {
        return find_capacity::run(&args);
    }
    let result = measure(&args)?;
    report_run(&args, &result)
}

/// Run the load test the arguments describe and judge its thresholds (no output).
pub fn measure(args: &LoadtestArgs) -> anyhow::Result<RunResult> {
    let plan = Plan::from_args(args)?;
    fd_limit::ensure(&plan)?;
    let requests = client::prepare(&plan)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut result = runtime.block_on(execute(
        &plan,
        requests,
        args.hdr_log.as_deref(),
        args.report.quiet,
    ))?;
    result.thresholds = result.evaluate(&args.thresholds);
    Ok(result)
}

/// Print and write every output the arguments ask for; exit 1 on a failed threshold.
pub fn report_run(args: &LoadtestArgs, result: &RunResult) -> anyhow::Result<Outcome> {
    write_outputs(args, result)?;
    let failed: Vec<_> = result.thresholds.iter().filter(|t| !t.passed).collect();
    for t in &failed {
        eprintln!(
            "threshold failed: {} (measured {})",
            t.expr,
            report::table::format_value(&t.expr, t.value)
        );
    }
    // A run cut short is not a pass, whatever its thresholds say.
    Ok(if result.interrupted {
        Outcome::Interrupted
    } else if failed.is_empty() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// How the run reaches the target, found out before any traffic: the connector, the
/// HTTP version, and a warning when the server would not speak the one asked for.
struct Reach {
    connector: Connector,
    version: HttpVersion,
    warning: Option<String>,
}

/// Build the connector (bad TLS files are exit 2) and open one connection the way the
/// run will: a target that refuses it, or whose certificate fails, is exit 3.
async fn reach(plan: &Plan) -> anyhow::Result<Reach> {
    let url = url::Url::parse(&plan.host)?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let https = url.scheme() == "https";
    let options = &plan.connection;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let resolved = options
        .resolve
        .iter()
        .find(|r| r.host.eq_ignore_ascii_case(bare_host) && r.port == port);
    let addr = match resolved {
        Some(r) => SocketAddr::new(r.addr, port),
        None if !options.resolve.is_empty() => {
            return Err(InputError::flag(
                "--resolve",
                format!("no entry is for the target {host}:{port}"),
            )
            .into())
        }
        None => tokio::net::lookup_host((bare_host, port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| RunError(format!("cannot resolve the target host '{host}'")))?,
    };
    let tls = if https {
        let alpn: &[&[u8]] = if options.http2 {
            &[b"h2", b"http/1.1"]
        } else {
            &[b"http/1.1"]
        };
        Some(TlsTarget {
            connector: tokio_rustls::TlsConnector::from(tls::client_config(&options.tls, alpn)?),
            server_name: tls::server_name(&host)?,
        })
    } else {
        None
    };
    let connector = Connector {
        addr,
        tls,
        connect_timeout: options.connect_timeout,
    };
    let probe = connector.open().await.map_err(|failure| {
        let hint = match failure {
            Failure::Connect(_) => ": is the target running and listening there?",
            _ => "",
        };
        RunError(format!(
            "cannot connect to {host}:{port} ({addr}): {failure}{hint}"
        ))
    })?;
    let alpn = probe.info.negotiated.alpn;
    let (version, warning) = match (options.http2, https) {
        (false, _) => (HttpVersion::Http1, None),
        (true, false) => (HttpVersion::Http2, None),
        (true, true) if alpn == Some("h2") => (HttpVersion::Http2, None),
        (true, true) => (
            HttpVersion::Http1,
            Some(format!(
                "--http2: the server did not choose h2 by ALPN (it chose {}): the run spoke HTTP/1.1",
                alpn.unwrap_or("nothing")
            )),
        ),
    };
    Ok(Reach {
        connector,
        version,
        warning,
    })
}

/// Drive the generator threads and aggregate what they record until the duration
/// ends or Ctrl-C; either way the result covers everything measured.
pub(crate) async fn execute(
    plan: &Plan,
    requests: Vec<client::PreparedRequest>,
    hlog_path: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<RunResult> {
    let reach = reach(plan).await?;
    let shared = Arc::new(engine::shared_from_plan(
        plan,
        requests,
        Arc::new(reach.connector),
        reach.version,
    ));

    let mut hlog_file = hlog_path.map(OutputFile::create).transpose()?;
    let mut serializer = V2DeflateSerializer::new();
    let started_wall = SystemTime::now();
    let mut hlog = match hlog_file.as_mut() {
        Some(file) => Some(report::hlog::begin(file, &mut serializer, started_wall)?),
        None => None,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let (report_tx, mut reports) = mpsc::unbounded_channel();
    let start = Instant::now();
    let deadline = start + plan.duration;
    let (recycle, recycled): (Vec<_>, Vec<_>) = (0..plan.threads)
        .map(|_| std::sync::mpsc::channel())
        .unzip();
    let handles = engine::start(
        Arc::clone(&shared),
        start,
        deadline,
        stop_rx,
        report_tx,
        recycled,
    )?;

    let start_unix = started_wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let warmup_seconds = plan.warmup.as_secs();
    let mut aggregator = Aggregator::new(
        plan.stats_names.clone(),
        plan.threads,
        start_unix,
        warmup_seconds,
    );
    let progress = report::progress::Progress::new(plan.duration, quiet);
    let mut cpu_mark = (cpu::process_cpu_time(), std::time::Instant::now());
    let mut saturated_seconds = 0u64;
    let mut max_cpu = 0.0f64;
    let users = |shared: &engine::RunShared| match shared.load {
        LoadModel::Closed { .. } => shared.active_users.load(Ordering::Relaxed),
        LoadModel::Open { connections, .. } => connections,
    };

    let stop_signal = crate::stop_signal::stop_requested();
    tokio::pin!(stop_signal);
    let mut stopped_by: Option<&'static str> = None;
    let mut stopped_at: Option<Instant> = None;
    let mut interrupted = false;
    let mut threads_done = 0usize;
    let mut finished = Vec::new();

    while threads_done < plan.threads {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline), if stopped_at.is_none() => {
                // The threads stop by themselves at the deadline.
                stopped_at = Some(deadline);
            }
            signal = &mut stop_signal, if stopped_at.is_none() => {
                interrupted = true;
                stopped_by = Some(signal);
                stopped_at = Some(Instant::now());
                let _ = stop_tx.send(true);
            }
            message = reports.recv() => match message {
                Some(Report::Tick { thread, second, mut interval }) => {
                    if let Some(done) = aggregator.add_tick(second, &interval, users(&shared)) {
                        finished.push(done);
                    }
                    interval.reset();
                    let _ = recycle[thread].send(interval);
                }
                Some(Report::Done { backlog }) => {
                    aggregator.add_done(backlog);
                    threads_done += 1;
                }
                None => break,
            }
        }
        for mut second in finished.drain(..) {
            let now = (cpu::process_cpu_time(), std::time::Instant::now());
            let percent =
                cpu::percent_of_threads(now.0 - cpu_mark.0, now.1 - cpu_mark.1, plan.threads);
            cpu_mark = now;
            second.row.generator_cpu_percent = percent;
            max_cpu = max_cpu.max(percent);
            let saturated = percent >= cpu::SATURATED_PERCENT;
            saturated_seconds += u64::from(saturated);
            if let Some(log) = hlog.as_mut() {
                let offset = Duration::from_secs(second.row.elapsed_s.saturating_sub(1));
                report::hlog::write_interval(log, &second.latency, offset, Duration::from_secs(1))?;
            }
            progress.update(&second.row, saturated, second.row.late_sends > 0);
            aggregator.push_history(second.row);
        }
    }
    for handle in handles {
        // A generator thread that panicked (a bug) fails the run instead of exiting 0.
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }
    progress.finish();
    let stopped_at = stopped_at.unwrap_or_else(Instant::now);
    // Statistics cover the time after the warm-up.
    let duration_s = ((stopped_at - start).as_secs_f64() - warmup_seconds as f64).max(0.0);
    for second in aggregator.flush_pending(users(&shared)) {
        aggregator.push_history(second.row);
    }
    drop(hlog);
    if let Some(file) = hlog_file {
        file.commit()?;
    }

    let totals = aggregator
        .finish(
            duration_s,
            &stats::WallClock {
                start: start.into_std(),
                wall: started_wall,
            },
        )
        .context("cannot read back the run's per-second history")?;
    let aggregate = totals.aggregate;
    let requests_done = aggregate.requests;
    let failures = aggregate.failures;
    let mut warnings: Vec<String> = reach.warning.into_iter().collect();
    if interrupted {
        warnings.push(format!(
            "interrupted by {} after {duration_s:.1}s: the results cover what was measured until then",
            stopped_by.unwrap_or("a signal")
        ));
    }
    let count_kind = |kind: &Failure| -> u64 {
        totals
            .failure_kinds
            .iter()
            .filter(|((_, failure), _)| failure == kind)
            .map(|(_, seen)| seen.count)
            .sum()
    };
    // Unsent sends count as failed requests (the error rate sees them), but the
    // throughput is what was sent.
    let unsent = count_kind(&Failure::Unsent);
    let rps = requests_done.saturating_sub(unsent) as f64 / duration_s.max(1e-9);
    let cut_off = count_kind(&Failure::CutOff);
    if cut_off > 0 {
        warnings.push(format!(
            "{cut_off} requests were still without a response {:.1}s after the end of the run; \
             they count as failures (Timeout) with their latency so far",
            plan.timeout.min(engine::GRACE).as_secs_f64()
        ));
    }
    if let LoadModel::Closed { .. } = plan.load {
        let started = shared.active_users.load(Ordering::Relaxed);
        let answered = shared.answered_users.load(Ordering::Relaxed);
        if answered < started && !interrupted {
            warnings.push(format!(
                "{} of the {started} users started got no answer to their first request \
                 during the run: the target held them in its listen queue or never read \
                 them (too few workers, a full backlog, or its own open-file limit); \
                 the throughput is that of {answered} users",
                started - answered
            ));
        }
    }
    warnings.extend(cpu::saturation_warning(
        saturated_seconds,
        totals.history.len(),
        max_cpu,
        plan.threads,
    ));
    let (rate_report, rate_achieved, service_time) = match plan.load {
        LoadModel::Open {
            rate, connections, ..
        } => {
            let pacing = totals.pacing;
            let achieved = pacing.on_time_fraction();
            if achieved < 0.99 {
                let cause = if saturated_seconds > 0 {
                    "the generator's CPU was saturated".to_string()
                } else if pacing.backlog > 0 || 2 * pacing.late_connection_busy >= pacing.late {
                    format!(
                        "all {connections} connections were busy: the target is slower than the rate, \
                         or --connections is too low"
                    )
                } else {
                    // Connections were free and waiting: the thread woke late.
                    "the generator's threads woke late though connections were free: \
                     the machine is busy (other processes, too few cores)"
                        .to_string()
                };
                warnings.push(format!(
                    "the rate was not kept: {:.1}% of the {} sends due left on time \
                     ({} late by more than {}ms, up to {:.0}ms; {} never sent). Cause: {cause}. \
                     Latency is still measured from the intended send times.",
                    100.0 * achieved,
                    pacing.due(),
                    pacing.late,
                    engine::LATE_TOLERANCE.as_millis(),
                    pacing.max_late_us as f64 / 1e3,
                    pacing.backlog,
                ));
            }
            (
                Some(RateReport {
                    intended_rps: rate,
                    achieved_rps: rps,
                    connections,
                    late_sends: pacing.late,
                    unsent: pacing.backlog,
                    max_late_ms: pacing.max_late_us as f64 / 1e3,
                    late_tolerance_ms: engine::LATE_TOLERANCE.as_secs_f64() * 1e3,
                }),
                Some(achieved),
                aggregate.service_time_ms,
            )
        }
        LoadModel::Closed { .. } => (None, None, None),
    };
    Ok(RunResult {
        version: result::JSON_VERSION,
        target: plan.host.clone(),
        started_at: chrono::DateTime::<chrono::Utc>::from(started_wall).to_rfc3339(),
        model: match plan.load {
            LoadModel::Closed { .. } => "closed".into(),
            LoadModel::Open { .. } => "open".into(),
        },
        users: match plan.load {
            LoadModel::Closed { users, .. } => Some(users),
            LoadModel::Open { .. } => None,
        },
        duration_s,
        interrupted,
        requests: requests_done,
        failures,
        error_rate: failures as f64 / requests_done.max(1) as f64,
        rps,
        latency_ms: aggregate.latency_ms,
        service_time_ms: service_time,
        rate_achieved,
        rate: rate_report,
        protocol: ProtocolReport::new(shared.version, &totals.connections),
        generator: GeneratorReport {
            threads: plan.threads,
            max_cpu_percent: max_cpu,
            saturated_seconds,
        },
        warnings,
        tasks: totals.endpoints,
        aggregate,
        errors: totals.failures,
        thresholds: Vec::new(),
        history: totals.history,
    })
}

/// The files `--csv PREFIX` writes, Locust's names.
const LOCUST_CSV_SUFFIXES: [&str; 4] = [
    "_stats.csv",
    "_stats_history.csv",
    "_failures.csv",
    "_exceptions.csv",
];

/// Write every requested file, then print the summary: a closed pipe on the
/// table must not cost the files. One output that fails does not stop the others.
fn write_outputs(args: &LoadtestArgs, result: &RunResult) -> anyhow::Result<()> {
    let mut written = crate::output::Outcomes::default();
    if let Some(prefix) = &args.csv {
        let renderers: [fn(&RunResult) -> Vec<u8>; 4] = [
            report::locust_csv::stats,
            report::locust_csv::stats_history,
            report::locust_csv::failures,
            report::locust_csv::exceptions,
        ];
        for (suffix, render) in LOCUST_CSV_SUFFIXES.iter().zip(renderers) {
            let path = PathBuf::from(format!("{prefix}{suffix}"));
            written.note(crate::output::write_bytes(&path, &render(result)));
        }
    }
    if let Some(path) = &args.report.json {
        written.note(crate::output::write_json(path, result));
    }
    if let Some(path) = &args.report.html {
        let page = report::html::loadtest_page(result);
        written.note(crate::output::write_bytes(path, page.as_bytes()));
    }
    if let Some(path) = &args.report.plot {
        let chart = report::html::loadtest::latency_chart(&result.history);
        written.note(report::html::plot::write(path, &chart.render()));
    }
    let stdout_taken =
        crate::output::any_stdout([args.report.json.as_deref(), args.hdr_log.as_deref()]);
    if !args.report.quiet {
        crate::output::print_text(&report::table::loadtest_summary(result), stdout_taken)?;
    } else {
        for w in &result.warnings {
            eprintln!("warning: {w}");
        }
    }
    written.finish()
}
