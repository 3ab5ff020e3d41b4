//! `capplan target`: the built-in demo app, a stand-in for a Python app under
//! Gunicorn with sync workers (see docs/target.md).
mod deadline;
mod routes;
mod server;
mod service_time;
mod stats;
mod timer;
mod workers;

pub use service_time::ServiceTime;

use std::time::Duration;

use anyhow::Context;

use crate::cli::TargetArgs;
use crate::error::Outcome;

/// Serve until Ctrl-C, SIGTERM or `--duration`.
pub fn run(args: TargetArgs) -> anyhow::Result<Outcome> {
    // One descriptor per client connection: take all the hard limit allows, as a
    // server tuned for load does (nginx's worker_rlimit_nofile).
    crate::open_files::raise_soft_to_hard();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(server::serve(args));
    // Open keep-alive connections are simply dropped.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result.map(|()| Outcome::Success)
}
