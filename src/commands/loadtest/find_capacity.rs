//! `loadtest --find-capacity`: the search's flags checked, the search run, the profile,
//! the `--json` document and the table written.
use std::path::PathBuf;
use std::time::Duration;

use super::plan::plan_from_args;
use crate::cli::LoadtestArgs;
use crate::error::{InputError, Outcome};
use crate::loadtest::capacity_search::SloRule;
use crate::loadtest::find_capacity::{measure_capacity, CapacityRun, CapacitySearch};
use crate::loadtest::plan::{check_rate, Plan, MAX_DURATION};
use crate::report;

/// Version of the `--find-capacity --json` document (profile and search steps).
const SEARCH_JSON_VERSION: u32 = 1;

/// Run the search as the command line asks and report it.
pub fn run(args: &LoadtestArgs) -> anyhow::Result<Outcome> {
    let rule = SloRule {
        slo: args.slo.clone(),
        max_error_rate: args.max_error_rate,
    };
    if args.step_duration < Duration::from_secs(2)
        || args.step_duration.subsec_nanos() != 0
        || args.step_duration > MAX_DURATION
    {
        return Err(
            InputError::flag("--step-duration", "must be whole seconds, from 2s to 365d").into(),
        );
    }
    check_rate("--max-rate", args.max_rate)?;
    if let Some(rate) = args.start_rate {
        check_rate("--start-rate", rate)?;
    }
    let plan = plan_from_args(args)?;
    let search = CapacitySearch {
        rule,
        step_duration: args.step_duration,
        workers_measured: args.workers_measured,
        max_rps: args.max_rate,
        start_rps: args.start_rate,
    };
    let outputs = SearchOutputs {
        profile: args.profile_out.clone(),
        json: args.report.json.clone(),
        quiet: args.report.quiet,
    };
    Ok(search_and_report(&plan, &search, &outputs)?.0)
}

/// Where a search's results go (`-`: standard output).
#[derive(Debug, Clone, Default)]
pub struct SearchOutputs {
    /// The capacity profile (`--profile-out`).
    pub profile: Option<PathBuf>,
    /// The profile and every step (`--json`).
    pub json: Option<PathBuf>,
    /// No step lines and no table.
    pub quiet: bool,
}

/// Run a search already validated and write its outputs: the entry a caller
/// without a command line (the demo) uses. Exit 1 when no rate held the SLO.
pub fn search_and_report(
    plan: &Plan,
    search: &CapacitySearch,
    outputs: &SearchOutputs,
) -> anyhow::Result<(Outcome, CapacityRun)> {
    // Between measurements nothing awaits a signal: remember one for the next check.
    crate::stop_signal::watch_in_background("the capacity search stops");
    let quiet = outputs.quiet;
    let say = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let run = measure_capacity(plan, search, &say)?;
    let rule = &search.rule;
    // Files first: a closed stdout (`| head`) must not lose them.
    if let Some(path) = &outputs.profile {
        crate::output::write_json(path, &run.profile)?;
    }
    if let Some(path) = &outputs.json {
        let body = serde_json::json!({
            "version": SEARCH_JSON_VERSION,
            "profile": run.profile,
            "search": run.outcome,
        });
        crate::output::write_json(path, &body)?;
    }
    if !outputs.quiet {
        let stdout_taken =
            crate::output::any_stdout([outputs.profile.as_deref(), outputs.json.as_deref()]);
        crate::output::print_text(
            &report::capacity_search::summary(&run.profile, &run.outcome),
            stdout_taken,
        )?;
    }
    if run.outcome.sustainable_rps.is_none() {
        eprintln!(
            "capacity: the SLO {} failed even at the lowest rate tried ({:.1} rps)",
            rule.slo,
            run.outcome
                .steps
                .iter()
                .map(|s| s.measurement.offered_rps)
                .fold(f64::INFINITY, f64::min)
        );
        return Ok((Outcome::Failed, run));
    }
    Ok((Outcome::Success, run))
}
