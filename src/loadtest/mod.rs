//! `capplan loadtest`: scenario, engine (closed/open), recorder, thresholds.
pub mod threshold;

use crate::cli::LoadtestArgs;
use crate::error::Outcome;

/// Run a load test as the command line asks.
pub fn run(_args: LoadtestArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("loadtest: work in progress")
}
