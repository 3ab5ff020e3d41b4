//! `capplan loadtest --csv PREFIX` against Locust itself: the column sets come from
//! Locust's own `locust.stats` (tests/support/locust_csv_check.py), not from strings
//! typed here, and the files are read back with Python's csv module by Locust's names.
use crate::common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::servers::{require, Component};
use common::Target;
use serde_json::Value;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn csv_columns_are_locusts_own_and_failures_are_dated_within_the_run() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonLocust]) {
        return;
    }
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    // One endpoint that answers, one that is a 404 (a failure), so every file has rows.
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "host = \"{}\"\n[[task]]\npath = \"/api/items\"\n[[task]]\npath = \"/nope\"\n",
            target.url
        ),
    )
    .unwrap();
    let prefix = dir.path().join("run");
    let json = dir.path().join("run.json");
    let before = unix_now();
    let out = common::capplan()
        .arg("loadtest")
        .arg("--scenario")
        .arg(&scenario)
        .args(["--users", "2", "--duration", "2s", "--quiet"])
        .arg("--csv")
        .arg(&prefix)
        .arg("--json")
        .arg(&json)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let after = unix_now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let check = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/locust_csv_check.py");
    let py = std::process::Command::new("python3")
        .arg(check)
        .arg(&prefix)
        .arg((before.floor() as i64).to_string())
        .arg((after.ceil() as i64).to_string())
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "reading our CSVs as Locust's failed: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let report: Value = serde_json::from_slice(&py.stdout).unwrap();

    for suffix in [
        "_stats.csv",
        "_stats_history.csv",
        "_failures.csv",
        "_exceptions.csv",
    ] {
        let locust = &report["locust"][suffix];
        assert!(
            locust.as_array().is_some_and(|c| !c.is_empty()),
            "{suffix}: {locust}"
        );
        assert_eq!(&report["ours"][suffix], locust, "{suffix}: our header");
    }
    assert_eq!(
        report["stats_names"],
        serde_json::json!(["/api/items", "/nope", "Aggregated"])
    );
    // capplan runs no user code: the exceptions file is Locust's header alone.
    assert_eq!(report["exceptions_rows"], 0);

    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0][0], "/nope");
    assert_eq!(failures[0][1], "HTTPError: 404 Not Found");
    let (first, last) = (
        failures[0][2].as_f64().unwrap(),
        failures[0][3].as_f64().unwrap(),
    );
    // Failures all through a 2 s run: the first in its first second, the last in its last.
    assert!(last - first >= 1.0, "first {first}, last {last}");

    // The JSON holds the same moments, to the nanosecond.
    let run: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let error = &run["errors"][0];
    let stamp = |key: &str| {
        chrono::DateTime::parse_from_rfc3339(error[key].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert_eq!(stamp("first_seen") as f64, first, "{error}");
    assert_eq!(stamp("last_seen") as f64, last, "{error}");
}
