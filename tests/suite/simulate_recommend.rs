//! `simulate --recommend` through the real binary: a recommendation an SRE would
//! sign (docs/simulate.md, *`--recommend`*).
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/simulate")
        .join(name)
}

/// A traffic CSV of one-minute rows at these rates.
fn traffic(dir: &Path, name: &str, rates: &[f64]) -> PathBuf {
    let mut text = String::from("timestamp,rps\n");
    let start = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z").unwrap();
    for (minute, rate) in rates.iter().enumerate() {
        let at = start + chrono::Duration::minutes(minute as i64);
        text.push_str(&format!("{},{rate}\n", at.format("%Y-%m-%dT%H:%M:%SZ")));
    }
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// Run simulate with `args`; the exit code, the summary table and the JSON.
fn simulate(dir: &Path, args: &[&str]) -> (i32, String, Value) {
    let json = dir.join("out.json");
    let out = Command::cargo_bin("capplan")
        .unwrap()
        .arg("simulate")
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(code != 2, "{}", String::from_utf8_lossy(&out.stderr));
    let doc = serde_json::from_str(&fs::read_to_string(json).unwrap()).unwrap();
    (code, table, doc)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The recommendation as a policy file (everything else the defaults).
fn policy_of(rec: &Value, dir: &Path) -> PathBuf {
    let toml = format!(
        "[fleet]\nmin_instances = {}\nmax_instances = {}\nworkers_per_instance = {}\n\
         [scale_up]\nthreshold = {}\nstep_percent = {}\ncooldown_seconds = {}\n\
         [scale_down]\nthreshold = {}\nwindow_seconds = {}\nmax_remove_percent = {}\n",
        rec["min_instances"],
        rec["max_instances"],
        rec["workers_per_instance"],
        rec["scale_up_threshold"],
        rec["step_percent"],
        rec["cooldown_seconds"],
        rec["scale_down_threshold"],
        rec["window_seconds"],
        rec["max_remove_percent"],
    );
    let path = dir.join("recommended.toml");
    fs::write(&path, toml).unwrap();
    path
}

#[test]
fn the_fixture_recommendation_is_redundant_with_headroom_and_holds_when_replayed() {
    let _machine = crate::common::machine::shared();
    // On main: min 1, max 4 where the threshold needs 5 at the 360 rps peak (CAPPED_MAX).
    let dir = tempfile::tempdir().unwrap();
    let (traffic, capacity) = (fixture("traffic_day.csv"), fixture("capacity.json"));
    let base = [
        "--traffic",
        path(&traffic),
        "--capacity",
        path(&capacity),
        "--recommend",
    ];
    let (_, table, doc) = simulate(dir.path(), &base);
    let rec = &doc["recommendation"];
    let (min, max) = (
        rec["min_instances"].as_u64().unwrap(),
        rec["max_instances"].as_u64().unwrap(),
    );
    let workers = rec["workers_per_instance"].as_f64().unwrap();
    let threshold = rec["scale_up_threshold"].as_f64().unwrap();
    assert!(min >= 2, "{rec}");
    let needs = (360.0 / (workers * 12.0 * threshold) - 1e-9).ceil() as u64;
    assert_eq!(rec["peak_needs_instances"].as_u64().unwrap(), needs);
    assert!(max >= needs, "{rec}");
    assert!(table.contains("(redundant)"), "{table}");
    assert!(
        table.contains(&format!("covers the {needs} instance(s)")),
        "{table}"
    );
    assert!(doc["optimality"]["gap_percent"].is_number(), "{doc}");

    // Replayed as a policy file, it holds the SLO and max never binds.
    let policy = policy_of(rec, dir.path());
    let events = dir.path().join("events.csv");
    let replay = [
        "--traffic",
        path(&traffic),
        "--capacity",
        path(&capacity),
        "--policy",
        path(&policy),
        "--events",
        path(&events),
        "--fail-on-breach",
        "--quiet",
    ];
    let (code, _, doc) = simulate(dir.path(), &replay);
    assert_eq!(code, 0, "{doc}");
    let events = fs::read_to_string(events).unwrap();
    assert!(!events.contains("CAPPED_MAX"), "{events}");
    let hours = doc["instance_hours"].as_f64().unwrap();
    assert!((hours - rec["instance_hours"].as_f64().unwrap()).abs() < 1e-6);
}

#[test]
fn a_single_instance_only_with_the_flag() {
    let _machine = crate::common::machine::shared();
    // 15 rps: one instance of 4 workers at 12 rps each carries it.
    let dir = tempfile::tempdir().unwrap();
    let t = traffic(dir.path(), "flat.csv", &[15.0; 240]);
    let args = [
        "--traffic",
        path(&t),
        "--rps-per-worker",
        "12",
        "--service-time",
        "50ms",
        "--recommend",
    ];
    let (_, _, doc) = simulate(dir.path(), &args);
    assert!(
        doc["recommendation"]["min_instances"].as_u64().unwrap() >= 2,
        "{doc}"
    );
    let mut single = args.to_vec();
    single.push("--allow-single-instance");
    let (_, table, doc) = simulate(dir.path(), &single);
    assert_eq!(doc["recommendation"]["min_instances"], 1, "{doc}");
    assert!(
        table.contains("single instance allowed by --allow-single-instance"),
        "{table}"
    );
}

#[test]
fn eight_cores_still_get_two_instances() {
    let _machine = crate::common::machine::shared();
    // On main: 1 instance x 30 workers, no redundancy.
    let dir = tempfile::tempdir().unwrap();
    let (traffic, capacity) = (fixture("traffic_day.csv"), fixture("capacity.json"));
    let args = [
        "--traffic",
        path(&traffic),
        "--capacity",
        path(&capacity),
        "--recommend",
        "--cores",
        "8",
    ];
    let (_, _, doc) = simulate(dir.path(), &args);
    let rec = &doc["recommendation"];
    assert!(rec["min_instances"].as_u64().unwrap() >= 2, "{rec}");
    let workers = rec["workers_per_instance"].as_u64().unwrap();
    assert!((16..=32).contains(&workers), "{rec}");
}

#[test]
fn equal_cost_picks_the_safer_policy_and_says_so() {
    let _machine = crate::common::machine::shared();
    // Flat 200 rps: the fleet never shrinks below what carries it, so every
    // smaller min costs the same. On main the tie went to min 1.
    let dir = tempfile::tempdir().unwrap();
    let t = traffic(dir.path(), "flat.csv", &[200.0; 240]);
    let args = [
        "--traffic",
        path(&t),
        "--rps-per-worker",
        "12",
        "--service-time",
        "50ms",
        "--recommend",
    ];
    let (_, table, doc) = simulate(dir.path(), &args);
    let rec = &doc["recommendation"];
    assert!(rec["tied_at_best_cost"].as_u64().unwrap() > 0, "{rec}");
    assert!(
        table.contains("picked the largest min, then max (the safer one)"),
        "{table}"
    );
    let carried = (200.0 / (rec["workers_per_instance"].as_f64().unwrap() * 12.0)).ceil() as u64;
    assert!(
        rec["min_instances"].as_u64().unwrap() * 2 >= carried,
        "{rec}"
    );
}

/// A week at 60-180 rps (daily sine) with one 15-minute spike to 3000 rps.
fn week_with_incident() -> Vec<f64> {
    let mut rates: Vec<f64> = (0..7 * 1440)
        .map(|m| 60.0 + 120.0 * ((m % 1440) as f64 / 1440.0 * std::f64::consts::PI).sin())
        .collect();
    rates[3 * 1440 + 600..3 * 1440 + 615]
        .iter_mut()
        .for_each(|r| *r = 3000.0);
    rates
}

#[test]
fn a_short_incident_is_reported_not_planned_for() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let t = traffic(dir.path(), "week.csv", &week_with_incident());
    let args = [
        "--traffic",
        path(&t),
        "--rps-per-worker",
        "12",
        "--service-time",
        "50ms",
        "--recommend",
    ];
    let (_, table, doc) = simulate(dir.path(), &args);
    let incidents = doc["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{doc}");
    assert_eq!(incidents[0]["minutes"], 15.0);
    assert_eq!(incidents[0]["peak_rps"], 3000.0);
    assert!(table.contains("reported, not planned for"), "{table}");
    let rec = &doc["recommendation"];
    // Sized for 180 rps, not 3000: a small always-on floor.
    let per_instance = rec["workers_per_instance"].as_f64().unwrap() * 12.0;
    assert!(
        (rec["min_instances"].as_f64().unwrap()) <= (180.0 / per_instance).ceil(),
        "{rec}"
    );
    assert!(
        rec["incident_breach_minutes"].as_f64().unwrap() > 0.0,
        "{rec}"
    );

    // Planning for it (--incident-max 0s) costs more.
    let mut planned = args.to_vec();
    planned.extend(["--incident-max", "0s"]);
    let (_, _, all) = simulate(dir.path(), &planned);
    assert_eq!(all["incidents"].as_array().unwrap().len(), 0);
    if all["recommendation"].is_object() {
        assert!(
            all["recommendation"]["instance_hours"].as_f64().unwrap()
                > rec["instance_hours"].as_f64().unwrap()
        );
    }
}

#[test]
fn the_error_budget_replaces_zero_breaches() {
    let _machine = crate::common::machine::shared();
    // A day with a jump (50 -> 330 rps for 3 hours) the fleet cannot follow without
    // breaching for a few minutes unless it keeps a spare instance all day: with a
    // 15-minute budget the answer is cheaper (on main the budget key did not exist).
    let dir = tempfile::tempdir().unwrap();
    let rates: Vec<f64> = (0..1440)
        .map(|m| if (540..720).contains(&m) { 330.0 } else { 50.0 })
        .collect();
    let t = traffic(dir.path(), "day.csv", &rates);
    let strict_policy = dir.path().join("strict.toml");
    fs::write(&strict_policy, "[slo]\np95_ms = 300\n").unwrap();
    let budget_policy = dir.path().join("budget.toml");
    fs::write(
        &budget_policy,
        "[slo]\np95_ms = 300\nmax_breach_minutes = 15\n",
    )
    .unwrap();
    let run = |policy: &Path| {
        let args = [
            "--traffic",
            path(&t),
            "--rps-per-worker",
            "12",
            "--service-time",
            "50ms",
            "--recommend",
            "--policy",
            path(policy),
        ];
        simulate(dir.path(), &args).2
    };
    let strict = run(&strict_policy);
    let budget = run(&budget_policy);
    let (s, b) = (&strict["recommendation"], &budget["recommendation"]);
    assert!(
        b["instance_hours"].as_f64().unwrap() < s["instance_hours"].as_f64().unwrap(),
        "{s} {b}"
    );
    assert!(b["breach_minutes"].as_f64().unwrap() <= 15.0, "{b}");
    assert!(b["breach_minutes"].as_f64().unwrap() > 0.0, "{b}");
}

#[test]
fn fail_on_breach_honours_the_breach_budget() {
    let _machine = crate::common::machine::shared();
    // 5 minutes at 420 rps on 400 rps of capacity: a few breach minutes, no drops.
    let dir = tempfile::tempdir().unwrap();
    let mut rates = vec![100.0; 60];
    rates[10..15].iter_mut().for_each(|r| *r = 420.0);
    let t = traffic(dir.path(), "t.csv", &rates);
    let run = |budget: &str| {
        let policy = dir.path().join("p.toml");
        fs::write(
            &policy,
            format!("[fleet]\nmin_instances = 5\nmax_instances = 5\n[slo]\nmax_breach_minutes = {budget}\n"),
        )
        .unwrap();
        let args = [
            "--traffic",
            path(&t),
            "--rps-per-worker",
            "20",
            "--service-time",
            "50ms",
            "--policy",
            path(&policy),
            "--fail-on-breach",
            "--quiet",
        ];
        simulate(dir.path(), &args)
    };
    let (code, _, doc) = run("0");
    assert_eq!(code, 1);
    let minutes = doc["slo"]["breach_minutes"].as_f64().unwrap();
    let (code, _, _) = run(&format!("{}", minutes));
    assert_eq!(code, 0);
    let (code, _, doc) = run(&format!("{}", minutes - 1.0));
    assert_eq!(code, 1);
    assert!(
        doc["failures"][0].as_str().unwrap().contains("budget"),
        "{doc}"
    );
}

#[test]
fn a_bad_budget_is_exit_2_naming_the_field() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    fs::write(&policy, "[slo]\nmax_breach_minutes = -5\n").unwrap();
    let t = traffic(dir.path(), "t.csv", &[10.0; 3]);
    let out = Command::cargo_bin("capplan")
        .unwrap()
        .args([
            "simulate",
            "--rps-per-worker",
            "10",
            "--traffic",
            path(&t),
            "--policy",
            path(&policy),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("p.toml:2: slo.max_breach_minutes"), "{err}");
    let out = Command::cargo_bin("capplan")
        .unwrap()
        .args([
            "simulate",
            "--rps-per-worker",
            "10",
            "--traffic",
            path(&t),
            "--incident-max",
            "soon",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--incident-max"));
}

/// `../shared/data/NAME` beside the repository, or `None` (the test skips).
fn shared(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipping: {} not found (shared data lives beside the repo)",
            path.display()
        );
        None
    }
}

#[test]
fn eight_weeks_of_bursty_tweets_get_a_signable_recommendation() {
    let _machine = crate::common::machine::shared();
    // Tweets mentioning Amazon per 5 minutes (NAB): a daily cycle and news spikes.
    let Some(source) = shared("twitter_volume_amzn_5min.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Counts per interval (stamps at :MM:53, a regular 5-minute grid); 100 requests
    // per tweet makes it a web service's traffic (tens of rps, news spikes above).
    let text = fs::read_to_string(source).unwrap();
    let mut scaled = String::from("timestamp,requests\n");
    for line in text.lines().skip(1) {
        let (stamp, count) = line.split_once(',').unwrap();
        let count: f64 = count.trim().parse().unwrap();
        scaled.push_str(&format!("{stamp},{}\n", count * 100.0));
    }
    let t = dir.path().join("tweets.csv");
    fs::write(&t, scaled).unwrap();
    let args = [
        "--traffic",
        path(&t),
        "--rps-per-worker",
        "4",
        "--service-time",
        "200ms",
        "--slo-p95",
        "1s",
        "--recommend",
    ];
    let (_, table, doc) = simulate(dir.path(), &args);
    let rec = &doc["recommendation"];
    assert!(rec.is_object(), "{table}");
    assert!(rec["min_instances"].as_u64().unwrap() >= 2, "{rec}");
    let max = rec["max_instances"].as_u64().unwrap();
    assert!(
        max >= rec["peak_needs_instances"].as_u64().unwrap(),
        "{rec}"
    );
    // The news spikes are short: reported, not planned for, and they are listed.
    let incidents = doc["incidents"].as_array().unwrap();
    assert!(!incidents.is_empty(), "{table}");
    assert!(incidents
        .iter()
        .all(|i| i["minutes"].as_f64().unwrap() <= 30.0));
    assert!(doc["planned_peak_rps"].is_null() || doc["planned_peak_rps"].is_number());
    assert!(
        doc["optimality"]["finer_candidates"].as_u64().unwrap() > 0,
        "{doc}"
    );
    eprintln!("{table}");
}

#[test]
fn with_a_forecast_the_recommendation_says_how_far_ahead_to_pre_warm() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let (_, table, doc) = simulate(
        dir.path(),
        &[
            "--traffic",
            path(&fixture("traffic_day.csv")),
            "--forecast",
            path(&fixture("forecast_day.csv")),
            "--capacity",
            path(&fixture("capacity.json")),
            "--recommend",
        ],
    );
    let rec = &doc["recommendation"];
    let lead = rec["lead_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("{rec}"));
    assert!((0.0..=1800.0).contains(&lead), "{lead}");
    assert!(table.contains("pre-warm lead"), "{table}");
    // Without a forecast it is null and not shown.
    let (_, table, doc) = simulate(
        dir.path(),
        &[
            "--traffic",
            path(&fixture("traffic_day.csv")),
            "--capacity",
            path(&fixture("capacity.json")),
            "--recommend",
        ],
    );
    assert!(doc["recommendation"]["lead_seconds"].is_null(), "{doc}");
    assert!(!table.contains("pre-warm lead"), "{table}");
}
