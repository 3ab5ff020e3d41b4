//! History from a real Prometheus (issue 17, item 1): the test backfills a TSDB from
//! the fixture with `promtool tsdb create-blocks-from openmetrics`, starts Prometheus
//! on it, and holds `forecast --prometheus` to `forecast --history` on the same data,
//! `simulate --prometheus` to `simulate --traffic` across the 11,000-point split,
//! and a query of several series to an error that lists them.
use crate::common;

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use common::servers::{require, Component, Prometheus};
use serde_json::Value;

/// Minute samples of the simulate comparison: 8 days and one minute (11,521 points,
/// two query_range requests).
const MINUTES: i64 = 8 * 1440 + 1;
/// 2024-07-01T00:00:00Z.
const MINUTE_START: i64 = 1_719_792_000;

/// Weeks of the fixture's history the comparison uses (its last ones: every 2-hour
/// block promtool writes costs the backfill time).
const WEEKS: usize = 3;

/// The last [`WEEKS`] of the fixture: (Unix time, rps).
fn fixture_rows() -> Vec<(i64, f64)> {
    let text = std::fs::read_to_string(common::fixture("history_hourly.csv")).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    lines[lines.len() - WEEKS * 168..]
        .iter()
        .map(|line| {
            let (stamp, requests) = line.split_once(',').unwrap();
            let at = chrono::NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S")
                .unwrap()
                .and_utc()
                .timestamp();
            (at, requests.parse::<f64>().unwrap() / 3600.0)
        })
        .collect()
}

fn minute_rps(i: i64) -> f64 {
    // A daily swing with a short burst: values the simulation reacts to.
    let day = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
    let burst = if i % 1440 >= 600 && i % 1440 < 620 {
        150.0
    } else {
        0.0
    };
    (120.0 + 90.0 * day.sin() + burst).round()
}

/// Prometheus over a TSDB backfilled with the fixture (as `capplan_fixture_rps`, and
/// split in two halves as `capplan_fixture_split{half="a"|"b"}`) and the minute series.
fn backfilled() -> (Prometheus, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut om = String::new();
    let rows = fixture_rows();
    om.push_str("# TYPE capplan_fixture_rps gauge\n");
    for (at, rps) in &rows {
        writeln!(om, "capplan_fixture_rps {rps} {at}").unwrap();
    }
    om.push_str("# TYPE capplan_fixture_split gauge\n");
    for half in ["a", "b"] {
        for (at, rps) in &rows {
            writeln!(
                om,
                "capplan_fixture_split{{half=\"{half}\"}} {} {at}",
                rps / 2.0
            )
            .unwrap();
        }
    }
    om.push_str("# TYPE capplan_fixture_minute_rps gauge\n");
    for i in 0..MINUTES {
        writeln!(
            om,
            "capplan_fixture_minute_rps {} {}",
            minute_rps(i),
            MINUTE_START + 60 * i
        )
        .unwrap();
    }
    om.push_str("# EOF\n");
    let input = dir.path().join("fixture.om");
    std::fs::write(&input, om).unwrap();
    let data = dir.path().join("data");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .arg(&input)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (Prometheus::start_on_data(&data), dir)
}

fn run(args: &[&str]) -> std::process::Output {
    common::capplan().args(args).output().unwrap()
}

fn json_of(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// One Prometheus for every check: backfilling it is the slow part.
#[test]
fn history_from_prometheus_is_the_history_the_same_data_gives_as_csv() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Prometheus]) {
        return;
    }
    let (prometheus, _data) = backfilled();
    forecast_from_prometheus(&prometheus);
    simulate_from_prometheus(&prometheus);
}

