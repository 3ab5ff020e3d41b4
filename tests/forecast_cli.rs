//! `capplan forecast` through the real binary: bad input, outputs, holidays, pre-warm.
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/history_hourly.csv")
}

fn capplan() -> Command {
    Command::cargo_bin("capplan").unwrap()
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Hourly rows `timestamp,requests` from 2024-01-01 00:00, one per hour.
fn hourly_rows(hours: usize) -> Vec<String> {
    (0..hours)
        .map(|h| format!("2024-01-{:02} {:02}:00:00,{}", 1 + h / 24, h % 24, 1000 + h))
        .collect()
}

fn csv(header: &str, rows: &[String]) -> String {
    format!("{header}\n{}\n", rows.join("\n"))
}

/// Run on a history file and expect exit 2 with `file:line: field` in the message.
fn assert_bad_input(text: &str, line: usize, field: &str, extra: &[&str]) -> String {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "h.csv", text);
    let output = capplan()
        .args(["forecast", "--history"])
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let place = format!("h.csv:{line}: {field}:");
    assert!(stderr.contains(&place), "expected '{place}' in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_gap_names_its_line_and_suggests_fill_gaps() {
    let mut rows = hourly_rows(10);
    rows.remove(4); // 04:00 missing: the 05:00 row is line 6
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 6, "timestamp", &[]);
    assert!(
        message.contains("gap: 1 missing") && message.contains("--fill-gaps"),
        "{message}"
    );
}

#[test]
fn a_duplicate_row_names_both_lines() {
    let mut rows = hourly_rows(10);
    rows.insert(3, rows[2].clone()); // line 5 repeats line 4
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 5, "timestamp", &[]);
    assert!(message.contains("duplicate of line 4"), "{message}");
}

#[test]
fn unsorted_rows_are_rejected_at_the_first_step_back() {
    let mut rows = hourly_rows(10);
    rows.swap(5, 6); // line 7 (05:00 row moved) is earlier than line 6
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 8, "timestamp", &[]);
    assert!(message.contains("sorted"), "{message}");
}

#[test]
fn negative_non_numeric_and_empty_values_are_rejected() {
    let mut rows = hourly_rows(10);
    rows[1] = "2024-01-01 01:00:00,-5".into();
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 3, "requests", &[]);
    assert!(message.contains("negative"), "{message}");

    let mut rows = hourly_rows(10);
    rows[2] = "2024-01-01 02:00:00,lots".into();
    let message = assert_bad_input(&csv("timestamp,rps", &rows), 4, "rps", &[]);
    assert!(message.contains("'lots' is not a number"), "{message}");

    let mut rows = hourly_rows(10);
    rows[3] = "2024-01-01 03:00:00,NaN".into();
    assert_bad_input(&csv("timestamp,value", &rows), 5, "value", &[]);

    let mut rows = hourly_rows(10);
    rows[4] = "2024-01-01 04:00:00,".into();
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 6, "requests", &[]);
    assert!(message.contains("--fill-gaps"), "{message}");
}

#[test]
fn bad_stamps_headers_and_grids_are_rejected() {
    let mut rows = hourly_rows(10);
    rows[6] = "2024-01-01 6pm,1000".into();
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 8, "timestamp", &[]);
    assert!(message.contains("expected YYYY-MM-DD"), "{message}");

    assert_bad_input(&csv("time,hits", &hourly_rows(10)), 1, "header", &[]);

    let mut rows = hourly_rows(10);
    rows[5] = "2024-01-01 05:20:00,1000".into();
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 7, "timestamp", &[]);
    assert!(message.contains("grid"), "{message}");

    let mut rows = hourly_rows(10);
    rows[2] = "2024-01-01T02:00:00Z,1000".into();
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 4, "timestamp", &[]);
    assert!(message.contains("mixes"), "{message}");
}

