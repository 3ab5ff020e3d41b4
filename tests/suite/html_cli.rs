//! `--html` and `--plot` through the real binary (no browser needed; see html_browser.rs).
use crate::common;

use assert_cmd::Command;
use common::{capplan, fixture};

fn simulate_day() -> Command {
    let mut cmd = common::simulate_day();
    cmd.arg("--quiet");
    cmd
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let info = decoder.read_info().expect("a valid PNG");
    (info.info().width, info.info().height)
}

#[test]
fn simulate_writes_html_and_both_plot_formats() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let svg = dir.path().join("plot.svg");
    let png = dir.path().join("plot.PNG");
    simulate_day()
        .arg("--html")
        .arg(&html)
        .arg("--plot")
        .arg(&svg)
        .assert()
        .success();
    simulate_day().arg("--plot").arg(&png).assert().success();

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("Demand and capacity") && page.contains("SCALE_DOWN_WINDOW"));
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<?xml"), "{}", &plot[..60]);
    assert!(plot.contains("Demand and capacity") && plot.contains("Instances by state"));
    assert!(
        !plot.contains("p95 latency"),
        "the plot is the main chart only"
    );
    // Two 960×300 charts stacked, rasterised at twice the size.
    assert_eq!(png_size(&std::fs::read(&png).unwrap()), (1920, 1200));
}

#[test]
fn forecast_writes_its_main_chart() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("forecast.svg");
    capplan()
        .args(["forecast", "--quiet", "--history"])
        .arg(fixture("history_hourly.csv"))
        .arg("--plot")
        .arg(&svg)
        .assert()
        .success();
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("Traffic: recent history and forecast"));
    assert!(plot.contains("90% interval"));
}

#[test]
fn loadtest_writes_report_and_png_plot() {
    let _machine = crate::common::machine::shared();
    let target = common::Target::start(&["--service-time", "2ms"]);
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("load.html");
    let png = dir.path().join("latency.png");
    capplan()
        .args(["loadtest", "--url", &target.url_for("/"), "--users", "2"])
        .args(["--duration", "2s", "--quiet", "--threshold", "p95<5s"])
        .arg("--html")
        .arg(&html)
        .arg("--plot")
        .arg(&png)
        .assert()
        .success();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Latency by percentile") && page.contains("PASS"));
    assert!(page.contains(&target.url));
    // What was spoken, on the page as in the table.
    assert!(
        page.contains("HTTP/1.1, 2 connections, connect p50"),
        "protocol line missing"
    );
    assert_eq!(png_size(&std::fs::read(&png).unwrap()), (1920, 600));
}

#[test]
fn an_unknown_plot_extension_is_a_usage_error_before_any_work() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("plot.jpg");
    let out = simulate_day().arg("--plot").arg(&jpg).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("--plot") && stderr.contains(".svg or .png"),
        "{stderr}"
    );
    assert!(!jpg.exists());
    // loadtest checks its flags before probing the target: nothing listens on port 9,
    // yet exit 2. A capacity search has no single run to report.
    for flags in [
        &["--duration", "1s", "--plot", "x.gif"][..],
        &["--find-capacity", "--html", "x.html"],
    ] {
        capplan()
            .args(["loadtest", "--url", "http://127.0.0.1:9/"])
            .args(flags)
            .assert()
            .code(2);
    }
    capplan()
        .args(["forecast", "--history"])
        .arg(fixture("history_hourly.csv"))
        .args(["--plot", "noextension"])
        .assert()
        .code(2);
}
