//! `capplan target` as a command: flags to a [`Settings`] (the host resolved, the
//! sizes checked by clap), then the server.
use std::net::{SocketAddr, ToSocketAddrs};

use crate::cli::TargetArgs;
use crate::error::{InputError, Outcome};
use crate::target::Settings;

/// Serve until Ctrl-C, SIGTERM or `--duration`.
pub fn run(args: TargetArgs) -> anyhow::Result<Outcome> {
    crate::target::run(settings_from(&args)?)
}

/// The validated settings.
pub fn settings_from(args: &TargetArgs) -> Result<Settings, InputError> {
    Ok(Settings {
        addr: resolve(&args.host, args.port)?,
        // clap bounds both (1..=10000, 0..=1000000): they fit a usize.
        workers: args.workers as usize,
        backlog: args.backlog as usize,
        service_time: args.service_time,
        error_rate: args.error_rate,
        seed: args.seed,
        duration: args.duration,
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
    })
}

/// `--host` and `--port` as a socket address (bad host: exit 2).
fn resolve(host: &str, port: u16) -> Result<SocketAddr, InputError> {
    let mut addrs = (host, port).to_socket_addrs().map_err(|err| {
        InputError::flag(
            "--host",
            format!("'{host}' is not an address or a known host name ({err})"),
        )
    })?;
    addrs
        .next()
        .ok_or_else(|| InputError::flag("--host", format!("'{host}' resolves to no address")))
}
