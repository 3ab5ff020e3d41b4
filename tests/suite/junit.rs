//! `--junit FILE` read back by junitparser, the package CI tooling uses
//! (tests/support/junit_check.py): loadtest's thresholds and `--fail-on-errors`,
//! simulate's SLO checks and breach windows (issue 17, item 4).
use crate::common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::servers::{require, Component};
use common::Target;
use serde_json::Value;

/// The report as junitparser reads it: one entry per suite.
fn read_back(path: &Path) -> Vec<Value> {
    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/junit_check.py");
    let out = std::process::Command::new("python3")
        .arg(check)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser could not read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn case<'a>(suite: &'a Value, name: &str) -> &'a Value {
    suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name} in {suite}"))
}

fn kinds(case: &Value) -> Vec<String> {
    case["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn loadtest_thresholds_are_test_cases_with_the_measured_value() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJunitparser]) {
        return;
    }
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("loadtest.xml");
    let out = common::capplan()
        .args(["loadtest", "--url", &target.url_for("/")])
        .args(["--users", "2", "--duration", "2s", "--quiet"])
        .args(["--threshold", "p95<5s", "--threshold", "rps>100000000"])
        .arg("--junit")
        .arg(&junit)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let suites = read_back(&junit);
    assert_eq!(suites.len(), 1);
    let suite = &suites[0];
    assert_eq!(
        (suite["tests"].as_u64(), suite["failures"].as_u64()),
        (Some(3), Some(1)),
        "{suite}"
    );
    assert!(suite["name"]
        .as_str()
        .unwrap()
        .starts_with("capplan loadtest http://127.0.0.1:"));
    assert!(kinds(case(suite, "run completed")).is_empty());
    assert!(kinds(case(suite, "p95<5s")).is_empty());
    let rps = case(suite, "rps>100000000");
    assert_eq!(kinds(rps), vec!["Failure"]);
    let message = rps["results"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("measured ")
            && message.contains(" rps: threshold rps>100000000 not met"),
        "{message}"
    );
    assert_eq!(rps["classname"], "loadtest.threshold");
    let requests: u64 = suite["properties"]["requests"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(requests > 0);
}

#[test]
fn failed_requests_warn_without_a_judge_and_fail_with_fail_on_errors() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJunitparser]) {
        return;
    }
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        common::capplan()
            .args(["loadtest", "--url", &target.url_for("/nope")])
            .args(["--users", "1", "--duration", "1s"])
            .args(extra)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    };
    // Nothing judges the 404s: exit 0, but the table says so.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("requests failed")
            && table.contains("nothing judges them: this run exits 0"),
        "{table}"
    );
    // --fail-on-errors: exit 1 and a failing case naming the failure kinds.
    let junit = dir.path().join("errors.xml");
    let out = run(&[
        "--quiet",
        "--fail-on-errors",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(--fail-on-errors)"), "{stderr}");
    assert!(!stderr.contains("nothing judges them"), "{stderr}");
    let suite = &read_back(&junit)[0];
    let errors = case(suite, "no failed requests");
    assert_eq!(kinds(errors), vec!["Failure"]);
    assert!(
        errors["results"][0]["message"]
            .as_str()
            .unwrap()
            .contains("requests failed (100.000%)"),
        "{errors}"
    );
}

/// A day of 10-minute rows at 60 rps with two bursts of 400 rps the fleet cannot carry.
fn bursty_day(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("t.csv");
    let mut text = String::from("timestamp,rps\n");
    for row in 0..144 {
        let rps = if row == 60 || row == 100 { 400 } else { 60 };
        text.push_str(&format!(
            "2026-03-02T{:02}:{:02}:00Z,{rps}\n",
            row / 6,
            row % 6 * 10
        ));
    }
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn simulate_slo_and_each_breach_window_are_test_cases() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJunitparser]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let traffic = bursty_day(dir.path());
    let policy = dir.path().join("p.toml");
    let simulate = |budget: f64, junit: &Path| {
        fs::write(
            &policy,
            format!("[fleet]\nmax_instances = 4\n[slo]\nmax_breach_minutes = {budget}\n"),
        )
        .unwrap();
        common::capplan()
            .args([
                "simulate",
                "--rps-per-worker",
                "10",
                "--service-time",
                "50ms",
            ])
            .arg("--traffic")
            .arg(&traffic)
            .arg("--policy")
            .arg(&policy)
            .args(["--fail-on-breach", "--quiet", "--junit"])
            .arg(junit)
            .output()
            .unwrap()
    };
    let missed = dir.path().join("missed.xml");
    assert_eq!(simulate(0.0, &missed).status.code(), Some(1));
    let suite = &read_back(&missed)[0];
    assert_eq!(suite["name"], "capplan simulate");
    let slo = case(suite, "slo: p95 at most 300 ms, error budget 0 minutes");
    assert_eq!(kinds(slo), vec!["Failure"]);
    assert!(
        slo["results"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("p95 above 300 ms for "),
        "{slo}"
    );
    let windows: Vec<&Value> = suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["classname"] == "simulate.breach")
        .collect();
    assert_eq!(windows.len(), 2, "{suite}");
    assert!(
        windows[0]["name"]
            .as_str()
            .unwrap()
            .starts_with("breach from 2026-03-02T10:"),
        "{}",
        windows[0]
    );
    assert!(windows.iter().all(|w| kinds(w) == vec!["Failure"]));

    // Within a generous error budget the SLO holds and the windows pass, said as within it.
    let held = dir.path().join("held.xml");
    let out = simulate(600.0, &held);
    let suite = &read_back(&held)[0];
    let slo = case(suite, "slo: p95 at most 300 ms, error budget 600 minutes");
    assert!(kinds(slo).is_empty(), "{slo}");
    let window = suite["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["classname"] == "simulate.breach")
        .expect("a breach window");
    assert!(kinds(window).is_empty());
    assert!(
        window["system_out"]
            .as_str()
            .unwrap()
            .ends_with("within the error budget"),
        "{window}"
    );
    let drops = case(suite, "slo: drop rate at most 0%");
    assert_eq!(
        out.status.code(),
        Some(if kinds(drops).is_empty() { 0 } else { 1 })
    );
}

#[test]
fn junit_can_go_to_stdout_and_the_table_to_stderr() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJunitparser]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = common::simulate_day()
        .args(["--junit", "-"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = dir.path().join("stdout.xml");
    fs::write(&xml, &out.stdout).unwrap();
    let suite = &read_back(&xml)[0];
    assert_eq!(suite["name"], "capplan simulate");
    assert!(String::from_utf8_lossy(&out.stderr).contains("verdict: SLO"));
}

#[test]
fn merge_writes_the_junit_a_run_writes_with_the_shards_and_its_own_thresholds() {
    if !require(&[Component::PythonJunitparser]) {
        return;
    }
    let _machine = common::machine::shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let at = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let shards: Vec<_> = (0..2)
        .map(|i| {
            let out_dir = dir.path().join(format!("shard-{i}"));
            let child = std::process::Command::new(common::capplan_bin())
                .args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
                .args(["--users", "2", "--duration", "1s", "--threshold", "p95<5s"])
                .args(["--shard", &format!("{i}/2"), "--start-at", &at])
                .arg("--out-dir")
                .arg(&out_dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            (child, out_dir)
        })
        .collect();
    let mut dirs = Vec::new();
    for (child, out_dir) in shards {
        let out = common::wait_output(child, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dirs.push(out_dir);
    }
    let junit = dir.path().join("merged.xml");
    let out = common::capplan()
        .arg("merge")
        .args(&dirs)
        .args(["--quiet", "--threshold", "rps>100000000", "--junit"])
        .arg(&junit)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let suites = read_back(&junit);
    let suite = &suites[0];
    assert_eq!(
        (suite["tests"].as_u64(), suite["failures"].as_u64()),
        (Some(3), Some(1)),
        "{suite}"
    );
    assert!(kinds(case(suite, "run completed")).is_empty());
    assert!(
        kinds(case(suite, "p95<5s")).is_empty(),
        "the shards' threshold"
    );
    assert_eq!(kinds(case(suite, "rps>100000000")), vec!["Failure"]);
    let shard_requests: u64 = dirs
        .iter()
        .map(|d| {
            let text = fs::read_to_string(d.join("seconds.jsonl")).unwrap();
            text.lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    v["tasks"][0]["requests"].as_u64().unwrap()
                })
                .sum::<u64>()
        })
        .sum();
    assert_eq!(
        suite["properties"]["requests"].as_str().unwrap(),
        shard_requests.to_string()
    );
}
