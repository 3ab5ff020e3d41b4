//! Load shapes and replay through the binary against `capplan target`: `--stages`
//! (users follow the ramp, and stop between requests), `--rate-stages` (the achieved
//! rate tracks the intended one), `--shape FILE.csv` (Locust's LoadTestShape as a
//! table), `--replay` with `--speedup` and `--scale` (the file's integral is sent), and
//! every bad shape refused with exit 2 before any traffic.
use crate::common;

use std::path::Path;
use std::time::Duration;

use common::machine::{shared, timing};
use common::{capplan, Target};
use serde_json::Value;

/// Run `capplan loadtest ARGS --quiet`; it must exit 0. Returns its JSON (`--json`).
fn loadtest(args: &[&str], dir: &Path) -> Value {
    let json = dir.join("run.json");
    let out = capplan()
        .arg("loadtest")
        .args(args)
        .args(["--quiet", "--json"])
        .arg(&json)
        .timeout(Duration::from_secs(90))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "loadtest {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

/// The `served N requests` count `capplan target` prints when stopped.
fn served(target: Target) -> u64 {
    let stopped = target.stop();
    let after = stopped
        .stderr
        .split("served ")
        .nth(1)
        .unwrap_or_else(|| panic!("no served count in {:?}", stopped.stderr));
    after.split(' ').next().unwrap().parse().unwrap()
}

/// Users the test's own reading of k6 stages gives just after `t` s: linear from 0
/// through each (duration, target) in turn, whole users (user u runs while the ramp
/// is at least u + 1: on a ramp down through 4 at `t`, the 4th has just stopped).
fn stage_users(stages: &[(f64, f64)], t: f64) -> u32 {
    let end: f64 = stages.iter().map(|s| s.0).sum();
    let t = (t + 1e-6).min(end);
    let (mut t0, mut v0) = (0.0, 0.0);
    for &(duration, target) in stages {
        if t <= t0 + duration {
            let v = v0 + (target - v0) * (t - t0) / duration;
            return (v + 1e-9).floor() as u32;
        }
        t0 += duration;
        v0 = target;
    }
    v0 as u32
}

/// The stats history's rows by Locust's column names.
fn history_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn stage_runs_users_follow_the_ramp_and_stop_between_requests() {
    let _guard = timing(10, 8);
    // 150 ms requests: a user stopped mid-request would leave the target serving a
    // request the load test never recorded.
    let target = Target::start(&["--workers", "16", "--service-time", "150ms"]);
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("run");
    let stages = [(2.0, 8.0), (1.0, 8.0), (2.0, 0.0), (1.0, 4.0), (1.0, 0.0)];
    let doc = loadtest(
        &[
            "--url",
            &target.url_for("/"),
            "--stages",
            "2s:8,1s:8,2s:0,1s:4,1s:0",
            "--csv",
            prefix.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(doc["model"], "closed");
    assert_eq!(doc["users"], 8, "the peak of the stages");
    assert_eq!(doc["shape"]["kind"], "users");
    assert_eq!(doc["shape"]["duration_s"], 7.0);
    let history = doc["history"].as_array().unwrap();
    assert_eq!(history.len(), 7, "the run lasts as long as its stages");

    // The Locust stats history: `User Count` (users running) follows the ramp, one
    // user either side for a user starting or stopping at the sampling instant.
    let rows = history_csv(&dir.path().join("run_stats_history.csv"));
    assert_eq!(rows.len(), history.len());
    let mut counts = Vec::new();
    for (k, row) in rows.iter().enumerate() {
        let second = (k + 1) as f64;
        let expected = stage_users(&stages, second);
        assert_eq!(
            expected,
            [4, 8, 7, 3, 0, 3, 0][k],
            "the test's own reading of its stages"
        );
        let running: u32 = row["User Count"].parse().unwrap();
        let intended: u32 = row["Intended User Count"].parse().unwrap();
        assert_eq!(intended, expected, "second {second}: the intended users");
        assert_eq!(history[k]["intended_users"], expected, "second {second}");
        assert!(
            running.abs_diff(expected) <= 1,
            "second {second}: {running} users running, the stages give {expected}"
        );
        counts.push(running);
    }
    // Up, down to none, up again, down: not a flat line.
    assert!(
        counts[1] >= 7 && counts[3] <= 5 && counts[4] <= 1,
        "{counts:?}"
    );

    // Users stop between tasks: every request the target served was recorded,
    // answered, and none was cut off.
    let requests = doc["requests"].as_u64().unwrap();
    assert_eq!(doc["failures"], 0, "{}", doc["errors"]);
    assert!(requests > 0);
    assert_eq!(
        served(target),
        requests,
        "requests served by the target vs recorded by the load test"
    );
}

#[test]
fn a_rate_stage_runs_achieved_rate_tracks_the_intended_one() {
    let _guard = timing(20, 7);
    let target = Target::start(&["--workers", "8", "--service-time", "2ms"]);
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("run");
    let doc = loadtest(
        &[
            "--url",
            &target.url_for("/"),
            "--rate-stages",
            "2s:200,2s:200,2s:0",
            "--csv",
            prefix.to_str().unwrap(),
        ],
        dir.path(),
    );
    // The shape's integral: 2 s ramping to 200/s, 2 s at 200/s, 2 s down: 1200.
    let intended_total = 200.0 + 400.0 + 200.0;
    assert_eq!(doc["model"], "open");
    assert_eq!(doc["shape"]["intended_requests"], intended_total);
    // Every intended send is a request (late or unsent ones are failures, not gone).
    assert_eq!(doc["requests"].as_f64().unwrap(), intended_total);
    let history = doc["history"].as_array().unwrap();
    assert_eq!(history.len(), 6);
    // Per second: ramp 0->100->200 gives 50 and 150, then 200, 200, 150, 50.
    let expected = [50.0, 150.0, 200.0, 200.0, 150.0, 50.0];
    for (k, row) in history.iter().enumerate() {
        let intended = row["intended_rps"].as_f64().unwrap();
        assert!((intended - expected[k]).abs() < 1e-9, "second {}", k + 1);
        // Achieved: requests completed in the second. A send's answer may land in the
        // next second (2 ms late at most on an idle target), and the shared machine
        // can delay a send by a tick: 10 % or 5 requests.
        let achieved = row["rps"].as_f64().unwrap();
        assert!(
            (achieved - intended).abs() <= (0.10 * intended).max(5.0),
            "second {}: {achieved} achieved, {intended} intended",
            k + 1
        );
    }
    assert!(doc["rate_achieved"].as_f64().unwrap() > 0.95, "{doc}");
    // The stats history carries the intended rate (10 s mean, like Requests/s).
    let rows = history_csv(&dir.path().join("run_stats_history.csv"));
    let last: f64 = rows[5]["Intended Requests/s"].parse().unwrap();
    assert!((last - intended_total / 6.0).abs() < 1e-6, "{last}");
}

#[test]
fn a_replay_sends_the_files_integral_sped_up_and_scaled() {
    let _guard = timing(20, 7);
    let target = Target::start(&["--workers", "8", "--service-time", "2ms"]);
    let dir = tempfile::tempdir().unwrap();
    // Six minutes of production counted per minute.
    let counts = [6000.0, 12000.0, 18000.0, 12000.0, 6000.0, 3000.0];
    let mut csv = String::from("timestamp,requests\n");
    for (i, count) in counts.iter().enumerate() {
        csv.push_str(&format!("2026-03-02 12:{i:02}:00,{count}\n"));
    }
    let file = dir.path().join("traffic.csv");
    std::fs::write(&file, csv).unwrap();
    let (speedup, scale, threads) = (60.0, 0.5, 2);
    let doc = loadtest(
        &[
            "--url",
            &target.url_for("/"),
            "--replay",
            file.to_str().unwrap(),
            "--speedup",
            "60",
            "--scale",
            "0.5",
            "--threads",
            "2",
        ],
        dir.path(),
    );
    // Each minute plays in 60 / speedup seconds at its rate x scale.
    let interval = 60.0;
    let integral: f64 = counts.iter().sum::<f64>() * scale / speedup;
    let seconds = counts.len() as f64 * interval / speedup;
    assert_eq!(doc["duration_s"], seconds);
    let requests = doc["requests"].as_f64().unwrap();
    // Uniform sends: each thread sends its share of the integral rounded to a whole
    // request, so the total is within one request per thread.
    assert!(
        (requests - integral).abs() <= threads as f64,
        "{requests} requests, the file's integral is {integral}"
    );
    assert_eq!(doc["failures"], 0, "{}", doc["errors"]);
    for (k, row) in doc["history"].as_array().unwrap().iter().enumerate() {
        let rate = counts[k] / interval * scale;
        let intended = row["intended_rps"].as_f64().unwrap();
        assert!((intended - rate).abs() < 1e-9, "second {}", k + 1);
    }
    target.stop();
}

#[test]
fn a_shape_file_sets_users_and_their_spawn_rate() {
    let _guard = timing(60, 5);
    let target = Target::start(&["--workers", "8", "--service-time", "5ms"]);
    let dir = tempfile::tempdir().unwrap();
    let shape = dir.path().join("shape.csv");
    // 4 users at 4 a second, 8 at once from 1.5 s, the end at 4 s.
    std::fs::write(&shape, "offset,users,spawn_rate\n0,4,4\n1.5,8,\n4,0\n").unwrap();
    let doc = loadtest(
        &[
            "--url",
            &target.url_for("/"),
            "--shape",
            shape.to_str().unwrap(),
        ],
        dir.path(),
    );
    let intended: Vec<u64> = doc["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["intended_users"].as_u64().unwrap())
        .collect();
    // At 1 s the ramp has started 4 (4 a second); from 1.5 s, 8 to the end.
    assert_eq!(intended, [4, 8, 8, 8]);
    for row in doc["history"].as_array().unwrap() {
        let running = row["users"].as_u64().unwrap();
        let wanted = row["intended_users"].as_u64().unwrap();
        assert!(running.abs_diff(wanted) <= 1, "{row}");
    }
    assert_eq!(doc["users"], 8);
    target.stop();
}

#[test]
fn bad_shapes_exit_2_before_any_traffic_naming_the_flag_file_and_line() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let shape = dir.path().join("shape.csv");
    std::fs::write(&shape, "offset,rate\n0,100\n10,-3\n").unwrap();
    let gap = dir.path().join("gap.csv");
    std::fs::write(
        &gap,
        "timestamp,rps\n2026-03-02 12:00:00,5\n2026-03-02 12:01:00,5\n2026-03-02 12:05:00,5\n",
    )
    .unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shape.csv");
    // Nothing listens on port 9 (discard): a shape checked after reaching it would
    // fail with exit 3, not 2.
    let url = "http://127.0.0.1:9/";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--stages", "30s"], "--stages"),
        (vec!["--stages", "30s:ten"], "'ten' is not a number"),
        (
            vec!["--stages", "30s:10,30s:0", "--duration", "10s"],
            "--duration: 10s conflicts with --stages, which lasts 60s",
        ),
        (vec!["--stages", "10s:10", "--rate", "5"], "choose one load"),
        (
            vec!["--stages", "10s:10", "--connections", "5"],
            "--connections",
        ),
        (
            vec!["--stages", "10s:10", "--spawn-rate", "5"],
            "--spawn-rate",
        ),
        (vec!["--stages", "10s:0.5"], "never reaches one user"),
        (vec!["--rate-stages", "10s:0"], "less than one to send"),
        (
            vec!["--shape", shape.to_str().unwrap()],
            "shape.csv:3: rate: -3 must be a non-negative number",
        ),
        (
            vec!["--replay", gap.to_str().unwrap()],
            "gap.csv:4: timestamp: gap: 3 missing 60 s interval(s)",
        ),
        (
            vec!["--replay", gap.to_str().unwrap(), "--speedup", "0"],
            "--speedup: must be a positive number",
        ),
        (vec!["--speedup", "60"], "--replay"),
        // The documented example parses, and lasts its three minutes.
        (
            vec!["--shape", example.to_str().unwrap(), "--duration", "1s"],
            "--duration: 1s conflicts with --shape, which lasts 180s",
        ),
    ];
    for (args, says) in cases {
        let out = capplan()
            .args(["loadtest", "--url", url, "--quiet"])
            .args(&args)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
