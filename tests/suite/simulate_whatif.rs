//! The what-if levers of `capplan simulate` through the real binary:
//! `--cdn-offload`, `--cache-hit`, `--db-max-connections` / `--pool-per-worker`.
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn capplan() -> Command {
    Command::cargo_bin("capplan").unwrap()
}

/// A traffic CSV at 1-minute rows from midnight, one rate per row.
fn traffic(dir: &Path, rates: &[f64]) -> PathBuf {
    let mut text = String::from("timestamp,rps\n");
    for (minute, rps) in rates.iter().enumerate() {
        text.push_str(&format!(
            "2026-03-02T{:02}:{:02}:00Z,{rps}\n",
            minute / 60,
            minute % 60
        ));
    }
    let path = dir.join("traffic.csv");
    fs::write(&path, text).unwrap();
    path
}

/// One worker per instance (10 rps sustainable, 50 ms service time: mu = 20 rps).
fn policy(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    fs::write(
        &path,
        format!(
            "[fleet]\nmin_instances = 1\nmax_instances = 100\nworkers_per_instance = 1\n{extra}"
        ),
    )
    .unwrap();
    path
}

fn simulate(traffic: &Path, policy: &Path) -> Command {
    let mut cmd = capplan();
    cmd.arg("simulate")
        .arg("--traffic")
        .arg(traffic)
        .arg("--policy")
        .arg(policy)
        .args(["--rps-per-worker", "10", "--service-time", "50ms"]);
    cmd
}

