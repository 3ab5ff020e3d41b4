//! The documented JSON outputs against their schemas in `schema/`, checked by a
//! third-party validator (Python's `jsonschema`, draft 2020-12) on real output of
//! the binary. A missing python3 or jsonschema skips outside CI and fails in CI.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::servers::{require, Component};
use common::{capplan, fixture, Target};
use serde_json::Value;

/// Checks the schema itself, then the document; exit 3 and one line per error
/// when the document does not match (any other failure is a crash of the check).
const VALIDATE: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
doc = json.load(open(sys.argv[2]))
errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
for e in errors:
    print("/".join(map(str, e.path)) or "(root)", ":", e.message)
sys.exit(3 if errors else 0)
"#;

fn schema(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name)
}

/// `Err(errors)` when `doc` does not match `schema/NAME`.
fn validate(name: &str, doc: &Path) -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(schema(name))
        .arg(doc)
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(stdout),
        _ => panic!(
            "the validator crashed on {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn assert_valid(name: &str, doc: &Path) {
    if let Err(errors) = validate(name, doc) {
        let text = std::fs::read_to_string(doc).unwrap_or_default();
        panic!(
            "{} does not match {name}:\n{errors}\n{}",
            doc.display(),
            &text[..text.len().min(4000)]
        );
    }
}

/// Run `capplan ARGS` (exit 0 or 1, a verdict), return the JSON it wrote to `json`.
fn run_json(args: &[&str], json: &Path) -> Value {
    let out = capplan()
        .args(args)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "capplan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn loadtest_json_matches_its_schema_closed_and_open() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJsonschema]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start(&["--workers", "4", "--service-time", "5ms"]);
    let url = target.url_for("/");
    let runs: [(&str, &[&str]); 4] = [
        ("closed.json", &["--users", "4", "--threshold", "p95<1s"]),
        ("open.json", &["--rate", "50"]),
        ("stages.json", &["--stages", "1s:4,1s:0"]),
        ("rate-stages.json", &["--rate-stages", "1s:50,1s:0"]),
    ];
    for (file, extra) in runs {
        let json = dir.path().join(file);
        // Its shard directory too (--out-dir): the manifest has a schema of its own,
        // and the merge of it is a loadtest document like the run's.
        let shard = dir.path().join(format!("{file}.shard"));
        let mut args = vec!["loadtest", "--url", &url, "--duration", "2s", "--quiet"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--json", path_str(&json), "--out-dir", path_str(&shard)]);
        let doc = run_json(&args, &json);
        assert_eq!(doc["version"], 1);
        assert_valid("loadtest.schema.json", &json);
        assert_valid("shard-manifest.schema.json", &shard.join("manifest.json"));
        let merged = dir.path().join(format!("merged-{file}"));
        let args = [
            "merge",
            path_str(&shard),
            "--quiet",
            "--json",
            path_str(&merged),
        ];
        run_json(&args, &merged);
        assert_valid("loadtest.schema.json", &merged);
    }
}

#[test]
fn loadtest_json_with_checks_and_captures_matches_its_schema() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJsonschema]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    // examples/shop.toml: a feeder, captures, checks, a failing check; against this target.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let shop = std::fs::read_to_string(examples.join("shop.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8080", &target.url_for(""));
    std::fs::write(dir.path().join("shop.toml"), shop).unwrap();
    std::fs::copy(
        examples.join("accounts.csv"),
        dir.path().join("accounts.csv"),
    )
    .unwrap();
    let json = dir.path().join("shop.json");
    let scenario = dir.path().join("shop.toml");
    let args = [
        "loadtest",
        "--scenario",
        path_str(&scenario),
        "--users",
        "3",
        "--duration",
        "2s",
        "--quiet",
        "--json",
        path_str(&json),
    ];
    let doc = run_json(&args, &json);
    assert!(!doc["checks"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(doc["errors"][0]["kind"], "CheckFailed", "{}", doc["errors"]);
    assert_valid("loadtest.schema.json", &json);
}

#[test]
fn forecast_json_matches_its_schema() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJsonschema]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("forecast.json");
    let history = fixture("history_hourly.csv");
    let doc = run_json(
        &[
            "forecast",
            "--history",
            path_str(&history),
            "--rps-per-instance",
            "50",
            "--quiet",
            "--json",
            path_str(&json),
        ],
        &json,
    );
    assert_eq!(doc["version"], 2);
    assert_valid("forecast.schema.json", &json);
}

