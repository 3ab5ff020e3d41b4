//! `capplan forecast` as a command: flags to [`Settings`], the history and holidays
//! read, the pure core ([`crate::forecast::forecast`]) run, the outputs written.
use std::path::PathBuf;

use crate::cli::{ForecastArgs, ReportArgs, ScheduleFormat};
use crate::commands::prometheus::{history_source, HistoryQuery};
use crate::error::{InputError, Outcome};
use crate::forecast::holidays::HolidayCalendar;
use crate::forecast::ingest::{self, IngestOptions, Ingested};
use crate::forecast::result::ForecastResult;
use crate::forecast::series::HourlySeries;
use crate::forecast::{build_calendar, capacity, forecast as forecast_core, Settings};
use crate::output::{self, write_bytes};
use crate::report::forecast::{render_chart, render_csv, render_json, render_summary};
use crate::report::html;
use crate::report::schedule::{render as render_schedule, ScheduleTarget};

/// The longest forecast: a year of hours (the model has no yearly season to go further).
const MAX_HORIZON_HOURS: usize = 365 * 24;

/// The files one forecast reads.
#[derive(Debug, Clone)]
pub struct Files {
    /// The traffic history (`--history`); with `prometheus`, the name errors give it.
    pub history: PathBuf,
    /// Read the history from Prometheus instead (`--prometheus`).
    pub prometheus: Option<HistoryQuery>,
    /// How the history is read: zone of naive stamps, gaps filled or refused.
    pub ingest: IngestOptions,
    /// Extra holidays (`--holidays`); not read when the settings model no holidays.
    pub holidays: Option<PathBuf>,
}

/// Where one forecast's results go (`-`: standard output).
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// The forecast CSV (`--out`).
    pub csv: Option<PathBuf>,
    /// The pre-warm schedule for an autoscaler (`--schedule-format`, `--schedule-out`).
    pub schedule: Option<(ScheduleTarget, PathBuf)>,
    pub report: ReportArgs,
}

impl Outputs {
    pub fn of(args: &ForecastArgs) -> Result<Outputs, InputError> {
        Ok(Outputs {
            csv: args.out.clone(),
            schedule: schedule_target(args)?,
            report: args.report.clone(),
        })
    }

    /// Check every output before any work (see [`output::check_outputs`]).
    pub fn check(&self) -> Result<(), InputError> {
        output::check_outputs(&[
            ("--out", self.csv.as_deref()),
            ("--json", self.report.json.as_deref()),
            ("--html", self.report.html.as_deref()),
            ("--plot", self.report.plot.as_deref()),
            (
                "--schedule-out",
                self.schedule.as_ref().map(|(_, path)| path.as_path()),
            ),
        ])
    }
}

/// A Kubernetes object name (DNS-1123 label: lowercase letters, digits and `-`,
/// starting and ending alphanumeric, at most 63 characters; CronJob names get a
/// suffix, so at most 30 here).
fn k8s_name(flag: &str, name: &str, max: usize) -> Result<String, InputError> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(name.to_string())
    } else {
        Err(InputError::flag(
            flag,
            format!(
                "{name:?} is not a Kubernetes name: lowercase letters, digits and '-', at most {max} characters"
            ),
        ))
    }
}

/// `--schedule-format` and the names it needs, checked before any work.
fn schedule_target(args: &ForecastArgs) -> Result<Option<(ScheduleTarget, PathBuf)>, InputError> {
    let s = &args.schedule;
    let (Some(format), Some(path)) = (s.schedule_format, &s.schedule_out) else {
        return Ok(None);
    };
    if args.rps_per_instance.is_none() && args.capacity.is_none() {
        return Err(InputError::flag(
            "--schedule-format",
            "a pre-warm schedule needs --rps-per-instance or --capacity",
        ));
    }
    let k8s_target = |what: &str, max: usize| {
        let name = s.k8s_target.as_deref().ok_or_else(|| {
            InputError::flag("--k8s-target", format!("--schedule-format {what} needs it"))
        })?;
        k8s_name("--k8s-target", name, max)
    };
    let target = match format {
        ScheduleFormat::Aws => {
            let group = s.asg_name.clone().ok_or_else(|| {
                InputError::flag("--asg-name", "--schedule-format aws needs the group's name")
            })?;
            if group.is_empty() || group.chars().count() > 255 {
                return Err(InputError::flag(
                    "--asg-name",
                    "must be 1 to 255 characters",
                ));
            }
            ScheduleTarget::Aws { group }
        }
        ScheduleFormat::Keda => ScheduleTarget::Keda {
            deployment: k8s_target("keda", 50)?,
            namespace: k8s_name("--namespace", &s.namespace, 63)?,
        },
        ScheduleFormat::K8sCronjob => ScheduleTarget::CronJob {
            hpa: k8s_target("k8s-cronjob", 30)?,
            namespace: k8s_name("--namespace", &s.namespace, 63)?,
        },
    };
    Ok(Some((target, path.clone())))
}

/// Run the command: check the outputs, read the inputs, forecast, write and print.
pub fn run(args: ForecastArgs) -> anyhow::Result<Outcome> {
    let (series, calendar, result) = compute(&args)?;
    emit(&Outputs::of(&args)?, &series, &calendar, &result)?;
    Ok(Outcome::Success)
}

/// Check the outputs, then read the inputs and forecast (no output): the hourly
/// series, the holiday calendar the model used, and the result.
pub fn compute(
    args: &ForecastArgs,
) -> anyhow::Result<(HourlySeries, HolidayCalendar, ForecastResult)> {
    Outputs::of(args)?.check()?;
    let settings = settings_from(args)?;
    forecast(&files_from(args)?, &settings)
}

