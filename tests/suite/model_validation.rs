//! The pipeline's predictions hold against reality: for open-model load on
//! `capplan target --workers 8 --service-time exp:20ms` (an M/M/8 server), the p95 that
//! `capplan simulate` predicts matches the p95 `capplan loadtest` measures, and the knee
//! `--find-capacity` finds matches the theoretical one. Figures: docs/model-validation.md.
use crate::common;

use std::time::Duration;

use assert_cmd::Command;
use common::machine::timing;
use common::Target;
use serde_json::Value;

const WORKERS: u32 = 8;
const SERVICE_MS: f64 = 20.0;

/// The M/M/8 server described above; `seed` fixes its service times.
fn start_target(seed: &str) -> Target {
    Target::start(&[
        "--workers",
        &WORKERS.to_string(),
        "--service-time",
        &format!("exp:{SERVICE_MS}ms"),
        "--seed",
        seed,
    ])
}

fn capplan(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("capplan")
        .unwrap()
        .args(args)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap()
}

/// p95 (ms) that `capplan simulate` predicts for one instance of 8 workers at `rate`.
fn simulated_p95(rate: f64, dir: &std::path::Path) -> f64 {
    let traffic = dir.join("traffic.csv");
    let mut csv = String::from("timestamp,rps\n");
    for minute in 0..30 {
        csv.push_str(&format!("2026-01-01T00:{minute:02}:00Z,{rate}\n"));
    }
    std::fs::write(&traffic, csv).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(
        &policy,
        format!("[fleet]\nmin_instances = 1\nmax_instances = 1\nworkers_per_instance = {WORKERS}\nboot_seconds = 0\nwarmup_seconds = 0\n"),
    )
    .unwrap();
    let timeline = dir.join("timeline.csv");
    let out = capplan(&[
        "simulate",
        "--traffic",
        traffic.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--service-time",
        &format!("{SERVICE_MS}ms"),
        "--timeline",
        timeline.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&timeline).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let headers = rows.headers().unwrap().clone();
    let p95_col = headers.iter().position(|h| h == "p95_ms").unwrap();
    let p95s: Vec<f64> = rows
        .records()
        .map(|r| r.unwrap()[p95_col].parse::<f64>().unwrap())
        .collect();
    p95s[p95s.len() / 2]
}

/// p95 (ms) that `capplan loadtest` measures at `rate` with Poisson arrivals.
/// A run whose sends left late (a busy shared machine deschedules the generator,
/// and lateness is latency) is measured again, up to three runs in all.
fn measured_p95(target: &Target, rate: f64, dir: &std::path::Path) -> f64 {
    let mut last_warnings = Value::Null;
    for _attempt in 0..3 {
        match measured_p95_once(target, rate, dir) {
            Ok(p95) => return p95,
            Err(warnings) => {
                eprintln!("measuring once more: {warnings}");
                last_warnings = warnings;
            }
        }
    }
    panic!("the rate was never kept at {rate} rps: {last_warnings}");
}

fn measured_p95_once(target: &Target, rate: f64, dir: &std::path::Path) -> Result<f64, Value> {
    let json = dir.join("run.json");
    let out = capplan(&[
        "loadtest",
        "--url",
        &target.url_for("/"),
        "--rate",
        &rate.to_string(),
        "--arrivals",
        "poisson",
        "--connections",
        "200",
        "--duration",
        "14s",
        "--warmup",
        "2s",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    if run["rate_achieved"].as_f64().unwrap() <= 0.98 {
        return Err(run["warnings"].clone());
    }
    Ok(run["latency_ms"]["p95"].as_f64().unwrap())
}

#[test]
fn simulate_predicts_the_p95_that_loadtest_measures() {
    // Measures latency; 24 % of a core (capplan and the target), measured
    // (scripts/timing_tests_cpu.sh).
    let _guard = timing(30, 43);
    let target = start_target("7");
    let dir = tempfile::tempdir().unwrap();
    let capacity = WORKERS as f64 * 1000.0 / SERVICE_MS;
    eprintln!("| load | rate (rps) | simulate p95 (ms) | loadtest p95 (ms) | difference |");
    for load in [0.50, 0.75, 0.90] {
        let rate = load * capacity;
        let predicted = simulated_p95(rate, dir.path());
        let measured = measured_p95(&target, rate, dir.path());
        let difference = (measured - predicted) / predicted;
        eprintln!(
            "| {:.0}% | {rate:.0} | {predicted:.1} | {measured:.1} | {:+.1}% |",
            load * 100.0,
            difference * 100.0
        );
        assert!(
            difference.abs() <= 0.15,
            "at {rate} rps simulate predicts p95 {predicted:.1}ms, loadtest measured {measured:.1}ms"
        );
    }
}

/// `--find-capacity` at `p95<{slo_ms}ms` against a fresh M/M/8 target: the knee it
/// finds must be within 5 % of the theoretical one. Why 5 % holds: the bisection stops
/// within 2 % (the knee reported is the highest rate that held, so it sits up to 2 %
/// under the boundary); a step's p95 over its 5 measured seconds scatters (near the
/// knee the queue's own time constant is seconds); the search is allowed to err a step
/// either way; a step measured from an almost empty queue passes rates just over the
/// knee more often than it fails them (the search's steps near the knee warm up for 3 s
/// against it; the rest of that bias, +1.6 % in scripts/capacity_search_model.py, stays
/// in the band). At p95<200ms the knee is sharp (96 % utilisation: 5 % under it the p95
/// is half the SLO), so a step's p95 scattering by 20 % moves the knee by about 1 %;
/// at p95<100ms (90 %) the same scatter moves it by 3-4 %, too close to 5 % for CI
/// (docs/loadtest.md, "What limits the precision"). Measured spread: docs/BENCHMARKS.md,
/// "Capacity search".
/// A search on a shared 2-core machine is sometimes thrown by the other tenants (one
/// in five or so at 5 %, docs/BENCHMARKS.md): a knee outside the band is measured once
/// more, on a fresh target, and the test fails only when that one misses too.
fn knee_within_five_percent(slo_ms: f64, seed: &str) {
    if let Err(first) = search_knee(slo_ms, seed) {
        eprintln!("{first}; measuring once more");
        if let Err(second) = search_knee(slo_ms, &format!("{seed}1")) {
            panic!("{first}; then {second}");
        }
    }
}

/// One search: `Err` when its knee is more than 5 % from the theory.
fn search_knee(slo_ms: f64, seed: &str) -> Result<(), String> {
    let target = start_target(seed);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let out = capplan(&[
        "loadtest",
        "--url",
        &target.url_for("/"),
        "--find-capacity",
        "--slo",
        &format!("p95<{slo_ms}ms"),
        "--workers-measured",
        &WORKERS.to_string(),
        "--step-duration",
        "6s",
        "--quiet",
        "--profile-out",
        profile.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    let found = profile["sustainable_rps"].as_f64().unwrap();
    let theory = capplan::simulate::queueing::max_rate_within_p95(
        WORKERS,
        1000.0 / SERVICE_MS,
        slo_ms / 1e3,
    );
    let error = (found - theory) / theory;
    eprintln!(
        "knee for p95<{slo_ms}ms: found {found:.1} rps, theory {theory:.1} rps ({:+.1}%)",
        100.0 * error
    );
    if error.abs() > 0.05 {
        return Err(format!(
            "knee found at {found:.1} rps, theory says {theory:.1} rps"
        ));
    }
    let per_worker = profile["rps_per_worker"].as_f64().unwrap();
    assert!((per_worker - found / f64::from(WORKERS)).abs() < 1e-9);
    let service = profile["service_time_ms"]["mean"].as_f64().unwrap();
    assert!(
        (18.0..=24.0).contains(&service),
        "low-load service time {service}ms"
    );
    Ok(())
}

#[test]
fn find_capacity_finds_the_theoretical_knee() {
    // Measures latency; 31 % of a core (capplan and the target), measured
    // (scripts/timing_tests_cpu.sh).
    let _guard = timing(35, 76);
    // Theory: 383.7 rps, 96 % of the 400 rps the workers can serve at most.
    knee_within_five_percent(200.0, "11");
}