fn forecast_from_prometheus(prometheus: &Prometheus) {
    let dir = tempfile::tempdir().unwrap();
    let url = prometheus.base();
    let from_csv = dir.path().join("csv.json");
    let from_prometheus = dir.path().join("prom.json");
    let csv = dir.path().join("history.csv");
    let mut text = String::from("timestamp,rps\n");
    for (at, rps) in fixture_rows() {
        let at = chrono::DateTime::from_timestamp(at, 0).unwrap();
        writeln!(text, "{},{rps}", at.format("%Y-%m-%dT%H:%M:%SZ")).unwrap();
    }
    std::fs::write(&csv, text).unwrap();
    let out = run(&[
        "forecast",
        "--quiet",
        "--history",
        csv.to_str().unwrap(),
        "--json",
        from_csv.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let since = format!("{}h", WEEKS * 168 - 1);
    let window = ["--since", since.as_str(), "--until", "2024-07-07T23:00:00Z"];
    // `forecast --prometheus URL --query ARGS...` over the fixture's window.
    let from = |args: &[&str]| {
        run(&[
            &["forecast", "--quiet", "--prometheus", &url, "--query"][..],
            args,
            &window,
        ]
        .concat())
    };
    let out = from(&[
        "capplan_fixture_rps",
        "--json",
        from_prometheus.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (a, b) = (json_of(&from_csv), json_of(&from_prometheus));
    assert_same_forecast(&a, &b);

    // Two series: refused with their labels, unless added up.
    let out = from(&["capplan_fixture_split"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--query") && err.contains("returns 2 series"),
        "{err}"
    );
    assert!(
        err.contains(r#""half":"a""#) && err.contains(r#""half":"b""#),
        "{err}"
    );
    let summed = dir.path().join("summed.json");
    let out = from(&[
        "capplan_fixture_split",
        "--sum-series",
        "--json",
        summed.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_forecast(&a, &json_of(&summed));

    // A query Prometheus refuses is a bad flag, with Prometheus's reason.
    let out = from(&["sum(("]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Prometheus refused it"));
}

fn assert_same_forecast(a: &Value, b: &Value) {
    let (fa, fb) = (
        a["forecast"].as_array().unwrap(),
        b["forecast"].as_array().unwrap(),
    );
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(fb) {
        assert_eq!(x["timestamp"], y["timestamp"]);
        for key in ["rps", "lower", "upper"] {
            let (p, q) = (x[key].as_f64().unwrap(), y[key].as_f64().unwrap());
            assert!(
                (p - q).abs() <= 1e-9 * p.abs().max(1.0),
                "{key}: {p} vs {q} at {}",
                x["timestamp"]
            );
        }
    }
}

/// Minute samples over more than 11,000 points: two requests, joined without a gap
/// or a repeat.
fn simulate_from_prometheus(prometheus: &Prometheus) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("minutes.csv");
    let mut text = String::from("timestamp,rps\n");
    for i in 0..MINUTES {
        let at = chrono::DateTime::from_timestamp(MINUTE_START + 60 * i, 0).unwrap();
        writeln!(
            text,
            "{},{}",
            at.format("%Y-%m-%dT%H:%M:%SZ"),
            minute_rps(i)
        )
        .unwrap();
    }
    std::fs::write(&csv, text).unwrap();
    let until = chrono::DateTime::from_timestamp(MINUTE_START + 60 * (MINUTES - 1), 0)
        .unwrap()
        .to_rfc3339();
    let common_args = [
        "simulate",
        "--quiet",
        "--rps-per-worker",
        "10",
        "--service-time",
        "50ms",
        "--step",
        "1m",
    ];
    let a = dir.path().join("csv.json");
    let b = dir.path().join("prom.json");
    let out = run(&[
        &common_args[..],
        &[
            "--traffic",
            csv.to_str().unwrap(),
            "--json",
            a.to_str().unwrap(),
        ],
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        &common_args[..],
        &[
            "--prometheus",
            &prometheus.base(),
            "--query",
            "capplan_fixture_minute_rps",
        ],
        &[
            "--since",
            "8d",
            "--until",
            &until,
            "--json",
            b.to_str().unwrap(),
        ],
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut a, mut b) = (json_of(&a), json_of(&b));
    assert_eq!(a["steps"], MINUTES);
    a.as_object_mut().unwrap().remove("runtime");
    b.as_object_mut().unwrap().remove("runtime");
    assert_eq!(a, b);
}

#[test]
fn credentials_never_go_in_the_url() {
    let _machine = crate::common::machine::shared();
    let out = run(&[
        "forecast",
        "--prometheus",
        "http://user:secret@127.0.0.1:9/",
        "--query",
        "up",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CAPPLAN_PROMETHEUS_USER"), "{err}");
    assert!(!err.contains("secret"), "{err}");
}