#[test]
fn locust_history_errors_name_the_line() {
    let header = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,Total Request Count";
    let rows: Vec<String> = [1_700_000_000, 1_700_000_001, 1_700_000_000]
        .iter()
        .map(|t| format!("{t},10,,Aggregated,55.5,0,12,100"))
        .collect();
    let message = assert_bad_input(&csv(header, &rows), 4, "Timestamp", &[]);
    assert!(message.contains("sorted"), "{message}");
}

#[test]
fn a_bad_holidays_file_names_its_line() {
    let dir = TempDir::new().unwrap();
    let holidays = write(
        &dir,
        "holidays.csv",
        "date,name\n2024-07-09,Launch\n07/10/2024,Oops\n",
    );
    let output = capplan()
        .args(["forecast", "--history"])
        .arg(fixture())
        .arg("--holidays")
        .arg(&holidays)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("holidays.csv:3: date:"));
}

#[test]
fn too_short_a_history_for_the_backtest_is_bad_usage() {
    let dir = TempDir::new().unwrap();
    let path = write(
        &dir,
        "h.csv",
        &csv("timestamp,requests", &hourly_rows(24 * 20)),
    );
    let output = capplan()
        .args(["forecast", "--history"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--backtest"));
}

#[test]
fn fill_gaps_interpolates_and_reports_it() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Drop three hours (input lines 1001-1003) and empty one value (line 1500).
    let mut kept: Vec<String> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let line_number = index + 1;
        if (1001..=1003).contains(&line_number) {
            continue;
        }
        if line_number == 1500 {
            kept.push(format!("{},", line.split(',').next().unwrap()));
        } else {
            kept.push(line.to_string());
        }
    }
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "gappy.csv", &(kept.join("\n") + "\n"));
    capplan()
        .args(["forecast", "--history"])
        .arg(&path)
        .assert()
        .code(2);
    let output = capplan()
        .args(["forecast", "--fill-gaps", "--json", "-", "--history"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let filled = json["ingest"]["filled"].as_array().unwrap();
    assert_eq!(filled.len(), 2);
    assert_eq!(filled[0]["intervals"], 3);
    assert_eq!(filled[0]["after_line"], 1000);
    assert_eq!(filled[1]["intervals"], 1);
}

#[test]
fn outputs_json_keys_and_a_csv_that_is_itself_a_traffic_csv() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("forecast.csv");
    let json_path = dir.path().join("summary.json");
    let profile = write(&dir, "profile.json", FULL_PROFILE);
    let output = capplan()
        .args([
            "forecast",
            "--horizon",
            "504h",
            "--backtest",
            "1w",
            "--history",
        ])
        .arg(fixture())
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json_path)
        .arg("--capacity")
        .arg(&profile)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("seasonal-naive")
            && stdout.contains("daily peak")
            && stdout.contains("pre-warm"),
        "{stdout}"
    );
    assert!(stdout.contains('┃'), "the chart marks now");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["horizon_hours"], 504);
    for key in ["mape", "mase", "bias", "wape", "mae"] {
        assert!(json["backtest"]["model"][key].is_number(), "{key}");
        assert!(json["backtest"]["seasonal_naive"][key].is_number(), "{key}");
    }
    let peaks = json["peaks"].as_array().unwrap();
    assert_eq!(peaks.len(), 21);
    let first_step = &json["prewarm"][0];
    assert!(
        first_step["at"].is_string()
            && first_step["instances"].is_u64()
            && first_step["peak_time"].is_string()
    );
    // Every hour's upper bound is covered by the instances held at that hour.
    let max_instances = json["prewarm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["instances"].as_u64().unwrap())
        .max()
        .unwrap();
    let max_upper = peaks
        .iter()
        .map(|p| p["upper"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(max_instances, (max_upper / 40.0).ceil() as u64);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("timestamp,rps,lower,upper\n"));
    assert_eq!(text.lines().count(), 505);
    for line in text.lines().skip(1) {
        let fields: Vec<f64> = line
            .split(',')
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect();
        assert!(fields[1] <= fields[0] && fields[0] <= fields[2], "{line}");
    }
    // The forecast CSV is itself a traffic CSV: forecast from it again.
    capplan()
        .args(["forecast", "-q", "--backtest", "1w", "--history"])
        .arg(&out)
        .assert()
        .success();
}

#[test]
fn holidays_change_the_forecast_on_the_holiday() {
    let dir = TempDir::new().unwrap();
    // The fixture ends Sunday 2024-07-07; make Tuesday 07-09 a holiday.
    let holidays = write(&dir, "holidays.csv", "2024-07-09,Company day off\n");
    let run = |extra: &[&str]| -> serde_json::Value {
        let output = capplan()
            .args(["forecast", "--json", "-", "--history"])
            .arg(fixture())
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let holidays_arg = holidays.to_str().unwrap();
    let with = run(&["--holidays", holidays_arg]);
    let without = run(&["--no-holidays"]);
    let peak = |json: &serde_json::Value| json["peaks"][1]["rps"].as_f64().unwrap();
    assert_eq!(with["forecast"][24 + 12]["holiday"], "Company day off");
    assert!(
        peak(&with) < 0.8 * peak(&without),
        "holiday peak {} vs ordinary {}",
        peak(&with),
        peak(&without)
    );
    // Monday is an ordinary day in both runs.
    let monday = |json: &serde_json::Value| json["peaks"][0]["rps"].as_f64().unwrap();
    assert!((monday(&with) - monday(&without)).abs() < 0.1 * monday(&without));
}

#[test]
fn a_forecast_the_backtest_says_is_worse_than_seasonal_naive_is_never_shipped() {
    use rand::{rngs::StdRng, Rng, SeedableRng};
    // Six weeks of one daily shape, then two of another (the peak moves from 09:00 to
    // 21:00): on the selection weeks averaging beats last week's noise, on the held-out
    // weeks only last week knows the new shape.
    let mut rng = StdRng::seed_from_u64(3);
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut rows = Vec::new();
    let mut values = Vec::new();
    for hour in 0..8 * 168 {
        let peak = if hour < 6 * 168 { 9.0 } else { 21.0 };
        let distance = ((hour % 24) as f64 - peak).abs();
        let value =
            100.0 + 400.0 * (-0.5 * (distance / 2.0).powi(2)).exp() + rng.gen_range(-20.0..20.0);
        values.push(value);
        let time = start + chrono::Duration::hours(hour as i64);
        rows.push(format!("{},{value:.3}", time.format("%Y-%m-%d %H:%M:%S")));
    }
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "shift.csv", &csv("timestamp,rps", &rows));
    let (out, json) = (dir.path().join("f.csv"), dir.path().join("f.json"));
    let output = capplan()
        .args(["forecast", "--no-holidays", "--history"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("WORSE than seasonal-naive"), "{stdout}");
    assert!(
        stderr.contains("WORSE than seasonal-naive")
            && stderr.contains("the forecast is seasonal naive instead"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["backtest"]["model_worse_than_naive"], true);
    assert_eq!(doc["method"]["fell_back_to_naive"], true);
    assert_eq!(doc["method"]["kind"], "baseline");
    assert_ne!(doc["method"]["selected"], doc["method"]["label"]);
    // What ships is last week's traffic, hour for hour.
    let shipped: Vec<f64> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(shipped.len(), 48);
    for (k, rps) in shipped.iter().enumerate() {
        let last_week = values[7 * 168 + k];
        assert!(
            (rps - last_week).abs() < 1e-3,
            "hour {k}: {rps} vs {last_week}"
        );
    }
}

#[test]
fn the_selection_scores_models_baselines_and_combinations_and_says_which_won() {
    let dir = TempDir::new().unwrap();
    let json = dir.path().join("f.json");
    let output = capplan()
        .args(["forecast", "-q", "--history"])
        .arg(fixture())
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let method = &doc["method"];
    assert!(method["selection_weeks"].as_u64().unwrap() >= 6, "{method}");
    // 5 holiday modes x 6 half-lives x 3 trends, 6 baselines, 36 combinations.
    assert_eq!(method["candidates_scored"], 5 * 6 * 3 + 6 + 36);
    let mae = method["selection_mae"].as_f64().unwrap();
    let naive = method["selection_naive_mae"].as_f64().unwrap();
    assert!(mae < naive, "{method}");
    let candidates = method["candidates"].as_array().unwrap();
    assert_eq!(candidates[0]["label"], method["selected"]);
    assert!((candidates[0]["mae_ratio"].as_f64().unwrap() - mae / naive).abs() < 1e-9);
    for pair in candidates.windows(2) {
        assert!(pair[0]["mae"].as_f64() <= pair[1]["mae"].as_f64());
    }
    // The fixture is well modelled: the winner is shipped, and beats naive on the held-out weeks.
    assert_eq!(method["fell_back_to_naive"], false);
    assert_eq!(method["label"], method["selected"]);
    assert!(doc["backtest"]["mae_ratio"].as_f64().unwrap() < 1.0);
}

#[test]
fn a_thirty_minute_count_file_with_value_column_aggregates_to_hourly_rps() {
    // 4 weeks of 30-minute counts, 1800 requests per slot = 1 rps, as in the NYC taxi file.
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .unwrap()
        .and_hms_opt(0, 30, 0)
        .unwrap();
    let rows: Vec<String> = (0..4 * 336)
        .map(|k| {
            format!(
                "{},1800",
                (start + chrono::Duration::minutes(30 * k)).format("%Y-%m-%d %H:%M:%S")
            )
        })
        .collect();
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "taxi.csv", &csv("timestamp,value", &rows));
    let output = capplan()
        .args([
            "forecast",
            "--json",
            "-",
            "--backtest",
            "1w",
            "--tz",
            "-05:00",
            "--history",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ingest"]["interval_seconds"], 1800);
    assert_eq!(
        json["ingest"]["dropped_partial_hours"], 2,
        "starts at 00:30, ends at 00:00"
    );
    let first = &json["forecast"][0];
    assert!(first["timestamp"].as_str().unwrap().ends_with("-05:00"));
    assert!(
        (first["rps"].as_f64().unwrap() - 1.0).abs() < 1e-6,
        "{first}"
    );
}

#[test]
fn bad_flag_values_are_bad_usage() {
    let dir = TempDir::new().unwrap();
    // The same strict reader as simulate: a partial profile or another version is refused.
    let partial_profile = write(
        &dir,
        "profile.json",
        r#"{"version":1,"workers_measured":4}"#,
    );
    let partial_arg = partial_profile.to_str().unwrap();
    let future_profile = write(
        &dir,
        "future.json",
        &FULL_PROFILE.replace(r#""version":1"#, r#""version":2"#),
    );
    let future_arg = future_profile.to_str().unwrap();
    for (flags, expected) in [
        (vec!["--tz", "America/New_York"], "--tz"),
        (vec!["--horizon", "90m"], "--horizon"),
        (vec!["--backtest", "10d"], "--backtest"),
        (vec!["--interval", "1"], "--interval"),
        (vec!["--rps-per-instance", "0"], "--rps-per-instance"),
        (vec!["--capacity", partial_arg], "missing field `target`"),
        (
            vec!["--capacity", future_arg],
            "future.json:1: version: unsupported version 2",
        ),
    ] {
        let output = capplan()
            .args(["forecast", "--history"])
            .arg(fixture())
            .args(&flags)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
    }
}

/// A complete capacity profile (DESIGN.md), as `loadtest --find-capacity` writes it.
const FULL_PROFILE: &str = r#"{"version":1,"target":"http://x","measured_at":"2026-11-25T02:00:00Z","slo":"p95<200ms","workers_measured":4,"sustainable_rps":40.0,"rps_per_worker":10.0,"service_time_ms":{"mean":20.0,"p95":60.0},"curve":[]}"#;
