//! The HTML reports in a real browser: each report is made by the binary, opened in
//! headless Chromium, checked for console errors and drawn charts, and screenshotted
//! into target/html-screenshots/ for people to look at.
//!
//! Without Chromium the test is skipped with a message, unless CI=true, where it fails.
mod common;

use common::browser::{browse, check_report, chromium, console_messages};

use std::path::Path;

use assert_cmd::Command as Cmd;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn reports_load_and_draw_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);

    // The checker itself must catch a console error.
    let broken = path("broken.html");
    std::fs::write(&broken, "<p>x</p><script>console.error('boom')</script>").unwrap();
    let out = browse(&browser, &broken, &["--dump-dom".to_string()]);
    assert_eq!(
        console_messages(&out.stderr).len(),
        1,
        "console errors are not detected"
    );

    let target = common::Target::start(&["--service-time", "exp:5ms", "--error-rate", "2%"]);
    Cmd::cargo_bin("capplan")
        .unwrap()
        .args(["loadtest", "--url", &target.url_for("/"), "--users", "4"])
        .args(["--duration", "3s", "--quiet"])
        .args(["--threshold", "p99<10s", "--threshold", "error_rate<0.1%"])
        .arg("--html")
        .arg(path("loadtest.html"))
        .assert()
        .code(1);
    drop(target);
    check_report(
        &browser,
        &path("loadtest.html"),
        "loadtest",
        4,
        &[
            "Latency by percentile",
            "99.9%",
            "p99&lt;10s",
            "PASS",
            "FAIL",
            "HTTPError: 500",
        ],
    );

    Cmd::cargo_bin("capplan")
        .unwrap()
        .args(["forecast", "--history", &fixture("history_hourly.csv")])
        .args(["--rps-per-instance", "40", "--quiet", "--html"])
        .arg(path("forecast.html"))
        .assert()
        .success();
    check_report(
        &browser,
        &path("forecast.html"),
        "forecast",
        3,
        &[
            "90% interval",
            "Independence Day",
            "seasonal-naive",
            "Predicted daily peaks",
            "Pre-warm schedule",
        ],
    );

    Cmd::cargo_bin("capplan")
        .unwrap()
        .args([
            "simulate",
            "--traffic",
            &fixture("simulate/traffic_day.csv"),
        ])
        .args(["--capacity", &fixture("simulate/capacity.json")])
        .args(["--forecast", &fixture("simulate/forecast_day.csv")])
        .args(["--recommend", "--instance-cost", "0.1", "--quiet", "--html"])
        .arg(path("simulate.html"))
        .assert()
        .success();
    check_report(
        &browser,
        &path("simulate.html"),
        "simulate",
        4,
        &[
            "PREWARM_FORECAST",
            "SCALE_DOWN_WINDOW",
            "recommended",
            "SLO 300.0ms",
            "in service",
        ],
    );
}
