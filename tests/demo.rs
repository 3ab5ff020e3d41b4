//! `capplan demo` through the real binary: the whole pipeline on built-in defaults.
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

#[test]
fn demo_runs_the_whole_pipeline_and_keeps_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("capplan")
        .unwrap()
        .args(["demo", "--out-dir"])
        .arg(dir.path())
        // A guard against a hang, not a speed check (docs/BENCHMARKS.md has the timing).
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for step in ["[1/5", "[2/5", "[3/5", "[4/5", "[5/5", "demo finished"] {
        assert!(stderr.contains(step), "progress {step} missing:\n{stderr}");
    }
    assert!(stdout.contains("knee:"), "{stdout}");
    assert!(stdout.contains("predictive (pre-warm)"), "{stdout}");
    assert!(stdout.contains("recommended"), "{stdout}");

    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.path().join(name)).unwrap()).unwrap()
    };
    let profile = read("profile.json");
    let knee = profile["sustainable_rps"].as_f64().unwrap();
    // 8 workers of 20 ms: 400 rps at most; the p95 < 100 ms knee is about 360.
    assert!((300.0..=420.0).contains(&knee), "knee {knee}");
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
}
