//! `capplan demo` through the real binary: the whole pipeline on built-in defaults.
use crate::common;

use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// The knee the demo's capacity search found, read from the profile it kept.
fn knee(dir: &std::path::Path) -> f64 {
    let profile: Value =
        serde_json::from_slice(&std::fs::read(dir.join("profile.json")).unwrap()).unwrap();
    profile["sustainable_rps"].as_f64().unwrap()
}

/// Run the demo into `dir`: (stdout, stderr), after checking it succeeded.
fn demo(dir: &std::path::Path) -> (String, String) {
    let out = Command::cargo_bin("capplan")
        .unwrap()
        .args(["demo", "--out-dir"])
        .arg(dir)
        .arg("--html")
        .arg(dir.join("demo.html"))
        // A guard against a hang, not a speed check (docs/BENCHMARKS.md has the timing).
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (stdout, stderr)
}

#[test]
fn demo_runs_the_whole_pipeline_and_keeps_its_files() {
    // Its capacity search measures latency; 33 % of a core in 48 s, measured.
    let _machine = crate::common::machine::timing(40, 50);
    // 8 workers of 20 ms: 400 rps at most; the p95 < 100 ms knee is about 360. The
    // search measures a live target on a shared 2-core machine, where a stall during
    // one of its 2 s steps can throw it far off: a knee outside the band is measured
    // once more (a new demo) and the test fails only when that one misses too.
    let mut dir = tempfile::tempdir().unwrap();
    let (mut stdout, mut stderr) = demo(dir.path());
    let first = knee(dir.path());
    if !(300.0..=420.0).contains(&first) {
        eprintln!("knee {first} rps, outside 300-420: running the demo once more\n{stderr}");
        dir = tempfile::tempdir().unwrap();
        (stdout, stderr) = demo(dir.path());
    }
    for step in [
        "[1/6",
        "[2/6",
        "[3/6",
        "[4/6",
        "[5/6",
        "[6/6",
        "demo finished",
    ] {
        assert!(stderr.contains(step), "progress {step} missing:\n{stderr}");
    }
    assert!(stdout.contains("knee:"), "{stdout}");
    assert!(stdout.contains("predictive (pre-warm)"), "{stdout}");
    assert!(stdout.contains("recommended"), "{stdout}");

    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap()
    };
    let knee = knee(dir.path());
    assert!(
        (300.0..=420.0).contains(&knee),
        "knee {knee}, first {first}"
    );
    let forecast = std::fs::read_to_string(dir.path().join("forecast.csv")).unwrap();
    assert!(forecast.starts_with("timestamp,rps,lower,upper"));
    assert_eq!(
        forecast.lines().count(),
        49,
        "48 forecast hours and a header"
    );
    let reactive = read("reactive.json");
    let predictive = read("predictive.json");
    let breach = |v: &Value| v["slo"]["breach_minutes"].as_f64().unwrap();
    assert!(breach(&predictive) <= breach(&reactive));
    assert!(read("recommended.json")["recommendation"].is_object());
    // The load test at 80% of the knee holds the SLO the knee was found for.
    let load = read("loadtest.json");
    assert!(
        load["latency_ms"]["p95"].as_f64().unwrap() < 150.0,
        "{}",
        load["latency_ms"]
    );
    // One page with the three parts (its rendering is checked in a browser by html_browser.rs).
    let page = std::fs::read_to_string(dir.path().join("demo.html")).unwrap();
    for section in ["id=\"loadtest\"", "id=\"forecast\"", "id=\"simulate\""] {
        assert!(
            page.contains(section),
            "{section} missing from the demo report"
        );
    }
    // In a real browser: no console error, every chart drawn, a screenshot that is not blank.
    if let Some(browser) = common::browser::chromium() {
        common::browser::check_report(
            &browser,
            &dir.path().join("demo.html"),
            "demo",
            10,
            &["Latency by percentile", "seasonal-naive", "recommended"],
        );
    }
}

#[test]
fn a_signal_stops_the_demo_and_its_target() {
    // A deadline after the signal; 6 % of a core in 3 s, measured.
    let _machine = crate::common::machine::timing(10, 4);
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::capplan_bin())
        .args(["demo", "--out-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The demo names its target's URL, then starts the capacity search.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{said}");
        said.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("http://") {
            break url.to_string();
        }
    };
    std::thread::sleep(Duration::from_secs(3));
    let signalled = std::time::Instant::now();
    common::send_signal(&child, libc::SIGTERM);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    said.push_str(&rest);
    assert_eq!(status.code(), Some(130), "{said}");
    assert!(
        took < Duration::from_secs(3),
        "stopped {took:?} after SIGTERM\n{said}"
    );
    assert!(said.contains("no profile is written"), "{said}");
    assert!(!dir.path().join("profile.json").exists());
    // Its target went with it.
    assert!(
        std::net::TcpStream::connect(&url).is_err(),
        "the demo's target at {url} still answers"
    );
}
