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

/// Run on a history that is read (exit 0) and return its `--json` document.
fn forecast_json(text: &str, extra: &[&str]) -> serde_json::Value {
    let dir = TempDir::new().unwrap();
    let path = write(&dir, "h.csv", text);
    let output = capplan()
        .args(["forecast", "-q", "--json", "-", "--history"])
        .arg(&path)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Three weeks of hourly counts from Monday 2024-01-01.
fn three_weeks() -> Vec<String> {
    hourly_rows(21 * 24)
}

#[test]
fn absent_rows_are_gaps_short_ones_filled_long_ones_masked_and_both_reported() {
    let _machine = crate::common::machine::shared();
    let mut rows = three_weeks();
    rows.remove(100); // one hour absent: filled
    rows.drain(200..210); // ten hours absent (an outage): masked
    let doc = forecast_json(&csv("timestamp,requests", &rows), &[]);
    let ingest = &doc["ingest"];
    assert_eq!(ingest["filled"][0]["hours"], 1, "{ingest}");
    assert_eq!(ingest["masked"][0]["hours"], 10, "{ingest}");
    assert_eq!(ingest["masked"][0]["from"], "2024-01-09T09:00:00Z");
    let notes = doc["notes"].to_string();
    assert!(notes.contains("masked out of the fit"), "{notes}");
    // --fill-gaps interpolates the outage too.
    let doc = forecast_json(&csv("timestamp,requests", &rows), &["--fill-gaps"]);
    assert_eq!(doc["ingest"]["filled"].as_array().unwrap().len(), 2);
    assert_eq!(doc["ingest"]["masked"].as_array().unwrap().len(), 0);
}

#[test]
fn duplicate_stamps_are_summed_for_counts_and_averaged_for_rps() {
    let _machine = crate::common::machine::shared();
    let mut rows = three_weeks();
    rows.insert(3, rows[2].clone()); // 02:00 twice: 1002 + 1002 requests
    let doc = forecast_json(&csv("timestamp,requests", &rows), &[]);
    let notes = doc["notes"].to_string();
    assert!(
        notes.contains("1 row(s) repeated an earlier stamp") && notes.contains("summed"),
        "{notes}"
    );
    let doc = forecast_json(&csv("timestamp,rps", &rows), &[]);
    assert!(
        doc["notes"].to_string().contains("averaged"),
        "{}",
        doc["notes"]
    );
}

#[test]
fn unsorted_and_newest_first_rows_are_sorted_and_said_so() {
    let _machine = crate::common::machine::shared();
    let mut rows = three_weeks();
    rows.swap(5, 6);
    let doc = forecast_json(&csv("timestamp,requests", &rows), &[]);
    assert!(
        doc["notes"].to_string().contains("not in time order"),
        "{}",
        doc["notes"]
    );
    let mut rows = three_weeks();
    rows.reverse();
    let reversed = forecast_json(&csv("timestamp,requests", &rows), &[]);
    assert!(reversed["notes"].to_string().contains("newest first"));
    let sorted = forecast_json(&csv("timestamp,requests", &three_weeks()), &[]);
    assert_eq!(reversed["forecast"], sorted["forecast"]);
}

#[test]
fn epoch_seconds_and_milliseconds_are_read() {
    let _machine = crate::common::machine::shared();
    let epoch = |scale: i64| -> String {
        let rows: Vec<String> = (0..21 * 24)
            .map(|h: i64| format!("{},{}", (1_704_067_200 + h * 3600) * scale, 1000 + h))
            .collect();
        csv("timestamp,requests", &rows)
    };
    let sorted = forecast_json(&csv("timestamp,requests", &three_weeks()), &[]);
    for scale in [1, 1000] {
        let doc = forecast_json(&epoch(scale), &[]);
        assert_eq!(doc["forecast"], sorted["forecast"], "scale {scale}");
    }
}

#[test]
fn grafana_csv_prometheus_and_cloudwatch_json_are_recognised_by_content() {
    let _machine = crate::common::machine::shared();
    let hours = 21 * 24;
    let rps = |h: usize| 1.0 + ((h % 24) as f64 / 3.0).sin().abs() + (h / 24 % 7) as f64 * 0.1;
    // Grafana's older export: semicolons, a series column (two series summed), rates.
    let mut grafana = String::from("\"Series\";\"Time\";\"Value\"\n");
    for h in 0..hours {
        let stamp = format!("2024-01-{:02}T{:02}:00:00+00:00", 1 + h / 24, h % 24);
        grafana.push_str(&format!(
            "\"a\";{stamp};{}\n\"b\";{stamp};{}\n",
            rps(h) / 2.0,
            rps(h) / 2.0
        ));
    }
    let doc = forecast_json(&grafana, &[]);
    assert_eq!(doc["ingest"]["format"], "grafana-csv");
    assert_eq!(doc["ingest"]["column"], "rps");
    let values: Vec<String> = (0..hours)
        .map(|h| format!("[{},\"{}\"]", 1_704_067_200 + h * 3600, rps(h)))
        .collect();
    let prometheus = format!(
        "{{\"status\":\"success\",\"data\":{{\"resultType\":\"matrix\",\"result\":[{{\"metric\":{{}},\"values\":[{}]}}]}}}}",
        values.join(",")
    );
    let from_prometheus = forecast_json(&prometheus, &[]);
    assert_eq!(from_prometheus["ingest"]["format"], "prometheus");
    let close = |a: &serde_json::Value, b: &serde_json::Value| {
        (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6
    };
    assert!(close(
        &from_prometheus["forecast"][5]["rps"],
        &doc["forecast"][5]["rps"]
    ));
    // CloudWatch, newest first as the API returns it, counts per 5-minute period.
    let mut stamps = Vec::new();
    let mut counts = Vec::new();
    for k in (0..hours * 12).rev() {
        let (h, m) = (k / 12, (k % 12) * 5);
        stamps.push(format!(
            "\"2024-01-{:02}T{:02}:{m:02}:00Z\"",
            1 + h / 24,
            h % 24
        ));
        counts.push(format!("{}", rps(h) * 300.0));
    }
    let cloudwatch = format!(
        "{{\n  \"MetricDataResults\": [\n    {{\"Id\": \"m1\", \"Label\": \"RequestCount\",\n     \"Timestamps\": [{}],\n     \"Values\": [{}],\n     \"StatusCode\": \"Complete\"}}\n  ],\n  \"Messages\": []\n}}\n",
        stamps.join(", "),
        counts.join(", ")
    );
    let from_cloudwatch = forecast_json(&cloudwatch, &[]);
    assert_eq!(from_cloudwatch["ingest"]["format"], "cloudwatch");
    assert_eq!(from_cloudwatch["ingest"]["interval_seconds"], 300);
    assert!(close(
        &from_cloudwatch["forecast"][5]["rps"],
        &doc["forecast"][5]["rps"]
    ));
}

#[test]
fn errors_quote_at_most_the_offending_line_never_the_file() {
    let _machine = crate::common::machine::shared();
    // An unclosed quote makes the rest of a 60 KB file one CSV field.
    let words: String = (0..10_000).map(|i| format!("w{i} ")).collect();
    let body: Vec<String> = words
        .as_bytes()
        .chunks(60)
        .map(|c| String::from_utf8_lossy(c).into())
        .collect();
    for (text, line, field) in [
        (
            format!("\"timestamp, rps\n{}", body.join("\n")),
            1,
            "header",
        ),
        (
            format!("timestamp,rps\n2024-01-01 00:00,\"1\n{}", body.join("\n")),
            2,
            "rps",
        ),
        (
            format!(
                "timestamp,rps\n\"2024-01-01 00:00\n{}\",1\n",
                body.join("\n")
            ),
            2,
            "timestamp",
        ),
    ] {
        assert!(text.len() > 50_000);
        let message = assert_bad_input(&text, line, field, &[]);
        assert!(message.len() < 600, "{} bytes: {message}", message.len());
    }
    // JSON that is no known export.
    let message = assert_bad_input(
        &format!("{{\"rows\": [{}]}}", "1, ".repeat(20_000) + "1"),
        1,
        "json",
        &[],
    );
    assert!(message.len() < 600, "{} bytes", message.len());
}

#[test]
fn negative_and_non_numeric_values_are_rejected_empty_ones_are_absent() {
    let _machine = crate::common::machine::shared();
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

    let mut rows = three_weeks();
    rows[4] = "2024-01-01 04:00:00,".into();
    let doc = forecast_json(&csv("timestamp,requests", &rows), &[]);
    assert_eq!(doc["ingest"]["filled"][0]["hours"], 1);
}

#[test]
fn bad_stamps_headers_and_grids_are_rejected() {
    let _machine = crate::common::machine::shared();
    let mut rows = hourly_rows(10);
    rows[6] = "2024-01-01 6pm,1000".into();
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 8, "timestamp", &[]);
    assert!(message.contains("expected YYYY-MM-DD"), "{message}");

    assert_bad_input(&csv("when,hits", &hourly_rows(10)), 1, "header", &[]);

    let mut rows = hourly_rows(10);
    rows[2] = "2024-01-01T02:00:00Z,1000".into();
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 4, "timestamp", &[]);
    assert!(message.contains("mixes"), "{message}");
}