fn json_of(cmd: &mut Command, dir: &Path) -> Value {
    let path = dir.join("summary.json");
    let out = cmd.arg("--json").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn stderr_of(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cdn_and_cache_cut_instance_hours_in_proportion() {
    let _machine = crate::common::machine::shared();
    // Flat 296 rps for an hour. The fleet starts at ceil(rate / (10 x 0.75)) and
    // utilization stays at 0.74 (between 0.40 and 0.75), so it never changes:
    // 296 rps -> 40 instances; 148 (CDN 50 %) -> 20; 74 (CDN 50 % then cache 50 %,
    // or CDN 75 %) -> 10. Instance-hours over one hour are those counts.
    let dir = tempfile::tempdir().unwrap();
    let traffic = traffic(dir.path(), &[296.0; 60]);
    let policy = policy(dir.path(), "");
    let hours = |levers: &[&str]| {
        let doc = json_of(
            simulate(&traffic, &policy).arg("--quiet").args(levers),
            dir.path(),
        );
        assert_eq!(doc["scale_ups"], 0);
        assert_eq!(doc["scale_downs"], 0);
        doc["instance_hours"].as_f64().unwrap()
    };
    assert_eq!(hours(&[]), 40.0);
    assert_eq!(hours(&["--cdn-offload", "0.5"]), 20.0);
    assert_eq!(hours(&["--cdn-offload", "50%", "--cache-hit", "0.5"]), 10.0);
    assert_eq!(hours(&["--cdn-offload", "75%"]), 10.0);

    // The summary keeps both demands; the timeline's demand_rps is the app's.
    let timeline = dir.path().join("timeline.csv");
    let doc = json_of(
        simulate(&traffic, &policy)
            .args(["--quiet", "--cdn-offload", "0.5", "--cache-hit", "50%"])
            .arg("--timeline")
            .arg(&timeline),
        dir.path(),
    );
    let w = &doc["what_if"];
    assert_eq!(w["app_share"], 0.25);
    assert_eq!(w["demand"]["requests"], 296.0 * 3600.0);
    assert_eq!(w["demand"]["peak_rps"], 296.0);
    assert_eq!(w["app_demand"]["requests"], 74.0 * 3600.0);
    assert_eq!(w["app_demand"]["peak_rps"], 74.0);
    assert!(w["db_connections"].is_null());
    let timeline = fs::read_to_string(timeline).unwrap();
    let mut lines = timeline.lines();
    assert_eq!(
        lines.next().unwrap(),
        "time,demand_rps,served_rps,instances,booting,warming,in_service,utilization,queue_depth,p95_ms,dropped,total_demand_rps"
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((first[1], first[3], first[11]), ("74.000", "10", "296.000"));
}

#[test]
fn prewarm_sizes_for_the_forecast_share_that_reaches_the_app() {
    let _machine = crate::common::machine::shared();
    // 10 rps for an hour; the forecast's upper bound jumps to 300 rps at 00:40.
    // Lead 600 s + boot 60 s = 11 steps ahead: the decision at 00:29 pre-warms for
    // 300 rps at 75 %: ceil(300 / 7.5) = 40 instances. With half the traffic at the
    // CDN, 150 rps: 20 instances, from a fleet of ceil(5 / 7.5) = 1.
    let dir = tempfile::tempdir().unwrap();
    let traffic = traffic(dir.path(), &[10.0; 60]);
    let forecast = dir.path().join("forecast.csv");
    let mut text = String::from("timestamp,rps,lower,upper\n");
    for minute in 0..60 {
        let upper = if minute < 40 { 10 } else { 300 };
        text.push_str(&format!("2026-03-02T00:{minute:02}:00Z,10,9,{upper}\n"));
    }
    fs::write(&forecast, text).unwrap();
    let policy = policy(
        dir.path(),
        "boot_seconds = 60\nwarmup_seconds = 0\n[limits]\nsafety_cap_multiple = 100\n",
    );
    let events = dir.path().join("events.csv");
    let prewarm = |levers: &[&str]| {
        simulate(&traffic, &policy)
            .arg("--forecast")
            .arg(&forecast)
            .arg("--quiet")
            .args(levers)
            .arg("--events")
            .arg(&events)
            .assert()
            .success();
        let text = fs::read_to_string(&events).unwrap();
        text.lines()
            .filter(|l| l.ends_with("PREWARM_FORECAST"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // The forecast's floor then holds the fleet above min against a low metric:
    // logged once as a hold (issue 13).
    assert_eq!(
        prewarm(&[]),
        vec![
            "2026-03-02T00:29:00Z,scale_up,2,40,PREWARM_FORECAST",
            "2026-03-02T00:35:00Z,hold,40,40,PREWARM_FORECAST"
        ]
    );
    assert_eq!(
        prewarm(&["--cdn-offload", "50%"]),
        vec![
            "2026-03-02T00:29:00Z,scale_up,1,20,PREWARM_FORECAST",
            "2026-03-02T00:35:00Z,hold,20,20,PREWARM_FORECAST"
        ]
    );
}

#[test]
fn database_limit_caps_each_spike_and_the_breach_is_reported() {
    let _machine = crate::common::machine::shared();
    // 5 rps, with 100 rps in minutes 10-19 and 30-39. 40 connections at 10 per
    // worker allow 4 one-worker instances. Step 100 % of the instances in service
    // (booting ones are not current capacity, AWS): 1 -> 2 at 00:11, 2 -> 4 at 00:13
    // once the second is up; 4 -> 8 is wanted at 00:15 and held at 4 (one event for
    // the spike). The fleet shrinks to 2 (AWS scale-in rounding), the second spike
    // brings it back to 4 at 00:31 and is held from 00:33: two CAPPED_DB_CONNECTIONS
    // events, two refused decisions. 4 x 20 = 80 rps served against 100: the SLO is missed.
    let dir = tempfile::tempdir().unwrap();
    let rates: Vec<f64> = (0..50)
        .map(|m| {
            if (10..20).contains(&m) || (30..40).contains(&m) {
                100.0
            } else {
                5.0
            }
        })
        .collect();
    let traffic = traffic(dir.path(), &rates);
    let policy = policy(
        dir.path(),
        "boot_seconds = 60\nwarmup_seconds = 0\n[scale_up]\nstep_percent = 100\n\
         [limits]\nsafety_cap_multiple = 100\nfreeze_p95_ms = 1e12\n",
    );
    let events = dir.path().join("events.csv");
    let json = dir.path().join("summary.json");
    let html = dir.path().join("report.html");
    let out = simulate(&traffic, &policy)
        .args(["--db-max-connections", "40", "--pool-per-worker", "10"])
        .args(["--fail-on-breach", "--events"])
        .arg(&events)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("SLO missed: p95 above 300 ms"), "{stderr}");
    assert!(
        stderr.contains("held at 4 instances by --db-max-connections 40"),
        "{stderr}"
    );
    assert!(stdout.contains("peak DB connections (of 40)"), "{stdout}");
    // The HTML report's summary has the same rows as the terminal's.
    let page = fs::read_to_string(&html).unwrap();
    assert!(page.contains("peak DB connections (of 40)"), "{page}");

    let events = fs::read_to_string(events).unwrap();
    let capped: Vec<&str> = events
        .lines()
        .filter(|l| l.ends_with("CAPPED_DB_CONNECTIONS"))
        .collect();
    assert_eq!(
        capped,
        vec![
            "2026-03-02T00:15:00Z,hold,4,4,CAPPED_DB_CONNECTIONS",
            "2026-03-02T00:33:00Z,hold,4,4,CAPPED_DB_CONNECTIONS",
        ],
        "{events}"
    );
    assert!(events.contains("2026-03-02T00:13:00Z,scale_up,2,4,STEP_UP_UTILIZATION"));

    let doc: Value = serde_json::from_str(&fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(doc["refused"], 2);
    assert_eq!(doc["peak_instances"], 4);
    let db = &doc["what_if"]["db_connections"];
    assert_eq!(db["capped_decisions"], 2);
    assert_eq!(db["max_instances"], 4);
    assert_eq!(db["peak_connections"], 40);
    // Every spike minute breaches (and more while the backlog drains).
    assert!(doc["slo"]["breach_minutes"].as_f64().unwrap() >= 20.0);
}

#[test]
fn recommend_never_exceeds_the_database_limit() {
    let _machine = crate::common::machine::shared();
    // The bundled day peaks at 360 rps at 12 rps per worker. 60 connections at 2
    // per worker: at most 15 instances of 2 workers, 10 of 3, 7 of 4.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/simulate");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = capplan();
    cmd.arg("simulate")
        .arg("--traffic")
        .arg(fixtures.join("traffic_day.csv"))
        .arg("--capacity")
        .arg(fixtures.join("capacity.json"))
        .args(["--recommend", "--cores", "1"])
        .args(["--db-max-connections", "60", "--pool-per-worker", "2"]);
    let doc = json_of(&mut cmd, dir.path());
    let excluded = doc["excluded_db_connections"].as_u64().unwrap();
    assert!(excluded > 0);
    let rec = &doc["recommendation"];
    assert!(rec.is_object(), "{doc}");
    let max = rec["max_instances"].as_u64().unwrap();
    let workers = rec["workers_per_instance"].as_u64().unwrap();
    assert!(max * workers * 2 <= 60, "{rec}");
    assert!(rec["peak_connections"].as_u64().unwrap() <= 60);
    assert_eq!(rec["breach_minutes"], 0.0);

    let out = cmd.output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!(
            "{excluded} excluded: max_instances x workers x pool above --db-max-connections"
        )),
        "{table}"
    );
}

#[test]
fn bad_what_if_values_exit_2_naming_the_flag() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let traffic = traffic(dir.path(), &[100.0; 10]);
    let policy = dir.path().join("default.toml");
    fs::write(&policy, "").unwrap(); // defaults: min 2 instances of 4 workers
    for (args, flag) in [
        (vec!["--cdn-offload", "1.5"], "--cdn-offload"),
        (vec!["--cdn-offload", "150%"], "--cdn-offload"),
        (vec!["--cache-hit", "-0.1"], "--cache-hit"),
        (vec!["--cache-hit", "lots"], "--cache-hit"),
        (
            vec!["--db-max-connections", "100", "--pool-per-worker", "0"],
            "--pool-per-worker",
        ),
        (vec!["--db-max-connections", "100"], "--pool-per-worker"),
        (vec!["--pool-per-worker", "5"], "--db-max-connections"),
        (
            vec!["--db-max-connections", "-5", "--pool-per-worker", "5"],
            "--db-max-connections",
        ),
    ] {
        let (code, err) = stderr_of(simulate(&traffic, &policy).args(&args));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    // The smallest fleet already needs 2 x 4 x 5 = 40 connections.
    let (code, err) = stderr_of(simulate(&traffic, &policy).args([
        "--db-max-connections",
        "30",
        "--pool-per-worker",
        "5",
    ]));
    assert_eq!(code, Some(2), "{err}");
    for part in [
        "--db-max-connections",
        "30 connections",
        "fleet.min_instances (2)",
        "fleet.workers_per_instance (4)",
        "--pool-per-worker (5)",
        "= 40",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
}
