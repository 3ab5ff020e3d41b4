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

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::error::Outcome;

/// Validated settings of one target run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where to listen (port 0: a free one, announced on stdout).
    pub addr: SocketAddr,
    /// Requests served at once, like Gunicorn sync workers.
    pub workers: usize,
    /// Requests allowed to wait for a worker; beyond that they get 503 at once.
    pub backlog: usize,
    pub service_time: ServiceTime,
    /// Fraction of requests answered with 500 after their service time.
    pub error_rate: f64,
    /// Seed for service times and errors.
    pub seed: u64,
    /// Stop after this long (`None`: until a signal).
    pub duration: Option<Duration>,
    /// Close a connection whose request head is not complete this long after it began.
    pub header_timeout: Duration,
    /// Close a keep-alive connection with no request for this long.
    pub idle_timeout: Duration,
}

/// Serve until Ctrl-C, SIGTERM or `settings.duration`.
pub fn run(settings: Settings) -> anyhow::Result<Outcome> {
    // One descriptor per client connection: take all the hard limit allows, as a
    // server tuned for load does (nginx's worker_rlimit_nofile).
    crate::open_files::raise_soft_to_hard();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let result = runtime.block_on(server::serve(settings));
    // Open keep-alive connections are simply dropped.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result.map(|()| Outcome::Success)
}