#[test]
fn locust_history_errors_name_the_line() {
    let _machine = crate::common::machine::shared();
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
    let _machine = crate::common::machine::shared();
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
fn a_short_history_gets_a_shorter_backtest_and_under_two_weeks_is_bad_usage() {
    let _machine = crate::common::machine::shared();
    let dir = TempDir::new().unwrap();
    let short = write(
        &dir,
        "short.csv",
        &csv("timestamp,requests", &hourly_rows(24 * 13)),
    );
    let output = capplan()
        .args(["forecast", "--history"])
        .arg(&short)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--history: holds 1 whole week(s)"));
    let doc = forecast_json(&csv("timestamp,requests", &three_weeks()), &[]);
    assert_eq!(doc["backtest"]["weeks"], 1);
    assert!(doc["notes"]
        .to_string()
        .contains("backtest on 1 week(s) instead of 2"));
}

#[test]
fn outputs_json_keys_and_a_csv_that_is_itself_a_traffic_csv() {
    let _machine = crate::common::machine::shared();
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
    let _machine = crate::common::machine::shared();
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
    let _machine = crate::common::machine::shared();
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
    let _machine = crate::common::machine::shared();
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
    // 5 holiday modes x 6 half-lives x 3 trends, 7 baselines, 45 combinations.
    assert_eq!(method["candidates_scored"], 5 * 6 * 3 + 7 + 45);
    let mae = method["selection_mae"].as_f64().unwrap();
    let naive = method["selection_naive_mae"].as_f64().unwrap();
    assert!(mae < naive, "{method}");
    let candidates = method["candidates"].as_array().unwrap();
    assert_eq!(candidates[0]["label"], method["selected"]);
    assert!((candidates[0]["mae_ratio"].as_f64().unwrap() - mae / naive).abs() < 1e-9);
    // Ranked by score: the mean weekly ratio plus a quarter of the worst week's.
    for candidate in candidates {
        let number = |key: &str| candidate[key].as_f64().unwrap();
        assert!(
            number("worst_weekly_ratio") >= number("weekly_ratio"),
            "{candidate}"
        );
        let score = number("weekly_ratio") + 0.25 * number("worst_weekly_ratio");
        assert!((number("score") - score).abs() < 1e-9, "{candidate}");
    }
    for pair in candidates.windows(2) {
        assert!(pair[0]["score"].as_f64() <= pair[1]["score"].as_f64());
    }
    // The fixture is well modelled: the winner is shipped, and beats naive on the held-out weeks.
    assert_eq!(method["fell_back_to_naive"], false);
    assert_eq!(method["label"], method["selected"]);
    assert!(doc["backtest"]["mae_ratio"].as_f64().unwrap() < 1.0);
}

#[test]
fn a_thirty_minute_count_file_with_value_column_aggregates_to_hourly_rps() {
    let _machine = crate::common::machine::shared();
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
    let _machine = crate::common::machine::shared();
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

/// The real series of ../shared/data/ (skipped with a message when the folder is absent).
#[test]
fn the_shared_real_series_are_read_as_exported() {
    let _machine = crate::common::machine::shared();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !data.is_dir() {
        eprintln!("skipped: {} not found", data.display());
        return;
    }
    for (name, interval, partial) in [
        ("aws_elb_request_count_5min.csv", 300, 8),
        ("twitter_volume_amzn_5min.csv", 300, 0),
        ("nyc_taxi_30min.csv", 1800, 0),
    ] {
        let output = capplan()
            .args(["forecast", "-q", "--json", "-", "--history"])
            .arg(data.join(name))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(doc["ingest"]["interval_seconds"], interval, "{name}");
        assert_eq!(doc["ingest"]["partial_hours"], partial, "{name}");
    }
}

/// Christmas Eve to the first Sunday after New Year at half the traffic, the year before
/// too: the week after must be forecast from ordinary weeks, not from the holidays.
#[test]
fn the_week_after_new_year_is_not_forecast_from_the_holiday_period() {
    let _machine = crate::common::machine::shared();
    let start = chrono::NaiveDate::from_ymd_opt(2013, 10, 14)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let end = chrono::NaiveDate::from_ymd_opt(2015, 1, 5)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let in_period = |date: chrono::NaiveDate| {
        let from = |year| chrono::NaiveDate::from_ymd_opt(year, 12, 24).unwrap();
        let to = |year| chrono::NaiveDate::from_ymd_opt(year, 1, 5).unwrap();
        (date >= from(2013) && date < to(2014)) || date >= from(2014)
    };
    let ordinary = |hour: u32| {
        100.0
            + 80.0
                * ((hour as f64 - 6.0) / 24.0 * std::f64::consts::TAU)
                    .sin()
                    .max(0.0)
    };
    let mut rows = Vec::new();
    let mut time = start;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(7);
    while time < end {
        use chrono::Timelike;
        let factor = if in_period(time.date()) { 0.5 } else { 1.0 };
        let wiggle = rng.gen_range(-25.0..25.0);
        rows.push(format!(
            "{},{:.3}",
            time.format("%Y-%m-%d %H:%M:%S"),
            factor * ordinary(time.hour()) + wiggle
        ));
        time += chrono::Duration::hours(1);
    }
    let doc = forecast_json(&csv("timestamp,rps", &rows), &["--horizon", "168h"]);
    let forecast = doc["forecast"].as_array().unwrap();
    let mean: f64 = forecast
        .iter()
        .map(|p| p["rps"].as_f64().unwrap())
        .sum::<f64>()
        / 168.0;
    let truth: f64 = (0..24).map(ordinary).sum::<f64>() / 24.0;
    assert!(
        (mean / truth - 1.0).abs() < 0.1,
        "forecast mean {mean:.1} vs ordinary {truth:.1}: {}",
        doc["method"]["label"]
    );
}

#[test]
fn a_holidays_file_takes_periods() {
    let _machine = crate::common::machine::shared();
    let dir = TempDir::new().unwrap();
    let holidays = write(&dir, "h.txt", "2024-07-09..2024-07-10,Company retreat\n");
    let output = capplan()
        .args(["forecast", "-q", "--json", "-", "--history"])
        .arg(fixture())
        .arg("--holidays")
        .arg(&holidays)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The fixture ends on Sunday 2024-07-07: hours 24..48 are Tuesday the 9th.
    assert_eq!(doc["forecast"][30]["holiday"], "Company retreat");
}

/// The same ten hours absent in both weeks of a two-week history: masked everywhere, so
/// no baseline has them; the forecast still holds a number for every hour.
#[test]
fn an_hour_of_week_masked_in_every_week_still_gets_a_forecast() {
    let _machine = crate::common::machine::shared();
    let rows: Vec<String> = hourly_rows(14 * 24)
        .into_iter()
        .enumerate()
        .filter(|(h, _)| !(10..20).contains(&(h % 168)))
        .map(|(_, row)| row)
        .collect();
    let doc = forecast_json(&csv("timestamp,requests", &rows), &[]);
    assert_eq!(doc["ingest"]["masked"].as_array().unwrap().len(), 2);
    for point in doc["forecast"].as_array().unwrap() {
        assert!(point["rps"].as_f64().is_some_and(f64::is_finite), "{point}");
        assert!(
            point["upper"].as_f64().is_some_and(f64::is_finite),
            "{point}"
        );
    }
}

#[test]
fn rows_that_all_share_one_stamp_are_bad_input_not_a_panic() {
    let _machine = crate::common::machine::shared();
    let rows = vec!["1704067200,5".to_string(); 3];
    let message = assert_bad_input(&csv("timestamp,requests", &rows), 2, "timestamp", &[]);
    assert!(
        message.contains("no two rows are apart in time"),
        "{message}"
    );
}
