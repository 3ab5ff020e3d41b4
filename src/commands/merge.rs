//! `capplan merge DIR...`: the shard directories of one distributed run read
//! (formats/shard_dir.rs), checked and added (loadtest/merge.rs), then every output a
//! single run writes, through the same renderers and the same verdicts (exit 0/1).
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::cli::MergeArgs;
use crate::commands::loadtest::{report_run, unjudged_failures, Outputs};
use crate::error::{InputError, Outcome};
use crate::formats::shard_dir;
use crate::loadtest::history_spill::HistorySpill;
use crate::loadtest::merge;
use crate::loadtest::threshold::Threshold;
use crate::loadtest::Observer;
use crate::output::{self, OutputFile};
use crate::report;
use crate::report::hlog::HlogObserver;

pub fn run(args: MergeArgs) -> anyhow::Result<Outcome> {
    let csv_files = report::locust_csv::paths(args.csv.as_deref());
    output::check_outputs(&super::loadtest::run_outputs(
        &args.report,
        args.hdr_log.as_deref(),
        &[],
        args.junit.as_deref(),
        &csv_files,
    ))?;

    let mut shards = args
        .dirs
        .iter()
        .map(|dir| shard_dir::read(dir, crate::loadtest::recorder::HIGHEST_US))
        .collect::<Result<Vec<_>, InputError>>()?;
    merge::check(&mut shards)?;
    // The shards' own thresholds, then merge's; each judged once.
    let mut thresholds: Vec<Threshold> = Vec::new();
    for shard in &shards {
        for expr in &shard.manifest.thresholds {
            let threshold: Threshold = expr.parse().map_err(|e| {
                InputError::file(
                    shard.dir.join(shard_dir::MANIFEST),
                    format!("thresholds: '{expr}': {e}"),
                )
            })?;
            if !thresholds.iter().any(|t| t.expr == threshold.expr) {
                thresholds.push(threshold);
            }
        }
    }
    for threshold in &args.thresholds {
        if !thresholds.iter().any(|t| t.expr == threshold.expr) {
            thresholds.push(threshold.clone());
        }
    }

    let mut history = HistorySpill::default();
    let mut hlog_file = args
        .hdr_log
        .as_deref()
        .map(OutputFile::create)
        .transpose()?;
    let mut serializer = V2DeflateSerializer::new();
    let merged = {
        let mut hlog = hlog_file
            .as_mut()
            .map(|file| HlogObserver::new(file, &mut serializer));
        let mut observers: Vec<&mut dyn Observer> = vec![&mut history];
        if let Some(hlog) = hlog.as_mut() {
            observers.push(hlog);
        }
        merge::merge(&shards, &mut observers)?
    };
    if let Some(file) = hlog_file {
        file.commit()?;
    }
    let fail_on_errors = args.fail_on_errors || merged.fail_on_errors;
    let mut result = merged.result;
    result.history = history
        .into_rows()
        .map_err(|e| anyhow::anyhow!("cannot read back the merged history: {e}"))?;
    result.thresholds = result.evaluate(&thresholds);
    if result.failures > 0 && thresholds.is_empty() && !fail_on_errors {
        result.warnings.push(unjudged_failures(&result));
    }
    if !args.report.quiet {
        eprintln!("merged {} shard(s) of run {}", shards.len(), merged.run_id);
    }
    let outputs = Outputs {
        csv: args.csv.clone(),
        report: args.report.clone(),
        hdr_log: args.hdr_log.clone(),
        junit: args.junit.clone(),
        fail_on_errors,
    };
    report_run(&outputs, &result)
}
