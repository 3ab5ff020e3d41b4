//! `capplan loadtest` against misbehaving servers (tests/suite/common/faulty.rs): a
//! stall from the start or late in the run, a slow body, resets and garbage.
//! Each must be charged, never dropped: a hung or broken service fails its gates.
use crate::common;

use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use common::faulty::{Fault, Faulty};
use common::machine::timing;
use serde_json::Value;

fn loadtest(args: &[&str]) -> Output {
    Command::cargo_bin("capplan")
        .unwrap()
        .arg("loadtest")
        .args(args)
        .args(["--quiet", "--json", "-"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

/// The run's JSON summary (stdout) and its stderr.
fn summary(out: &Output) -> (Value, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let run = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("no JSON summary ({err}): {stderr}"));
    (run, stderr)
}

const GATES: [&str; 4] = ["--threshold", "error_rate<1%", "--threshold", "p99<100ms"];

#[test]
fn a_target_that_never_answers_fails_the_run_instead_of_passing_it() {
    let _guard = timing(10, 7);
    let server = Faulty::start(Fault::Stall);
    // Closed model: every user's one request is cut off at the end (+2 s grace,
    // the smaller of --timeout and 2 s) and charged with its latency so far.
    let out = loadtest(
        &[
            &["--url", &server.url, "--users", "5", "--duration", "2s"][..],
            &["--timeout", "10s"],
            &GATES,
        ]
        .concat(),
    );
    let (run, stderr) = summary(&out);
    assert_eq!(out.status.code(), Some(1), "thresholds must fail\n{stderr}");
    assert_eq!(run["requests"], 5, "{run}");
    assert_eq!(run["failures"], 5, "{run}");
    assert_eq!(server.received(), 5, "the server read each user's request");
    let p50 = run["latency_ms"]["p50"].as_f64().unwrap();
    assert!(p50 >= 3000.0, "latency so far, p50 {p50} ms");
    assert!(
        run["warnings"]
            .to_string()
            .contains("still without a response"),
        "{run}"
    );
    // Open model: the sends that found every connection stalled are charged too.
    let out = loadtest(&[
        "--url",
        &server.url,
        "--rate",
        "50",
        "--connections",
        "5",
        "--duration",
        "2s",
        "--timeout",
        "500ms",
    ]);
    let (run, _) = summary(&out);
    let requests = run["requests"].as_u64().unwrap();
    assert!(
        (90..=110).contains(&requests),
        "every due send is counted: {run}"
    );
    assert_eq!(run["failures"].as_u64(), Some(requests), "{run}");
    assert!(
        run["rate"]["unsent"].as_u64().unwrap() >= 80,
        "{}",
        run["rate"]
    );
    assert!(run["rate_achieved"].as_f64().unwrap() < 0.2, "{run}");
}

#[test]
fn a_stall_in_the_last_third_fails_the_gates() {
    let _guard = timing(10, 5);
    // Healthy for 2 s of a 3 s run, then silent: the case that used to pass.
    let server = Faulty::start(Fault::StallAfter(Duration::from_secs(2)));
    let out = loadtest(
        &[
            &["--url", &server.url, "--rate", "100", "--connections", "10"][..],
            &["--duration", "3s", "--timeout", "10s"],
            &GATES,
        ]
        .concat(),
    );
    let (run, stderr) = summary(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a late stall must fail\n{stderr}"
    );
    let requests = run["requests"].as_u64().unwrap();
    let failures = run["failures"].as_u64().unwrap();
    // All ~300 due sends are in the report, the last third of them as failures.
    assert!((270..=330).contains(&requests), "{run}");
    assert!((70..=130).contains(&failures), "{failures} of {requests}");
    let answered = requests - failures;
    assert!(
        answered <= server.received(),
        "{answered} answered, the server read {}",
        server.received()
    );
    let p99 = run["latency_ms"]["p99"].as_f64().unwrap();
    assert!(p99 >= 1000.0, "the stalled tail shows in p99: {p99} ms");
    let verdicts = run["thresholds"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    assert!(
        verdicts.iter().all(|v| v["passed"] == false),
        "both gates fail: {verdicts:?}"
    );
}

#[test]
fn a_body_slower_than_the_run_is_charged_not_dropped() {
    let _guard = timing(10, 4);
    // The head arrives at once, the body's last byte 8 s later, in a 2 s run.
    let server = Faulty::start(Fault::SlowBody(Duration::from_secs(8)));
    let out = loadtest(
        &[
            &["--url", &server.url, "--users", "3", "--duration", "2s"][..],
            &["--timeout", "20s"],
            &GATES,
        ]
        .concat(),
    );
    let (run, stderr) = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        run["requests"], 3,
        "one request per user, each cut off: {run}"
    );
    assert_eq!(run["failures"], 3, "{run}");
    let p50 = run["latency_ms"]["p50"].as_f64().unwrap();
    assert!((3000.0..8000.0).contains(&p50), "latency so far: {p50} ms");
}

#[test]
fn resets_are_connection_errors_with_their_cause() {
    let _guard = timing(50, 1);
    let server = Faulty::start(Fault::Reset);
    let out = loadtest(
        &[
            &["--url", &server.url, "--users", "2", "--duration", "1s"][..],
            &["--timeout", "2s"],
            &GATES,
        ]
        .concat(),
    );
    let (run, stderr) = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let requests = run["requests"].as_u64().unwrap();
    assert!(requests > 10, "resets are fast, the users go on: {run}");
    assert_eq!(run["failures"].as_u64(), Some(requests), "{run}");
    // A GET that died unanswered may be sent once more, never more than that.
    let received = server.received();
    assert!(
        (requests..=2 * requests + 2).contains(&received),
        "server read {received} for {requests} recorded"
    );
    let errors = run["errors"].to_string();
    assert!(errors.contains("ConnectionError"), "{errors}");
    assert!(
        errors.to_lowercase().contains("reset"),
        "the cause is named: {errors}"
    );
}

#[test]
fn garbage_answers_are_malformed_heads() {
    let _guard = timing(50, 1);
    let server = Faulty::start(Fault::Garbage);
    let out = loadtest(
        &[
            &["--url", &server.url, "--users", "2", "--duration", "1s"][..],
            &["--timeout", "2s"],
            &GATES,
        ]
        .concat(),
    );
    let (run, stderr) = summary(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(run["requests"].as_u64().unwrap() > 10, "{run}");
    assert_eq!(run["failures"], run["requests"], "{run}");
    assert!(server.received() >= run["requests"].as_u64().unwrap());
    let errors = run["errors"].to_string();
    assert!(
        errors.contains("BodyError: malformed response head"),
        "{errors}"
    );
}
