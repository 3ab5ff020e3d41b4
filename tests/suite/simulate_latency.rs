//! The latency model through the real binary: continuous across saturation, a
//! draining backlog and an idle step reported as what they are, and a capacity
//! profile's measured curve followed where it has points (docs/simulate.md,
//! *The latency model*).
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A traffic CSV of one-minute rows at these rates.
fn traffic(dir: &Path, name: &str, rates: &[f64]) -> PathBuf {
    let mut text = String::from("timestamp,rps\n");
    for (minute, rate) in rates.iter().enumerate() {
        text.push_str(&format!(
            "2026-01-01T{:02}:{:02}:00Z,{rate}\n",
            minute / 60,
            minute % 60
        ));
    }
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// A fixed fleet of `instances` instances of 4 workers.
fn fixed_fleet(dir: &Path, instances: u32) -> PathBuf {
    let path = dir.join(format!("fixed{instances}.toml"));
    fs::write(
        &path,
        format!("[fleet]\nmin_instances = {instances}\nmax_instances = {instances}\nworkers_per_instance = 4\n"),
    )
    .unwrap();
    path
}

/// The timeline's p95 column (`None` for an empty cell) and the JSON summary.
fn run(args: &[&str], traffic: &Path, policy: &Path) -> (Vec<Option<f64>>, serde_json::Value) {
    let dir = traffic.parent().unwrap();
    let json = dir.join("summary.json");
    let out = Command::cargo_bin("capplan")
        .unwrap()
        .arg("simulate")
        .args(args)
        .arg("--traffic")
        .arg(traffic)
        .arg("--policy")
        .arg(policy)
        .args(["--quiet", "--timeline", "-", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|h| *h == "p95_ms").unwrap();
    let p95 = lines
        .map(|l| {
            let cell = l.split(',').nth(column).unwrap();
            (!cell.is_empty()).then(|| cell.parse().unwrap())
        })
        .collect();
    let summary = serde_json::from_str(&fs::read_to_string(json).unwrap()).unwrap();
    (p95, summary)
}

const MODEL: [&str; 4] = ["--rps-per-worker", "20", "--service-time", "50ms"];

#[test]
fn p95_is_continuous_and_non_decreasing_across_saturation() {
    let _machine = crate::common::machine::shared();
    // 5 instances x 4 workers x 20 rps = 400 rps. On main: 399.6 rps -> 37,469 ms,
    // 400.0 -> 0.00 ms (no breach), 404 -> 720 ms.
    let dir = tempfile::tempdir().unwrap();
    let policy = fixed_fleet(dir.path(), 5);
    let mut previous: Option<Vec<f64>> = None;
    for i in 0..=40 {
        let rate = 396.0 + 0.2 * f64::from(i);
        let path = traffic(dir.path(), "t.csv", &[rate; 10]);
        let (p95, _) = run(&MODEL, &path, &policy);
        let p95: Vec<f64> = p95.into_iter().map(|p| p.expect("arrivals")).collect();
        if let Some(prev) = &previous {
            for (k, (&a, &b)) in prev.iter().zip(&p95).enumerate() {
                assert!(
                    b >= a,
                    "{rate} rps, minute {k}: {b} ms < {a} ms one step lower"
                );
                assert!(
                    b - a <= 0.1 * a + 1.0,
                    "{rate} rps, minute {k}: {a} -> {b} ms"
                );
            }
        }
        if rate == 400.0 {
            assert!(
                p95.iter().all(|&p| p > 300.0),
                "saturation breaches: {p95:?}"
            );
        }
        previous = Some(p95);
    }
}

#[test]
fn saturation_exactly_is_a_breach_through_fail_on_breach() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let policy = fixed_fleet(dir.path(), 5);
    let path = traffic(dir.path(), "t.csv", &[400.0; 5]);
    Command::cargo_bin("capplan")
        .unwrap()
        .arg("simulate")
        .args(MODEL)
        .arg("--traffic")
        .arg(&path)
        .arg("--policy")
        .arg(&policy)
        .args(["--quiet", "--fail-on-breach"])
        .assert()
        .code(1);
}

#[test]
fn a_backlog_that_drains_in_seconds_does_not_breach_the_minute() {
    let _machine = crate::common::machine::shared();
    // Minute 0: 410 rps into 400 (600 queued); minute 1: 160 rps drains them at
    // 240 rps in 2.5 s. On main minute 1 reported 1,575 ms.
    let dir = tempfile::tempdir().unwrap();
    let policy = fixed_fleet(dir.path(), 5);
    let path = traffic(dir.path(), "t.csv", &[410.0, 160.0, 160.0]);
    let (p95, _) = run(&MODEL, &path, &policy);
    let drained = p95[1].unwrap();
    let steady = p95[2].unwrap();
    assert!(drained < 300.0, "{p95:?}");
    assert!((drained - steady).abs() < 1.0, "{p95:?}");
}

#[test]
fn a_step_without_arrivals_has_no_p95() {
    let _machine = crate::common::machine::shared();
    // Minute 1 has no arrivals while minute 0's backlog drains: no latency to
    // report (an empty cell), not a breach. On main it reported 4.9 s.
    let dir = tempfile::tempdir().unwrap();
    let policy = fixed_fleet(dir.path(), 5);
    let path = traffic(dir.path(), "t.csv", &[440.0, 0.0, 100.0]);
    let (p95, summary) = run(&MODEL, &path, &policy);
    assert!(p95[0].unwrap() > 300.0);
    assert_eq!(p95[1], None, "{p95:?}");
    assert!(p95[2].unwrap() < 300.0);
    assert_eq!(summary["slo"]["breach_minutes"], 1.0);
    assert_eq!(summary["latency"]["idle_steps"], 1);
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

#[test]
fn replaying_a_profiles_own_rates_gives_its_measured_p95_back() {
    let _machine = crate::common::machine::shared();
    // fixtures/simulate/capacity.json measured p95 190 / 260 / 520 ms at 40 / 48 /
    // 60 rps on 4 workers; the M/M/c model says 157 / 167 / 206 ms.
    let dir = tempfile::tempdir().unwrap();
    let policy = fixed_fleet(dir.path(), 1);
    let mut rates = Vec::new();
    for rate in [40.0, 48.0, 60.0] {
        rates.extend([rate; 5]);
    }
    let path = traffic(dir.path(), "t.csv", &rates);
    let capacity = fixture("simulate/capacity.json");
    let capacity = capacity.to_str().unwrap();
    let (p95, summary) = run(&["--capacity", capacity], &path, &policy);
    for (k, want) in [(2, 190.0), (7, 260.0), (12, 520.0)] {
        let got = p95[k].unwrap();
        assert!(
            (got / want - 1.0).abs() < 0.10,
            "minute {k}: {got} ms, measured {want} ms"
        );
    }
    assert_eq!(summary["latency"]["model"], "measured_curve");
    assert_eq!(summary["latency"]["measured_steps"], 15);
    assert_eq!(
        summary["latency"]["curve_rps_per_worker"],
        serde_json::json!([5.0, 15.0])
    );

    // The same capacity without the curve: the model alone, more optimistic.
    let (model, summary) = run(
        &["--rps-per-worker", "12", "--service-time", "50ms"],
        &path,
        &policy,
    );
    assert!(model[12].unwrap() < 250.0, "{model:?}");
    assert_eq!(summary["latency"]["model"], "mm_c");
}

#[test]
fn beyond_the_measured_curve_the_model_joins_it_and_keeps_rising() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let policy = fixed_fleet(dir.path(), 1);
    let path = traffic(dir.path(), "t.csv", &[60.0, 62.0, 66.0, 70.0]);
    let capacity = fixture("simulate/capacity.json");
    let (p95, summary) = run(&["--capacity", capacity.to_str().unwrap()], &path, &policy);
    let p95: Vec<f64> = p95.into_iter().map(Option::unwrap).collect();
    assert!((p95[0] - 520.0).abs() < 1.0, "{p95:?}");
    assert!(p95.windows(2).all(|w| w[1] > w[0]), "{p95:?}");
    assert_eq!(summary["latency"]["measured_steps"], 1);
    assert_eq!(summary["latency"]["model_steps"], 3);
}

#[test]
fn a_bad_curve_point_is_exit_2_naming_file_line_and_field() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(fixture("simulate/capacity.json"))
        .unwrap()
        .replace("\"p95_ms\": 260.0", "\"p95_ms\": -260.0");
    let profile = dir.path().join("bad.json");
    fs::write(&profile, text).unwrap();
    let path = traffic(dir.path(), "t.csv", &[10.0, 10.0]);
    let out = Command::cargo_bin("capplan")
        .unwrap()
        .arg("simulate")
        .arg("--capacity")
        .arg(&profile)
        .arg("--traffic")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json:13: curve[2].p95_ms"), "{err}");
}
