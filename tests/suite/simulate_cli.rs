//! `capplan simulate` through the real binary: files, exit codes, reason codes.
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/simulate")
        .join(name)
}

fn capplan() -> Command {
    Command::cargo_bin("capplan").unwrap()
}

fn simulate_day() -> Command {
    let mut cmd = capplan();
    cmd.arg("simulate")
        .arg("--traffic")
        .arg(fixture("traffic_day.csv"))
        .arg("--capacity")
        .arg(fixture("capacity.json"));
    cmd
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unknown_policy_key_exits_2_naming_the_key_and_line() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    fs::write(&policy, "[fleet]\nmin_instances = 2\nwarmup_secs = 10\n").unwrap();
    let out = simulate_day()
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("p.toml:3: fleet.warmup_secs: unknown field"),
        "{err}"
    );
}

#[test]
fn invalid_policy_value_exits_2_naming_the_field() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    fs::write(&policy, "[scale_down]\nmax_remove_percent = 150\n").unwrap();
    let out = simulate_day()
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("p.toml:2: scale_down.max_remove_percent"),
        "{err}"
    );
}

#[test]
fn missing_capacity_and_bad_traffic_exit_2() {
    let _machine = crate::common::machine::shared();
    let out = capplan()
        .args(["simulate", "--traffic"])
        .arg(fixture("traffic_day.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--rps-per-worker"));

    let dir = tempfile::tempdir().unwrap();
    let traffic = dir.path().join("t.csv");
    fs::write(
        &traffic,
        "timestamp,rps\n2026-01-01 00:00,5\n2026-01-01 00:01,-3\n",
    )
    .unwrap();
    let out = capplan()
        .args(["simulate", "--rps-per-worker", "10", "--traffic"])
        .arg(&traffic)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("t.csv:3: rps"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn fail_on_breach_exits_1_with_the_reason_and_prewarm_fixes_it() {
    let _machine = crate::common::machine::shared();
    let out = simulate_day()
        .args(["--fail-on-breach", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("SLO missed: p95 above 300 ms"), "{err}");

    simulate_day()
        .args(["--fail-on-breach", "--quiet", "--forecast"])
        .arg(fixture("forecast_day.csv"))
        .assert()
        .success();
}

#[test]
fn timeline_on_stdout_is_the_csv_alone_and_the_summary_goes_to_stderr() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("timeline.csv");
    simulate_day()
        .args(["--quiet", "--timeline"])
        .arg(&file)
        .assert()
        .success();
    let out = simulate_day().args(["--timeline", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // Byte for byte the file's CSV: no table, verdict or blank line mixed in.
    assert_eq!(out.stdout, fs::read(&file).unwrap());
    let err = stderr_of(&out);
    assert!(
        err.contains("verdict: SLO"),
        "the summary is on stderr: {err}"
    );
}

#[test]
fn timeline_events_and_json_are_written() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (timeline, events, json) = (
        dir.path().join("timeline.csv"),
        dir.path().join("events.csv"),
        dir.path().join("summary.json"),
    );
    simulate_day()
        .args(["--quiet", "--instance-cost", "0.5", "--timeline"])
        .arg(&timeline)
        .arg("--events")
        .arg(&events)
        .arg("--json")
        .arg(&json)
        .assert()
        .success();
    let timeline = fs::read_to_string(timeline).unwrap();
    let mut lines = timeline.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time,demand_rps,served_rps,instances,booting,warming,in_service,utilization,queue_depth,p95_ms,dropped"
    );
    assert_eq!(lines.count(), 1440);
    assert!(timeline.contains("\n2026-03-02T09:00:00Z,360.000,"));

    let events = fs::read_to_string(events).unwrap();
    assert!(events.starts_with("time,action,from,to,reason\n"));
    assert!(
        events.contains(",scale_up,2,3,STEP_UP_UTILIZATION"),
        "{events}"
    );
    assert!(events.contains("SCALE_DOWN_WINDOW"));

    let doc: serde_json::Value = serde_json::from_str(&fs::read_to_string(json).unwrap()).unwrap();
    for key in [
        "dropped_requests",
        "max_queue_depth",
        "instance_hours",
        "cost",
        "scale_ups",
        "scale_downs",
        "flaps",
        "refused",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}");
    }
    assert!(doc["slo"]["breach_minutes"].as_f64().unwrap() > 0.0);
    assert_eq!(doc["slo"]["p95_ms"], 300.0);
    let hours = doc["instance_hours"].as_f64().unwrap();
    assert!((doc["cost"].as_f64().unwrap() - 0.5 * hours).abs() < 1e-9);
}

#[test]
fn ten_second_steps_and_linear_interpolation_work() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let timeline = dir.path().join("t.csv");
    simulate_day()
        .args([
            "--quiet",
            "--step",
            "10s",
            "--interpolate",
            "linear",
            "--timeline",
        ])
        .arg(&timeline)
        .assert()
        .success();
    let text = fs::read_to_string(timeline).unwrap();
    assert_eq!(text.lines().count(), 1 + 8640);
    // Halfway between 06:00 (60 rps) and 06:10 (63.3 rps).
    assert!(
        text.contains("\n2026-03-02T06:05:00Z,61.650,"),
        "linear midpoint missing"
    );
}

