//! Distributed runs through the real binary (issue 16): `loadtest --shard I/N
//! --start-at T --out-dir DIR` against `capplan target`, then `capplan merge DIR...`:
//! exact counts and percentiles, every output of a run, thresholds judged on the
//! merge, throughput of 4 shards against one process, and the shard checks (exit 2).
use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::Target;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;
use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn said(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// RFC 3339 of a moment `ahead` from now, on a whole second (so 1 s sooner at worst:
/// every shard must be up by then, or it starts late and the merge refuses it).
fn start_at(ahead: Duration) -> String {
    let at = chrono::Utc::now() + chrono::Duration::from_std(ahead).unwrap();
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn merge(args: &[&str], dirs: &[&Path]) -> Output {
    common::capplan()
        .arg("merge")
        .args(dirs)
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// Run `count` shards at once as separate processes (as pods would be), each with
/// `--shard i/count --start-at T --out-dir base/shard-i` and its own `--json`.
fn run_shards(target: &Target, base: &Path, count: u32, load: &[&str]) -> Vec<PathBuf> {
    let url = target.url_for("/");
    let mut args = vec!["--url", url.as_str()];
    args.extend_from_slice(load);
    run_shards_of(base, count, &args)
}

/// [`run_shards`] with the whole load given: `--url` or `--scenario`, users, length.
fn run_shards_of(base: &Path, count: u32, load: &[&str]) -> Vec<PathBuf> {
    let at = start_at(Duration::from_secs(3));
    let children: Vec<_> = (0..count)
        .map(|i| {
            Command::new(common::capplan_bin())
                .args(["loadtest", "--quiet"])
                .args(load)
                .args(["--shard", &format!("{i}/{count}"), "--start-at", &at])
                .arg("--out-dir")
                .arg(base.join(format!("shard-{i}")))
                .arg("--json")
                .arg(base.join(format!("shard-{i}.json")))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = common::wait_output(child, Duration::from_secs(60));
        assert!(out.status.success(), "{}", said(&out));
    }
    (0..count)
        .map(|i| base.join(format!("shard-{i}")))
        .collect()
}

/// Every `task-0` interval of the shards' logs past the warm-up, in one histogram.
fn all_values(dirs: &[PathBuf], warmup_s: u64) -> Histogram<u64> {
    use base64::Engine;
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for dir in dirs {
        let text = fs::read(dir.join("latency.hlog")).unwrap();
        for entry in IntervalLogIterator::new(&text) {
            let Ok(LogEntry::Interval(interval)) = entry else {
                continue;
            };
            let second = interval.start_timestamp().as_secs() + 1;
            if interval.tag().map(|t| t.as_str()) != Some("task-0") || second <= warmup_s {
                continue;
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(interval.encoded_histogram())
                .unwrap();
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap();
            all.add(h).unwrap();
        }
    }
    all
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.highest_equivalent(h.value_at_quantile(q)) as f64 / 1e3
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("manifest.json");
    let mut manifest = json(&path);
    edit(&mut manifest);
    fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn one_shard_merges_into_exactly_the_runs_own_reports() {
    let _machine = common::machine::shared();
    let target = Target::start(&["--workers", "8", "--service-time", "exp:2ms"]);
    let dir = tempfile::tempdir().unwrap();
    let loads: [(&str, &[&str]); 2] = [
        ("closed", &["--users", "3"]),
        // The open model: service times, pacing and the rate report merge too.
        ("open", &["--rate", "100", "--connections", "16"]),
    ];
    for (model, load) in loads {
        let d = dir.path().join(model);
        fs::create_dir(&d).unwrap();
        let out = common::capplan()
            .args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
            .args(load)
            .args(["--duration", "3s", "--warmup", "1s"])
            .args(["--threshold", "p95<5s", "--threshold", "error_rate<1%"])
            .arg("--out-dir")
            .arg(d.join("shard"))
            .arg("--json")
            .arg(d.join("run.json"))
            .arg("--junit")
            .arg(d.join("run.xml"))
            .arg("--csv")
            .arg(d.join("run"))
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        // A busy machine may fail a verdict; the merge must reach the same one.
        let verdict = out.status.code();
        assert!(matches!(verdict, Some(0 | 1)), "{}", said(&out));
        let prefix = d.join("merged");
        let out = merge(
            &[
                "--json",
                d.join("merged.json").to_str().unwrap(),
                "--junit",
                d.join("merged.xml").to_str().unwrap(),
                "--csv",
                prefix.to_str().unwrap(),
                "--html",
                d.join("merged.html").to_str().unwrap(),
            ],
            &[&d.join("shard")],
        );
        assert_eq!(out.status.code(), verdict, "{}", said(&out));
        // The same renderers on the same numbers: the very same documents.
        let (run, merged) = (json(&d.join("run.json")), json(&d.join("merged.json")));
        assert!(run["requests"].as_u64().unwrap() > 0);
        assert_eq!(run, merged, "{model}");
        assert_eq!(
            fs::read_to_string(d.join("run.xml")).unwrap(),
            fs::read_to_string(d.join("merged.xml")).unwrap()
        );
        for suffix in ["_stats.csv", "_stats_history.csv", "_failures.csv"] {
            let a = fs::read_to_string(d.join(format!("run{suffix}"))).unwrap();
            let b = fs::read_to_string(d.join(format!("merged{suffix}"))).unwrap();
            assert_eq!(a, b, "{model} {suffix}");
        }
        assert!(fs::read_to_string(d.join("merged.html"))
            .unwrap()
            .contains("<svg"));
    }
}

#[test]
fn four_shards_offer_what_one_process_does_and_merge_exactly() {
    let _machine = common::machine::timing(35, 16);
    // Constant 20 ms service and enough workers: throughput is set by the users, not
    // by the target, so one process and four shards must measure the same.
    let target = Target::start(&["--workers", "64", "--service-time", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let load = ["--users", "16", "--duration", "4s", "--warmup", "1s"];
    let single = |name: &str| -> f64 {
        let path = d.join(name);
        let out = common::capplan()
            .args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
            .args(load)
            .arg("--json")
            .arg(&path)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", said(&out));
        json(&path)["rps"].as_f64().unwrap()
    };
    let before = single("single-1.json");
    let dirs = run_shards(&target, d, 4, &load);
    let after = single("single-2.json");

    let merged_json = d.join("merged.json");
    let merged_hlog = d.join("merged.hlog");
    let dir_refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let out = merge(
        &[
            "--json",
            merged_json.to_str().unwrap(),
            "--hdr-log",
            merged_hlog.to_str().unwrap(),
        ],
        &dir_refs,
    );
    assert!(out.status.success(), "{}", said(&out));
    let merged = json(&merged_json);

    // Counts: the sum of the shards, exactly.
    let shards: Vec<Value> = (0..4)
        .map(|i| json(&d.join(format!("shard-{i}.json"))))
        .collect();
    let sum = |key: &str| shards.iter().map(|s| s[key].as_u64().unwrap()).sum::<u64>();
    assert_eq!(merged["requests"].as_u64().unwrap(), sum("requests"));
    assert_eq!(merged["failures"].as_u64().unwrap(), sum("failures"));
    assert_eq!(merged["users"].as_u64(), Some(16));
    let users: Vec<u64> = shards
        .iter()
        .map(|s| s["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [4, 4, 4, 4]);

    // Percentiles: those of one histogram holding every shard's values.
    let all = all_values(&dirs, 1);
    assert_eq!(all.len(), merged["requests"].as_u64().unwrap());
    let latency = &merged["latency_ms"];
    for (key, q) in [
        ("p50", 0.5),
        ("p90", 0.9),
        ("p95", 0.95),
        ("p99", 0.99),
        ("p99.9", 0.999),
    ] {
        assert_eq!(latency[key].as_f64().unwrap(), ms(&all, q), "{key}");
    }
    assert_eq!(latency["max"].as_f64().unwrap(), all.max() as f64 / 1e3);
    // The merged --hdr-log holds them all too (warm-up second included).
    let text = fs::read(&merged_hlog).unwrap();
    let intervals = IntervalLogIterator::new(&text)
        .filter(|e| matches!(e, Ok(LogEntry::Interval(_))))
        .count();
    assert!(intervals >= 4, "{intervals} intervals");

    // Throughput: within 5 % of one process's, plus the noise this machine showed
    // between the two single runs that bracket the shards.
    let reference = (before + after) / 2.0;
    let noise = (before - after).abs();
    let sharded = merged["rps"].as_f64().unwrap();
    let tolerance = 0.05 * reference + noise;
    eprintln!(
        "one process {before:.1} and {after:.1} rps, 4 shards {sharded:.1} rps \
         (tolerance {tolerance:.1})"
    );
    assert!(
        (sharded - reference).abs() <= tolerance,
        "4 shards {sharded:.1} rps vs one process {before:.1} and {after:.1} rps \
         (tolerance {tolerance:.1})"
    );

    // A threshold that fails on the merge: exit 1, named.
    let out = merge(&["--threshold", "p50<1ms", "--quiet"], &dir_refs);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("threshold failed: p50<1ms"));
}

#[test]
fn merge_refuses_missing_duplicate_foreign_and_misaligned_shards() {
    let _machine = common::machine::shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let dirs = run_shards(&target, d, 2, &["--users", "2", "--duration", "1s"]);
    let (s0, s1) = (dirs[0].as_path(), dirs[1].as_path());
    let refused = |dirs: &[&Path], expected: &[&str]| {
        let out = merge(&["--quiet"], dirs);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{}", said(&out));
        for e in expected {
            assert!(err.contains(e), "{e:?} not in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    };
    assert!(merge(&["--quiet"], &[s0, s1]).status.success());
    refused(&[s0], &["shard 1/2 of run", "is missing"]);

    let again = d.join("again");
    copy_dir(s1, &again);
    refused(
        &[s0, s1, &again],
        &["again", "is shard 1/2 again", "duplicate"],
    );

    let foreign = d.join("foreign");
    copy_dir(s1, &foreign);
    edit_manifest(&foreign, |m| m["run_id"] = "another-run".into());
    refused(
        &[s0, &foreign],
        &["foreign", "is a shard of run another-run"],
    );

    let late = d.join("late");
    copy_dir(s1, &late);
    edit_manifest(&late, |m| {
        let at = chrono::DateTime::parse_from_rfc3339(m["started_at"].as_str().unwrap()).unwrap();
        m["started_at"] = (at + chrono::Duration::seconds(2)).to_rfc3339().into();
    });
    refused(
        &[s0, &late],
        &["late", "misaligned intervals", "--start-at"],
    );

    let broken = d.join("broken");
    copy_dir(s1, &broken);
    let seconds = fs::read_to_string(broken.join("seconds.jsonl")).unwrap();
    let mut lines: Vec<&str> = seconds.lines().collect();
    lines[0] = "{\"elapsed_s\": \"one\"}";
    fs::write(broken.join("seconds.jsonl"), lines.join("\n")).unwrap();
    refused(&[s0, &broken], &["broken/seconds.jsonl:1: elapsed_s"]);

    let gap = d.join("gap");
    copy_dir(s1, &gap);
    let seconds = fs::read_to_string(gap.join("seconds.jsonl")).unwrap();
    let skipped = seconds.replacen("\"elapsed_s\":1,", "\"elapsed_s\":2,", 1);
    assert_ne!(skipped, seconds);
    fs::write(gap.join("seconds.jsonl"), skipped).unwrap();
    refused(
        &[s0, &gap],
        &["gap/seconds.jsonl:1: elapsed_s", "expected second 1"],
    );

    let nonsense = d.join("nonsense");
    copy_dir(s1, &nonsense);
    edit_manifest(&nonsense, |m| m["shard"]["count"] = 0.into());
    refused(
        &[s0, &nonsense],
        &["nonsense/manifest.json", "shard: shard 1/0 is not a shard"],
    );

    refused(
        &[s0, &d.join("nowhere")],
        &["nowhere", "is not a directory"],
    );
}

#[test]
fn a_terminated_shard_still_writes_its_directory_whole() {
    let _machine = common::machine::shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("shard");
    let child = Command::new(common::capplan_bin())
        .args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
        .args(["--users", "2", "--duration", "60s"])
        .arg("--out-dir")
        .arg(&out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!out_dir.exists(), "the directory appears only whole");
    common::send_signal(&child, libc::SIGTERM);
    let out = common::wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130), "{}", said(&out));
    let manifest = json(&out_dir.join("manifest.json"));
    assert_eq!(manifest["interrupted"], true);
    assert_eq!(manifest["shard"]["count"], 1);
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["shard"], "no temporary directory is left behind");
    // The cut-short shard merges, and the merge is not a pass either.
    let merged = dir.path().join("merged.json");
    let out = merge(
        &["--json", merged.to_str().unwrap(), "--quiet"],
        &[&out_dir],
    );
    assert_eq!(out.status.code(), Some(130), "{}", said(&out));
    assert_eq!(json(&merged)["interrupted"], true);
    assert!(json(&merged)["requests"].as_u64().unwrap() > 0);
}

#[test]
fn the_shard_comes_from_the_indexed_jobs_variable_and_a_late_start_is_reported() {
    let _machine = common::machine::shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("shard");
    let past = start_at(Duration::ZERO);
    std::thread::sleep(Duration::from_millis(1200));
    let out = common::capplan()
        .args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
        .args(["--users", "5", "--duration", "1s", "--shard-from-env", "2"])
        .args(["--start-at", &past])
        .arg("--out-dir")
        .arg(&out_dir)
        .env("JOB_COMPLETION_INDEX", "1")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let manifest = json(&out_dir.join("manifest.json"));
    assert_eq!(manifest["shard"]["index"], 1);
    assert_eq!(manifest["shard"]["count"], 2);
    assert_eq!(manifest["users"], 2, "5 users over 2 shards: 3 and 2");
    assert!(manifest["late_start_ms"].as_f64().unwrap() > 1000.0);
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(warned.contains("after --start-at"), "{warned}");

    // A shard without --out-dir says that its numbers are a part only.
    let out = common::capplan()
        .args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
        .args(["--users", "2", "--duration", "1s", "--shard", "1/2"])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("this is shard 1/2"),
        "{}",
        said(&out)
    );

    // Without the variable, or with a bad one: exit 2, naming it.
    for value in [None, Some("two")] {
        let mut cmd = common::capplan();
        cmd.args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
            .args(["--users", "2", "--duration", "1s", "--shard-from-env", "2"])
            .env_remove("JOB_COMPLETION_INDEX")
            .timeout(Duration::from_secs(30));
        if let Some(value) = value {
            cmd.env("JOB_COMPLETION_INDEX", value);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", said(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("JOB_COMPLETION_INDEX"));
    }
    // Shards without a common run id, and more shards than users: exit 2.
    for (extra, expected) in [
        (
            vec!["--shard", "0/2", "--out-dir"],
            "same --start-at, or --run-id",
        ),
        (
            vec!["--shard", "3/4", "--users", "3"],
            "use at most 3 shards",
        ),
    ] {
        let mut cmd = common::capplan();
        cmd.args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
            .args(["--duration", "1s"])
            .args(&extra);
        if extra.contains(&"--out-dir") {
            cmd.arg(dir.path().join("other")).args(["--users", "2"]);
        }
        let out = cmd.timeout(Duration::from_secs(30)).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", said(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{}",
            said(&out)
        );
    }
}

/// Load shapes divide between shards: 3 shards of a users ramp (10 users is not a
/// multiple of 3) and of a rate ramp intend, second by second, what the whole run
/// intends, and the merge shows the whole run's shape and its intended line.
#[test]
fn shapes_divide_between_shards_and_the_merge_follows_the_whole_shape() {
    let _machine = crate::common::machine::shared();
    let target = Target::start(&["--workers", "8", "--service-time", "1ms"]);
    for (load, column) in [
        (["--stages", "2s:10,1s:10,1s:0"], "intended_users"),
        (["--rate-stages", "2s:60,1s:60,1s:0"], "intended_rps"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let dirs = run_shards(&target, dir.path(), 3, &load);
        for d in &dirs {
            let manifest = json(&d.join("manifest.json"));
            assert_eq!(
                manifest["shape"]["peak"],
                json(&dirs[0].join("manifest.json"))["shape"]["peak"]
            );
        }
        let merged = dir.path().join("merged.json");
        let out = merge(
            &["--json", merged.to_str().unwrap()],
            &dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>(),
        );
        assert!(out.status.success(), "{}", said(&out));
        let merged = json(&merged);
        assert_eq!(
            merged["shape"]["peak"].as_f64(),
            Some(if column == "intended_users" {
                10.0
            } else {
                60.0
            })
        );
        let history = merged["history"].as_array().unwrap();
        let intended: Vec<f64> = history
            .iter()
            .map(|row| row[column].as_f64().unwrap())
            .collect();
        // What one process intends each second with the same flags.
        let single = dir.path().join("single.json");
        let out = common::capplan()
            .args(["loadtest", "--url", &target.url_for("/"), "--quiet"])
            .args(load)
            .arg("--json")
            .arg(&single)
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", said(&out));
        let whole: Vec<f64> = json(&single)["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row[column].as_f64().unwrap())
            .collect();
        assert!(whole.iter().any(|&v| v > 0.0), "{column}: {whole:?}");
        assert_eq!(intended.len(), whole.len(), "{column}: {intended:?}");
        for (got, want) in intended.iter().zip(&whole) {
            assert!(
                (got - want).abs() < 1e-6,
                "{column}: {intended:?}, want {whole:?}"
            );
        }
    }
}

/// A scenario's `unique` feeder divides between shards (row r to shard r mod N), and
/// the merge adds up the shards' checks and keeps their failure kinds: 12 users over 3
/// shards (4 each) on the 10 accounts of examples/shop.toml have 4, 3 and 3 rows, so two
/// users find none (one FeederExhausted each); with the rows not divided there would
/// be none.
#[test]
fn feeder_rows_divide_between_shards_and_checks_add_up_in_the_merge() {
    let _machine = crate::common::machine::shared();
    let target = Target::start(&["--workers", "8", "--service-time", "1ms"]);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let dir = tempfile::tempdir().unwrap();
    let shop = std::fs::read_to_string(examples.join("shop.toml"))
        .unwrap()
        .replace("http://127.0.0.1:8080", &target.url);
    std::fs::write(dir.path().join("shop.toml"), shop).unwrap();
    std::fs::copy(
        examples.join("accounts.csv"),
        dir.path().join("accounts.csv"),
    )
    .unwrap();
    let rows = std::fs::read_to_string(examples.join("accounts.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(rows, 10);
    let shop = dir.path().join("shop.toml");
    let dirs = run_shards_of(
        dir.path(),
        3,
        &[
            "--scenario",
            shop.to_str().unwrap(),
            "--users",
            "12",
            "--spawn-rate",
            "100",
            "--duration",
            "2s",
        ],
    );
    let merged = dir.path().join("merged.json");
    let out = merge(
        &["--json", merged.to_str().unwrap()],
        &dirs.iter().map(|d| d.as_path()).collect::<Vec<_>>(),
    );
    // Failures without a threshold or --fail-on-errors warn, as in a single run.
    assert!(out.status.success(), "{}", said(&out));
    let merged = json(&merged);
    let exhausted: u64 = merged["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "FeederExhausted")
        .map(|e| e["occurrences"].as_u64().unwrap())
        .sum();
    assert_eq!(exhausted, 12 - rows as u64, "{}", merged["errors"]);
    // The merged checks are the shards' added up, row by row.
    let manifests: Vec<Value> = dirs
        .iter()
        .map(|d| json(&d.join("manifest.json")))
        .collect();
    let checks = merged["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    for check in checks {
        for field in ["passed", "failed"] {
            let shards: u64 = manifests
                .iter()
                .flat_map(|m| m["checks"].as_array().unwrap())
                .filter(|c| c["name"] == check["name"] && c["what"] == check["what"])
                .map(|c| c[field].as_u64().unwrap())
                .sum();
            assert_eq!(check[field].as_u64().unwrap(), shards, "{check}");
        }
    }
    let logins = checks
        .iter()
        .find(|c| c["name"] == "login" && c["kind"] == "check")
        .unwrap();
    assert_eq!(logins["passed"].as_u64(), Some(rows as u64), "{logins}");
}
