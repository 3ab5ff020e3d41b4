//! capplan: capacity planning and load testing for web applications.
//!
//! `main.rs` only parses the command line and maps the result of [`run`] to an
//! exit code; everything else lives here so tests can call it.
pub mod cli;
pub mod commands;
pub mod deadline_queue;
pub mod demo;
pub mod error;
pub mod forecast;
pub mod formats;
pub mod loadtest;
pub mod open_files;
pub mod output;
pub mod report;
pub mod simulate;
pub mod slo;
pub mod stop_signal;
pub mod target;
pub mod timestamp;
pub mod units;

use cli::{Cli, Command};
use error::Outcome;

/// Run one command to completion.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Loadtest(args) => commands::loadtest::run(args),
        Command::Target(args) => commands::target::run(args),
        Command::Forecast(args) => commands::forecast::run(args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Merge(args) => commands::merge::run(args),
    }
}