/// 200 minutes at 100 rps with one minute at 300 rps (under 1 % of steps, so the
/// normal peak stays 100 rps = 10 instances of 1 worker at 10 rps).
fn spike(dir: &Path, policy_extra: &str) -> (PathBuf, PathBuf) {
    let traffic = dir.join("spike.csv");
    let mut text = String::from("timestamp,rps\n");
    for m in 0..200 {
        let rps = if m == 100 { 300 } else { 100 };
        text.push_str(&format!(
            "2026-01-01T{:02}:{:02}:00Z,{rps}\n",
            m / 60,
            m % 60
        ));
    }
    fs::write(&traffic, text).unwrap();
    let policy = dir.join("policy.toml");
    fs::write(
        &policy,
        format!(
            "[fleet]\nmin_instances = 1\nworkers_per_instance = 1\n{policy_extra}\n\
             [scale_up]\nstep_percent = 500\n[limits]\nfreeze_p95_ms = 1e9\n"
        ),
    )
    .unwrap();
    (traffic, policy)
}

fn events_of(traffic: &Path, policy: &Path, dir: &Path) -> String {
    let events = dir.join("events.csv");
    capplan()
        .args([
            "simulate",
            "--quiet",
            "--rps-per-worker",
            "10",
            "--service-time",
            "50ms",
        ])
        .arg("--traffic")
        .arg(traffic)
        .arg("--policy")
        .arg(policy)
        .arg("--events")
        .arg(&events)
        .assert()
        .success();
    fs::read_to_string(events).unwrap()
}

#[test]
fn a_decision_above_the_safety_cap_is_clamped_to_it() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    // Fleet 14 (100 rps at 0.75); the spike asks 14 + 5 x 14 = 84 > 5 x 10 = 50:
    // clamped to the cap (issue 13: before, the whole decision was refused).
    let (traffic, policy) = spike(dir.path(), "max_instances = 200");
    let events = events_of(&traffic, &policy, dir.path());
    assert!(
        events.contains("T01:41:00Z,scale_up,14,50,CAPPED_SAFETY"),
        "{events}"
    );
}

#[test]
fn max_instances_cap_is_logged() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (traffic, policy) = spike(dir.path(), "max_instances = 20");
    let events = events_of(&traffic, &policy, dir.path());
    assert!(
        events.contains("T01:41:00Z,scale_up,14,20,CAPPED_MAX"),
        "{events}"
    );
}