/// Read the inputs and forecast with settings already validated: the entry a
/// caller without a command line (the demo) uses.
pub fn forecast(
    files: &Files,
    settings: &Settings,
) -> anyhow::Result<(HourlySeries, HolidayCalendar, ForecastResult)> {
    let Ingested { series, report } = match &files.prometheus {
        // Hourly samples: the model's own grid.
        Some(query) => {
            let text = crate::commands::prometheus::fetch(query, 3600)?;
            ingest::parse_history(text.as_bytes(), &files.history, files.ingest)?
        }
        None => ingest::read_history(&files.history, files.ingest)?,
    };
    let extra_holidays = match &files.holidays {
        Some(path) if settings.holidays => crate::formats::holidays::read_holidays_file(path)?,
        _ => Vec::new(),
    };
    let calendar = build_calendar(&series, settings, extra_holidays);
    let result = forecast_core(&series, &calendar, settings, report)?;
    Ok((series, calendar, result))
}

/// The input files and how to read them (`--tz` checked here).
pub fn files_from(args: &ForecastArgs) -> Result<Files, InputError> {
    let tz_offset = match &args.tz {
        Some(text) => {
            Some(crate::timestamp::parse_offset(text).map_err(|m| InputError::flag("--tz", m))?)
        }
        None => None,
    };
    let (history, prometheus) = history_source(
        args.history.as_ref(),
        &args.prometheus,
        std::time::Duration::from_secs(35 * 86_400),
        "--history",
    )?;
    Ok(Files {
        history,
        prometheus,
        ingest: IngestOptions {
            tz_offset,
            fill_gaps: args.fill_gaps,
        },
        holidays: args.holidays.clone(),
    })
}

/// The validated settings (`--capacity`'s profile is read here for its rps per instance).
pub fn settings_from(args: &ForecastArgs) -> Result<Settings, InputError> {
    let whole = |flag: &str, duration: std::time::Duration, unit: u64, name: &str| {
        let seconds = duration.as_secs();
        if seconds == 0 || !seconds.is_multiple_of(unit) || duration.subsec_nanos() != 0 {
            Err(InputError::flag(
                flag,
                format!("must be a positive whole number of {name}"),
            ))
        } else {
            Ok((seconds / unit) as usize)
        }
    };
    let rps_per_instance = match (&args.capacity, args.rps_per_instance) {
        (Some(path), _) => Some(capacity::read_rps_per_instance(path)?),
        (None, Some(rps)) if rps.is_finite() && rps > 0.0 => Some(rps),
        (None, Some(rps)) => {
            return Err(InputError::flag(
                "--rps-per-instance",
                format!("{rps} must be a positive number"),
            ))
        }
        (None, None) => None,
    };
    if !(args.interval > 0.0 && args.interval < 1.0) {
        return Err(InputError::flag(
            "--interval",
            "must be strictly between 0 and 1, e.g. 0.9",
        ));
    }
    Ok(Settings {
        horizon_hours: match whole("--horizon", args.horizon, 3600, "hours (e.g. 48h, 7d)")? {
            hours if hours > MAX_HORIZON_HOURS => {
                return Err(InputError::flag(
                    "--horizon",
                    format!("must be at most 365d ({MAX_HORIZON_HOURS}h); got {hours}h"),
                ))
            }
            hours => hours,
        },
        backtest_weeks: whole("--backtest", args.backtest, 7 * 86_400, "weeks (e.g. 2w)")?,
        interval: args.interval,
        multiplicative: args.multiplicative,
        holidays: !args.no_holidays,
        rps_per_instance,
        lead: chrono::Duration::from_std(args.lead)
            .map_err(|_| InputError::flag("--lead", "is too long"))?,
    })
}

/// Print the notes, write every file asked for, then print the tables.
pub fn emit(
    outputs: &Outputs,
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    result: &ForecastResult,
) -> anyhow::Result<()> {
    for note in &result.notes {
        eprintln!("note: {note}");
    }
    // Files first: a closed pipe on the tables must not cost them.
    let mut written = output::Outcomes::default();
    if let Some(path) = &outputs.csv {
        written.note(write_bytes(path, render_csv(result).as_bytes()));
    }
    if let Some(path) = &outputs.report.json {
        written
            .note(render_json(result).and_then(|json| write_bytes(path, (json + "\n").as_bytes())));
    }
    if let Some((target, path)) = &outputs.schedule {
        written.note(write_bytes(
            path,
            render_schedule(&result.prewarm, target).as_bytes(),
        ));
    }
    if let Some(path) = &outputs.report.html {
        let page = html::forecast_page(series, calendar, result);
        written.note(write_bytes(path, page.as_bytes()));
    }
    if let Some(path) = &outputs.report.plot {
        let chart = html::forecast::main_chart(series, calendar, result);
        written.note(html::plot::write(path, &chart.render()));
    }
    // The CSV or the JSON on stdout keeps it: the tables then go to stderr.
    let stdout_taken = output::any_stdout([
        outputs.csv.as_deref(),
        outputs.report.json.as_deref(),
        outputs.schedule.as_ref().map(|(_, path)| path.as_path()),
    ]);
    if !outputs.report.quiet {
        let text = render_summary(result) + &render_chart(series, result, 96, 10);
        output::print_text(&text, stdout_taken)?;
    }
    written.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn the_typed_defaults_are_the_command_lines() {
        let argv = ["capplan", "forecast", "--history", "h.csv"];
        let Command::Forecast(args) = Cli::parse_from(argv).command else {
            unreachable!()
        };
        assert_eq!(settings_from(&args).unwrap(), Settings::default());
    }
}
