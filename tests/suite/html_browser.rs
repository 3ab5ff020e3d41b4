//! The HTML reports in a real browser: each report is made by the binary, opened in
//! headless Chromium, checked for console errors and drawn charts, and screenshotted
//! into target/html-screenshots/ for people to look at.
//!
//! Without Chromium the test is skipped with a message, unless CI=true, where it fails.
use crate::common;

use std::path::PathBuf;

use assert_cmd::Command;
use common::browser::{browse, check_report, chromium, console_messages};
use common::{capplan, fixture};

#[test]
fn reports_load_and_draw_in_headless_chromium() {
    let _machine = crate::common::machine::shared();
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Run `cmd --html DIR/NAME.html`, which must exit with `code`; the page's path.
    let make = |name: &str, cmd: &mut Command, code: i32| -> PathBuf {
        let page = dir.path().join(format!("{name}.html"));
        cmd.arg("--html").arg(&page).assert().code(code);
        page
    };

    // The checker itself must catch a console error.
    let broken = dir.path().join("broken.html");
    std::fs::write(&broken, "<p>x</p><script>console.error('boom')</script>").unwrap();
    let out = browse(&browser, &broken, &["--dump-dom".to_string()]);
    assert_eq!(
        console_messages(&out.stderr).len(),
        1,
        "console errors are not detected"
    );

    let target = common::Target::start(&["--service-time", "exp:5ms", "--error-rate", "2%"]);
    let json = dir.path().join("loadtest.json");
    let page = make(
        "loadtest",
        capplan()
            .args(["loadtest", "--url", &target.url_for("/"), "--users", "4"])
            .args(["--duration", "3s", "--quiet"])
            .args(["--threshold", "p99<10s", "--threshold", "error_rate<0.1%"])
            .arg("--json")
            .arg(&json),
        1,
    );
    drop(target);
    // The percentile axis goes as deep as the run has requests: 99.9 % from 1,000 (a
    // shared test's run makes fewer when the timing tests take the cores).
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let deepest = if run["requests"].as_u64().unwrap() >= 1000 {
        "99.9%"
    } else {
        "99%"
    };
    check_report(
        &browser,
        &page,
        "loadtest",
        4,
        &[
            "Latency by percentile",
            deepest,
            "p99&lt;10s",
            "PASS",
            "FAIL",
            "HTTPError: 500",
        ],
    );

    let page = make(
        "forecast",
        capplan()
            .args(["forecast", "--history"])
            .arg(fixture("history_hourly.csv"))
            .args(["--rps-per-instance", "40", "--quiet"]),
        0,
    );
    check_report(
        &browser,
        &page,
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

    let page = make(
        "simulate",
        capplan()
            .args(["simulate", "--traffic"])
            .arg(fixture("simulate/traffic_day.csv"))
            .arg("--capacity")
            .arg(fixture("simulate/capacity.json"))
            .arg("--forecast")
            .arg(fixture("simulate/forecast_day.csv"))
            .args(["--recommend", "--instance-cost", "0.1", "--quiet"]),
        0,
    );
    check_report(
        &browser,
        &page,
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
