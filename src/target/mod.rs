//! `capplan target`: the built-in demo app.
mod service_time;

pub use service_time::ServiceTime;

use crate::cli::TargetArgs;
use crate::error::Outcome;

/// Serve until Ctrl-C or `--duration`.
pub fn run(_args: TargetArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("target: work in progress")
}
