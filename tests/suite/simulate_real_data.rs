//! `capplan simulate` on real traffic: NYC taxi passengers per 30 minutes
//! (../shared/data/nyc_taxi_30min.csv, 7 months). Skips when the folder is absent.
use std::fs;
use std::path::PathBuf;

use assert_cmd::Command;

fn taxi() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nyc_taxi_30min.csv");
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
fn seven_months_of_taxi_traffic() {
    let _machine = crate::common::machine::shared();
    let Some(source) = taxi() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The file's `value` column is a count per interval: rename it to `requests`.
    let text = fs::read_to_string(source).unwrap();
    let traffic = dir.path().join("taxi.csv");
    fs::write(
        &traffic,
        text.replacen("timestamp,value", "timestamp,requests", 1),
    )
    .unwrap();
    let (timeline, events) = (
        dir.path().join("timeline.csv"),
        dir.path().join("events.csv"),
    );

    // 4 workers x 0.5 rps each per instance; service time 1 s, so p95 stays near 3 s.
    Command::cargo_bin("capplan")
        .unwrap()
        .args([
            "simulate",
            "--quiet",
            "--rps-per-worker",
            "0.5",
            "--service-time",
            "1s",
        ])
        .args(["--slo-p95", "5s", "--fail-on-breach", "--traffic"])
        .arg(&traffic)
        .arg("--timeline")
        .arg(&timeline)
        .arg("--events")
        .arg(&events)
        .assert()
        .success();

    let timeline = fs::read_to_string(timeline).unwrap();
    let rows: Vec<Vec<&str>> = timeline
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(
        rows.len(),
        10_320 * 30,
        "30 one-minute steps per 30-minute row"
    );
    // The scaler keeps utilization (column 8) inside its band most of the time.
    let in_band = rows
        .iter()
        .filter(|r| (0.3..=0.9).contains(&r[7].parse::<f64>().unwrap()))
        .count();
    assert!(
        in_band as f64 > 0.8 * rows.len() as f64,
        "{in_band} of {}",
        rows.len()
    );

    // The daylight-saving artefact (01:00 and 01:30 on 2014-11-02 summed twice,
    // ~20 rps instead of ~13) is seen at the end of its first minute.
    let events = fs::read_to_string(events).unwrap();
    assert!(
        events.contains("2014-11-02T01:01:00Z,scale_up,12,14,STEP_UP_UTILIZATION"),
        "{}",
        &events[..events.len().min(2000)]
    );
}
