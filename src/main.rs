//! Entry point: parse the command line, run, map the outcome to an exit code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = capplan::cli::Cli::parse();
    match capplan::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("error: {err:#}");
            capplan::error::exit_code_for(&err)
        }
    }
}
