//! `capplan simulate` through the real binary: the findings a user must hear before
//! trusting a verdict (bursts a coarse step hides, a forecast that does not cover
//! the traffic, a policy that flaps on constant demand), the safety cap's normal
//! peak, and AWS's SchedulingBufferTime (issue 13, items 5 and 6).
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn capplan() -> Command {
    Command::cargo_bin("capplan").unwrap()
}

/// `rows` of `interval` seconds from 2026-01-05T00:00:00Z.
fn series(dir: &Path, name: &str, interval: u32, rows: &[f64]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::from("timestamp,rps\n");
    for (i, rps) in rows.iter().enumerate() {
        let t = i as u32 * interval;
        text.push_str(&format!(
            "2026-01-{:02}T{:02}:{:02}:{:02}Z,{rps}\n",
            5 + t / 86_400,
            t / 3600 % 24,
            t / 60 % 60,
            t % 60
        ));
    }
    fs::write(&path, text).unwrap();
    path
}

fn policy(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    fs::write(&path, text).unwrap();
    path
}

/// `simulate` with 10 rps per worker and a 50 ms service time.
fn simulate(traffic: &Path, policy: &Path, extra: &[&str]) -> std::process::Output {
    capplan()
        .args([
            "simulate",
            "--rps-per-worker",
            "10",
            "--service-time",
            "50ms",
        ])
        .arg("--traffic")
        .arg(traffic)
        .arg("--policy")
        .arg(policy)
        .args(extra)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_burst_shorter_than_the_step_is_warned_about() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    // An hour of 10-second rows at 100 rps with a 30-second burst at 400 rps; 4
    // instances x 4 workers x 10 rps = 160 rps sustainable (320 rps served at most).
    let mut rows = vec![100.0; 360];
    rows[200..203].iter_mut().for_each(|v| *v = 400.0);
    let traffic = series(dir.path(), "t.csv", 10, &rows);
    let policy = policy(
        dir.path(),
        "[fleet]\nmin_instances = 4\nmax_instances = 4\n",
    );

    let coarse = simulate(&traffic, &policy, &["--step", "5m"]);
    assert_eq!(coarse.status.code(), Some(0));
    let (stdout, _) = text(&coarse);
    assert!(stdout.contains("verdict: SLO met"), "{stdout}");
    assert!(
        stdout.contains("warning: the traffic's 10-second rows burst above the fleet's sustainable capacity inside 1 step(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("400.0 rps against 160.0 rps of capacity"),
        "{stdout}"
    );
    assert!(stdout.contains("--step 10s"), "{stdout}");

    // At the rows' own step the burst is seen, and breaches.
    let fine = simulate(&traffic, &policy, &["--step", "10s"]);
    let (stdout, _) = text(&fine);
    assert!(stdout.contains("verdict: SLO missed"), "{stdout}");
    assert!(!stdout.contains("warning: the traffic's"), "{stdout}");

    // --quiet still says it (on stderr), and the JSON lists it.
    let json = dir.path().join("s.json");
    let quiet = simulate(
        &traffic,
        &policy,
        &["--step", "5m", "--quiet", "--json", json.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&quiet);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("warning: the traffic's 10-second rows"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 1, "{doc}");
}

#[test]
fn a_forecast_of_another_period_is_refused_and_a_partial_one_warned() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let traffic = series(dir.path(), "t.csv", 3600, &[100.0; 48]);
    let policy = policy(dir.path(), "");
    let forecast = |name: &str, first_hour: u32, hours: u32| {
        let path = dir.path().join(name);
        let mut text = String::from("timestamp,rps,lower,upper\n");
        for h in first_hour..first_hour + hours {
            text.push_str(&format!(
                "2026-01-{:02}T{:02}:00:00Z,100,90,110\n",
                5 + h / 24,
                h % 24
            ));
        }
        fs::write(&path, text).unwrap();
        path
    };

    let later = forecast("later.csv", 24 * 7, 24);
    let out = simulate(&traffic, &policy, &["--forecast", later.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("later.csv"), "{stderr}");
    assert!(
        stderr.contains("the forecast covers 2026-01-12T00:00:00Z to 2026-01-13T00:00:00Z, the traffic 2026-01-05T00:00:00Z to 2026-01-07T00:00:00Z: they do not overlap"),
        "{stderr}"
    );

    let half = forecast("half.csv", 24, 24);
    let out = simulate(&traffic, &policy, &["--forecast", half.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("warning: the forecast covers 1440 of the 2880 steps simulated (50.0 %: from 2026-01-06T00:00:00Z to 2026-01-07T00:00:00Z)"),
        "{stdout}"
    );

    let whole = forecast("whole.csv", 0, 48);
    let out = simulate(&traffic, &policy, &["--forecast", whole.to_str().unwrap()]);
    let (stdout, _) = text(&out);
    assert!(!stdout.contains("warning:"), "{stdout}");
}

#[test]
fn a_policy_that_flaps_on_constant_demand_is_warned_about() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let traffic = series(dir.path(), "t.csv", 3600, &[100.0; 24]);
    let narrow = policy(
        dir.path(),
        "[fleet]\nmax_instances = 20\n[scale_up]\nthreshold = 0.6\n[scale_down]\nthreshold = 0.55\n",
    );
    let (stdout, _) = text(&simulate(&traffic, &narrow, &[]));
    assert!(
        stdout.contains("warning: the policy flaps on constant demand: at a steady"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "widen the dead band between scale_down.threshold (0.55) and scale_up.threshold (0.6)"
        ),
        "{stdout}"
    );
    // The defaults (0.40 / 0.75) hold on every steady level.
    let default = policy(dir.path(), "[fleet]\nmax_instances = 20\n");
    let (stdout, _) = text(&simulate(&traffic, &default, &[]));
    assert!(!stdout.contains("flaps on constant demand"), "{stdout}");
}

/// A day of one-minute rows at 100 rps with a `minutes`-long 100x spike at 10:00.
fn spike_day(dir: &Path, minutes: usize) -> PathBuf {
    let mut rows = vec![100.0; 1440];
    rows[600..600 + minutes]
        .iter_mut()
        .for_each(|v| *v = 10_000.0);
    series(dir, &format!("spike{minutes}.csv"), 60, &rows)
}

fn json_of(traffic: &Path, policy: &Path, dir: &Path) -> serde_json::Value {
    let json = dir.join("out.json");
    let out = simulate(
        traffic,
        policy,
        &["--quiet", "--json", json.to_str().unwrap()],
    );
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1));
    serde_json::from_slice(&fs::read(&json).unwrap()).unwrap()
}