#[test]
fn simulate_json_matches_its_schema_with_and_without_recommend() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJsonschema]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let traffic = fixture("simulate/traffic_day.csv");
    let capacity = fixture("simulate/capacity.json");
    let base = [
        "simulate",
        "--traffic",
        path_str(&traffic),
        "--capacity",
        path_str(&capacity),
        "--quiet",
    ];
    let runs: [(&str, &[&str]); 2] = [
        ("plain.json", &[]),
        (
            "recommend.json",
            &[
                "--recommend",
                "--instance-cost",
                "0.1",
                "--db-max-connections",
                "400",
                "--pool-per-worker",
                "5",
            ],
        ),
    ];
    for (file, extra) in runs {
        let json = dir.path().join(file);
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--json", path_str(&json)]);
        let doc = run_json(&args, &json);
        assert_eq!(doc["version"], 1);
        // Everything that varies between identical runs sits under `runtime`.
        assert!(doc["runtime"]["timing_ms"]["simulate"].is_number(), "{doc}");
        assert!(doc.get("timing_ms").is_none() && doc.get("simulated").is_none());
        assert_valid("simulate.schema.json", &json);
    }
}

#[test]
fn capacity_profile_matches_its_schema() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJsonschema]) {
        return;
    }
    assert_valid(
        "capacity-profile.schema.json",
        &fixture("simulate/capacity.json"),
    );
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let search = dir.path().join("search.json");
    let target = Target::start(&["--workers", "8", "--service-time", "5ms"]);
    // Capped far below the target's ~1,600 rps so the search ends after two steps,
    // each at a rate high enough for 300 samples in 2 s (so they are not lengthened).
    run_json(
        &[
            "loadtest",
            "--url",
            &target.url_for("/"),
            "--find-capacity",
            "--step-duration",
            "2s",
            "--start-rate",
            "300",
            "--max-rate",
            "450",
            "--workers-measured",
            "8",
            "--quiet",
            "--profile-out",
            path_str(&profile),
            "--json",
            path_str(&search),
        ],
        &profile,
    );
    assert_valid("capacity-profile.schema.json", &profile);
    assert_valid("find-capacity.schema.json", &search);
    let search: Value = serde_json::from_slice(&std::fs::read(&search).unwrap()).unwrap();
    let profile: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
    assert_eq!(
        search["profile"], profile,
        "--json holds the profile written"
    );
}

/// The schemas must catch drift: a real document, broken in the ways drift
/// happens (a key dropped, renamed or added, a type changed), fails each time.
#[test]
fn broken_documents_fail_validation() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::PythonJsonschema]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("simulate.json");
    let traffic = fixture("simulate/traffic_day.csv");
    let capacity = fixture("simulate/capacity.json");
    let good = run_json(
        &[
            "simulate",
            "--traffic",
            path_str(&traffic),
            "--capacity",
            path_str(&capacity),
            "--quiet",
            "--json",
            path_str(&json),
        ],
        &json,
    );
    assert_valid("simulate.schema.json", &json);
    type Break = fn(&mut Value);
    let breaks: [(&str, Break); 5] = [
        ("version missing", |d| {
            d.as_object_mut().unwrap().remove("version");
        }),
        ("version 2", |d| d["version"] = 2.into()),
        ("timing back at the top", |d| {
            d["timing_ms"] = d["runtime"]["timing_ms"].clone();
        }),
        ("steps as a string", |d| d["steps"] = "1440".into()),
        ("unknown key in slo", |d| d["slo"]["p99_ms"] = 1.0.into()),
    ];
    for (what, apply) in breaks {
        let mut doc = good.clone();
        apply(&mut doc);
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, doc.to_string()).unwrap();
        assert!(
            validate("simulate.schema.json", &broken).is_err(),
            "{what}: the broken document passed"
        );
    }
    // The profile schema too: a profile without its version is refused.
    let mut profile: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("simulate/capacity.json")).unwrap())
            .unwrap();
    profile.as_object_mut().unwrap().remove("version");
    let broken = dir.path().join("profile.json");
    std::fs::write(&broken, profile.to_string()).unwrap();
    assert!(validate("capacity-profile.schema.json", &broken).is_err());
}
