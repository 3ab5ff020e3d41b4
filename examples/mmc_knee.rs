//! The M/M/c knee from capplan's queueing model (`simulate::queueing`): the highest
//! arrival rate at which the p95 response time of `SERVERS` workers with exponential
//! service times of mean `SERVICE_MS` stays within `P95_MS`. The capacity benchmark
//! (scripts/bench_capacity.sh) and model (scripts/capacity_search_model.py) compare
//! what `--find-capacity` finds with it, as tests/suite/model_validation.rs does.
//!
//!   cargo run --quiet --release --example mmc_knee -- SERVERS SERVICE_MS P95_MS
//!
//! Prints the rate in requests per second.
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match knee(&args) {
        Ok(rate) => {
            println!("{rate:.3}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("mmc_knee: {why}\nusage: mmc_knee SERVERS SERVICE_MS P95_MS");
            ExitCode::from(2)
        }
    }
}

fn knee(args: &[String]) -> Result<f64, String> {
    let [servers, service_ms, p95_ms] = args else {
        return Err(format!("expected 3 arguments, got {}", args.len()));
    };
    let servers: u32 = servers.parse().ok().filter(|&s| s > 0).ok_or(format!(
        "SERVERS: expected a whole number over 0, got {servers:?}"
    ))?;
    let positive = |name: &str, text: &str| {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or(format!(
                "{name}: expected milliseconds over 0, got {text:?}"
            ))
    };
    let service_ms = positive("SERVICE_MS", service_ms)?;
    let p95_ms = positive("P95_MS", p95_ms)?;
    Ok(capplan::simulate::queueing::max_rate_within_p95(
        servers,
        1000.0 / service_ms,
        p95_ms / 1000.0,
    ))
}