#[test]
fn the_safety_cap_is_not_set_by_the_spike_it_should_contain() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy(
        dir.path(),
        "[fleet]\nmax_instances = 1000\n[limits]\nfreeze_p95_ms = 1e9\n",
    );
    // Before: the 99th percentile of the day was the spike from 15 minutes on (cap 10 ->
    // 1250 instances). Now the normal peak is the day's second-busiest hour: 100 rps.
    let caps: Vec<u64> = [14, 15, 30]
        .iter()
        .map(|&m| {
            json_of(&spike_day(dir.path(), m), &policy, dir.path())["safety_cap"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(caps, vec![15, 15, 15], "3 instances carry 100 rps; 5 x 3");
    let doc = json_of(&spike_day(dir.path(), 15), &policy, dir.path());
    assert_eq!(doc["normal_peak"]["rps"], 100.0);
    assert_eq!(doc["normal_peak"]["from_policy"], false);

    // A normal peak given by the policy replaces it.
    let given = dir.path().join("given.toml");
    fs::write(
        &given,
        "[fleet]\nmax_instances = 1000\n[limits]\nfreeze_p95_ms = 1e9\nnormal_peak_rps = 400\n",
    )
    .unwrap();
    let doc = json_of(&spike_day(dir.path(), 15), &given, dir.path());
    assert_eq!(doc["safety_cap"], 50);
    assert_eq!(doc["normal_peak"]["from_policy"], true);
    let bad = dir.path().join("bad.toml");
    fs::write(&bad, "[limits]\nnormal_peak_rps = -3\n").unwrap();
    let out = simulate(&spike_day(dir.path(), 15), &bad, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("bad.toml:2: limits.normal_peak_rps: must be a rate > 0"),
        "{}",
        text(&out).1
    );
}

/// The first PREWARM_FORECAST scale-up's time in the events CSV.
fn first_prewarm(traffic: &Path, forecast: &Path, policy: &Path, dir: &Path) -> String {
    let events = dir.join("events.csv");
    let out = simulate(
        traffic,
        policy,
        &[
            "--quiet",
            "--forecast",
            forecast.to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let csv = fs::read_to_string(&events).unwrap();
    let line = csv
        .lines()
        .find(|l| l.contains("scale_up") && l.contains("PREWARM_FORECAST"))
        .unwrap_or_else(|| panic!("no pre-warm in {csv}"));
    line.split(',').next().unwrap().to_string()
}

#[test]
fn scheduling_buffer_launches_that_long_ahead_as_aws_does() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let traffic = series(dir.path(), "t.csv", 60, &[100.0; 240]);
    // The forecast's upper bound jumps to 400 rps at 02:00.
    let forecast = dir.path().join("f.csv");
    let mut text_csv = String::from("timestamp,rps,lower,upper\n");
    for m in 0..240 {
        let upper = if m >= 120 { 400 } else { 110 };
        text_csv.push_str(&format!(
            "2026-01-05T{:02}:{:02}:00Z,100,90,{upper}\n",
            m / 60,
            m % 60
        ));
    }
    fs::write(&forecast, text_csv).unwrap();
    let fleet = "[fleet]\nboot_seconds = 120\nwarmup_seconds = 180\n";

    // Warm by 02:00 - 600 s: launched 600 + 300 s ahead, by the end of 01:44.
    let lead = policy(
        dir.path(),
        &format!("{fleet}[predictive]\nlead_seconds = 600\n"),
    );
    assert_eq!(
        first_prewarm(&traffic, &forecast, &lead, dir.path()),
        "2026-01-05T01:45:00Z"
    );
    // AWS SchedulingBufferTime 600: launched 600 s ahead (in service at 02:00 - 300 + 300).
    let buffer = policy(
        dir.path(),
        &format!("{fleet}[predictive]\nscheduling_buffer_seconds = 600\n"),
    );
    assert_eq!(
        first_prewarm(&traffic, &forecast, &buffer, dir.path()),
        "2026-01-05T01:50:00Z"
    );
    // Both at once is a mistake.
    let both = policy(
        dir.path(),
        "[predictive]\nlead_seconds = 600\nscheduling_buffer_seconds = 600\n",
    );
    let out = simulate(&traffic, &both, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("policy.toml:3: predictive.scheduling_buffer_seconds: give either"),
        "{}",
        text(&out).1
    );
}