#[test]
fn recommend_reports_a_cheaper_passing_policy() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = simulate_day()
        .args([
            "--recommend",
            "--cores",
            "1",
            "--instance-cost",
            "0.1",
            "--forecast",
        ])
        .arg(fixture("forecast_day.csv"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("recommended"), "{table}");
    let doc: serde_json::Value = serde_json::from_str(&fs::read_to_string(json).unwrap()).unwrap();
    let rec = &doc["recommendation"];
    for key in [
        "min_instances",
        "max_instances",
        "workers_per_instance",
        "instance_hours",
        "breach_minutes",
    ] {
        assert!(rec.get(key).is_some(), "missing {key}");
    }
    assert_eq!(rec["breach_minutes"], 0.0);
    assert!((2..=4).contains(&rec["workers_per_instance"].as_u64().unwrap()));
    assert!(rec["instance_hours"].as_f64().unwrap() <= doc["instance_hours"].as_f64().unwrap());
}

#[test]
fn measured_profile_faster_than_its_latency_is_accepted_but_contradictory_flags_are_not() {
    let _machine = crate::common::machine::shared();
    // loadtest measures mean latency including the network, so a profile can show
    // 50 rps per worker with a 20.9 ms mean: the model then uses 1/50 s = 20 ms.
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let text = fs::read_to_string(fixture("capacity.json"))
        .unwrap()
        .replace("\"rps_per_worker\": 12.0", "\"rps_per_worker\": 50.0")
        .replace("\"mean\": 50.0", "\"mean\": 20.9");
    fs::write(&profile, text).unwrap();
    let out = capplan()
        .args(["simulate", "--traffic"])
        .arg(fixture("traffic_day.csv"))
        .arg("--capacity")
        .arg(&profile)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("capacity 50.0 rps/worker, service time 20.0 ms"),
        "{table}"
    );

    let out = capplan()
        .args([
            "simulate",
            "--rps-per-worker",
            "50",
            "--service-time",
            "30ms",
            "--traffic",
        ])
        .arg(fixture("traffic_day.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--rps-per-worker: 50 rps exceeds"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn an_error_inside_an_inline_table_names_its_own_line_and_quotes_it() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    fs::write(
        &policy,
        "slo = { p95_ms = 200 }\nfleet = { min_instances = 5, max_instances = \"x\" }\n",
    )
    .unwrap();
    let out = simulate_day()
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("p.toml:2: fleet.max_instances: invalid type"),
        "{err}"
    );
    assert!(
        err.contains("  | fleet = { min_instances = 5, max_instances = \"x\" }"),
        "{err}"
    );
}

/// The profile's SLO and the policy's are one type: a knee measured at a looser
/// objective than the one simulated is pointed out, a tighter one is not.
#[test]
fn a_profile_measured_at_a_looser_objective_is_noted() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let profile = fs::read_to_string(fixture("capacity.json")).unwrap();
    let loose = dir.path().join("loose.json");
    fs::write(&loose, profile.replace("\"p95<300ms\"", "\"p95<800ms\"")).unwrap();
    let other = dir.path().join("p99.json");
    fs::write(&other, profile.replace("\"p95<300ms\"", "\"p99<300ms\"")).unwrap();
    let run = |profile: &Path, extra: &[&str]| {
        let out = capplan()
            .arg("simulate")
            .arg("--traffic")
            .arg(fixture("traffic_day.csv"))
            .arg("--capacity")
            .arg(profile)
            .args(extra)
            .args(["--quiet"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        stderr_of(&out)
    };
    let noted = run(&loose, &[]);
    assert!(
        noted.contains("note: the capacity profile's knee holds p95<800ms, looser than the simulated p95<300ms"),
        "{noted}"
    );
    // --slo-p95 moves the simulated objective: at 900 ms the same profile is tighter.
    assert!(!run(&loose, &["--slo-p95", "900ms"]).contains("note:"));
    assert!(run(&other, &[]).contains("holds p99<300ms, not the simulated objective p95<300ms"));
    // The fixture's own profile was measured at the simulated objective.
    assert!(!run(&fixture("capacity.json"), &[]).contains("note:"));
    let bad = dir.path().join("bad.json");
    fs::write(&bad, profile.replace("\"p95<300ms\"", "\"rps>5\"")).unwrap();
    let out = capplan()
        .args(["simulate", "--traffic"])
        .arg(fixture("traffic_day.csv"))
        .arg("--capacity")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("bad.json:5: slo") && err.contains("upper bound on latency"),
        "{err}"
    );
}
