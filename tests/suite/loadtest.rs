//! `capplan loadtest` through the real binary, against `capplan target` on a free port.
//! Tests whose figures depend on timing (rates, latency, CPU, spawn times, signals
//! sent after a sleep) take `timing` or `alone`; the others `shared`
//! (tests/suite/common/machine.rs).
use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use common::machine::{alone, shared, timing};
use common::Target;
use serde_json::Value;

fn loadtest(args: &[&str]) -> Output {
    Command::cargo_bin("capplan")
        .unwrap()
        .arg("loadtest")
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run a scenario (TOML text) that must succeed; returns the JSON summary.
fn run_scenario(toml: &str, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, toml).unwrap();
    run_json(&[&["--scenario", scenario.to_str().unwrap(), "--quiet"], args].concat()).0
}

/// Run a load test that must succeed, with `--json` into a temporary file; returns the
/// JSON summary and stdout.
fn run_json(args: &[&str]) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = loadtest(&[args, &["--json", json.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    (read_json(&json), text(&out.stdout))
}

#[test]
fn closed_model_saturates_workers_over_service_time() {
    let _guard = timing(35, 6);
    let target = Target::start(&["--workers", "8", "--service-time", "20ms"]);
    let (run, _) = run_json(&[
        "--url",
        &target.url_for("/"),
        "--users",
        "50",
        "--duration",
        "5s",
        "--warmup",
        "1s",
        "--quiet",
    ]);
    let rps = run["rps"].as_f64().unwrap();
    assert!(
        (360.0..=440.0).contains(&rps),
        "rps {rps}, expected 400 ±10%"
    );
    assert_eq!(run["failures"], 0);
    // 50 users on 8 workers: each request waits for ~6 others ahead of it.
    let p50 = run["latency_ms"]["p50"].as_f64().unwrap();
    assert!(
        p50 > 100.0,
        "p50 {p50} should include queueing behind 8 workers"
    );
}

#[test]
fn unloaded_latency_is_the_service_time() {
    let _guard = timing(10, 2);
    let target = Target::start(&["--workers", "8", "--service-time", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = loadtest(&[
        "--url",
        &target.url_for("/"),
        "--users",
        "1",
        "--duration",
        "2s",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p50 = read_json(&json)["latency_ms"]["p50"].as_f64().unwrap();
    assert!(
        (20.0..=23.0).contains(&p50),
        "p50 {p50}ms, expected 20-23ms"
    );
}

#[test]
fn open_model_above_capacity_charges_queueing_to_latency() {
    let _guard = timing(30, 5);
    // Capacity 2 / 20ms = 100 rps; we ask for 200 rps over 20 connections.
    let target = Target::start(&["--workers", "2", "--service-time", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = loadtest(&[
        "--url",
        &target.url_for("/"),
        "--rate",
        "200",
        "--connections",
        "20",
        "--duration",
        "4s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("the rate was not kept"), "{stdout}");
    let run = read_json(&json);
    let latency_p99 = run["latency_ms"]["p99"].as_f64().unwrap();
    let service_p99 = run["service_time_ms"]["p99"].as_f64().unwrap();
    // Service time is bounded by 20 connections on 2 workers (~200ms); the backlog of
    // intended sends grows by ~100 a second, so late intents wait well over a second.
    assert!(service_p99 < 400.0, "service p99 {service_p99}");
    assert!(
        latency_p99 > service_p99 + 800.0,
        "latency p99 {latency_p99} must include the generator-side wait (service p99 {service_p99})"
    );
    let achieved = run["rate_achieved"].as_f64().unwrap();
    assert!(achieved < 0.8, "rate_achieved {achieved}");
    let rps = run["rps"].as_f64().unwrap();
    assert!(
        (85.0..=115.0).contains(&rps),
        "served {rps} rps, capacity is 100"
    );
    // Latency grows second after second as the backlog builds.
    let history = run["history"].as_array().unwrap();
    let first = history[0]["p50_ms"].as_f64().unwrap();
    let last = history[history.len() - 2]["p50_ms"].as_f64().unwrap();
    assert!(last > first + 500.0, "p50 first {first}ms, later {last}ms");
}

#[test]
fn open_model_sends_leave_within_half_a_millisecond_of_their_time() {
    let _guard = alone();
    let target = Target::start(&["--workers", "8", "--service-time", "2ms"]);
    // Latency counts from the intended send time, service time from the actual one: the
    // gap between their medians is how late the generator sends. tokio's millisecond
    // timer made it about 1 ms; the pacer's grain bounds it by 0.5 ms (median 0.25 ms
    // plus the wake-up). A busy machine can wake the generator late: measured twice.
    let mut gaps = Vec::new();
    for _attempt in 0..2 {
        let (run, _) = run_json(&[
            "--url",
            &target.url_for("/"),
            "--rate",
            "300",
            "--arrivals",
            "poisson",
            "--duration",
            "2s",
            "--quiet",
        ]);
        let latency = run["latency_ms"]["p50"].as_f64().unwrap();
        let service = run["service_time_ms"]["p50"].as_f64().unwrap();
        assert!(
            service >= 2.0,
            "service p50 {service}ms under the 2ms served"
        );
        gaps.push(latency - service);
        if latency - service < 0.6 {
            return;
        }
    }
    panic!("p50 latency minus p50 service time (ms), per run: {gaps:?}");
}

#[test]
fn open_model_at_low_rate_keeps_the_rate() {
    let _guard = timing(30, 4);
    let target = Target::start(&["--workers", "8", "--service-time", "5ms"]);
    // A busy shared machine can deschedule the generator for tens of ms, which
    // makes sends late; such a run is measured once more before the test fails.
    let mut verdict = Ok(());
    for _attempt in 0..2 {
        let (run, _) = run_json(&[
            "--url",
            &target.url_for("/"),
            "--rate",
            "100",
            "--arrivals",
            "poisson",
            "--duration",
            "3s",
            "--quiet",
        ]);
        let rps = run["rps"].as_f64().unwrap();
        let warnings = run["warnings"].to_string();
        // Connections were never short: a late send may only be blamed on the machine.
        let machine_busy = warnings.contains("woke late though connections were free");
        verdict = if warnings.contains("connections were busy") {
            Err(format!(
                "lateness blamed on the connections at 5% utilisation: {run}"
            ))
        } else if run["rate"]["unsent"].as_u64() != Some(0) {
            Err(format!("sends never sent: {run}"))
        } else if !(80.0..=120.0).contains(&rps) {
            Err(format!("rps {rps}"))
        } else if machine_busy && run["rate_achieved"].as_f64().unwrap() > 0.9 {
            eprintln!("the machine is busy: {warnings}");
            Ok(())
        } else if run["rate_achieved"].as_f64().unwrap() <= 0.99 {
            Err(format!("rate not kept: {run}"))
        } else if warnings != "[]" {
            Err(format!("warnings: {warnings}"))
        } else {
            Ok(())
        };
        if verdict.is_ok() {
            break;
        }
        eprintln!("measuring once more: {}", verdict.as_ref().unwrap_err());
    }
    verdict.unwrap();
}

#[test]
fn thresholds_pass_and_fail_with_the_right_exit_code() {
    let _guard = shared();
    let target = Target::start(&["--workers", "4", "--service-time", "10ms"]);
    let url = target.url_for("/");
    let common = ["--url", &url, "--users", "4", "--duration", "2s", "--quiet"];
    let pass = loadtest(
        &[
            &common[..],
            &[
                "--threshold",
                "p95<500ms",
                "--threshold",
                "error_rate<1%",
                "--threshold",
                "rps>50",
            ],
        ]
        .concat(),
    );
    assert_eq!(pass.status.code(), Some(0), "{}", text(&pass.stderr));

    let fail = loadtest(
        &[
            &common[..],
            &["--threshold", "p99<1ms", "--threshold", "rps>100000"],
        ]
        .concat(),
    );
    assert_eq!(fail.status.code(), Some(1));
    let stderr = text(&fail.stderr);
    assert!(stderr.contains("threshold failed: p99<1ms"), "{stderr}");
    assert!(stderr.contains("threshold failed: rps>100000"), "{stderr}");
}

#[test]
fn error_responses_are_failures_grouped_by_kind() {
    let _guard = shared();
    let target = Target::start(&[
        "--workers",
        "4",
        "--service-time",
        "2ms",
        "--error-rate",
        "0.2",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("run");
    let json = dir.path().join("run.json");
    let out = loadtest(&[
        "--url",
        &target.url_for("/"),
        "--users",
        "4",
        "--duration",
        "2s",
        "--quiet",
        "--csv",
        prefix.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--threshold",
        "error_rate<5%",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let run = read_json(&json);
    let rate = run["error_rate"].as_f64().unwrap();
    assert!((0.15..=0.25).contains(&rate), "error rate {rate}");
    let failures = std::fs::read_to_string(dir.path().join("run_failures.csv")).unwrap();
    assert!(
        failures.contains("GET,/,HTTPError: 500 Internal Server Error,"),
        "{failures}"
    );
}

#[test]
fn every_user_keeps_its_own_cookies_from_on_start() {
    let _guard = shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let host = format!("host = \"{}\"\n", target.url);
    let login = "[[on_start]]\nmethod = \"POST\"\npath = \"/login\"\njson = { user = \"a\" }\n";
    let whoami = "[[task]]\nname = \"me\"\npath = \"/whoami\"\n";
    let run = run_scenario(
        &format!("{host}{login}{whoami}"),
        &["--users", "3", "--duration", "2s"],
    );
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
    let tasks = run["tasks"].as_array().unwrap();
    let login_stats = tasks.iter().find(|t| t["name"] == "/login").unwrap();
    assert_eq!(login_stats["requests"], 3, "one login per user");
    let me = tasks.iter().find(|t| t["name"] == "me").unwrap();
    assert!(me["requests"].as_u64().unwrap() > 100);

    // Without the login, /whoami answers 401: the cookie really came from on_start.
    let run = run_scenario(
        &format!("{host}{whoami}"),
        &["--users", "1", "--duration", "1s"],
    );
    assert_eq!(run["failures"], run["requests"]);
}

#[test]
fn weighted_tasks_share_the_load_by_weight() {
    let _guard = shared();
    let target = Target::start(&["--workers", "8", "--service-time", "1ms"]);
    let toml = format!(
        "host = \"{}\"\n[[task]]\npath = \"/\"\nweight = 3\n[[task]]\npath = \"/api/items\"\nweight = 1\n",
        target.url
    );
    let run = run_scenario(&toml, &["--users", "4", "--duration", "2s"]);
    let count = |name: &str| {
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["requests"]
            .as_f64()
            .unwrap()
    };
    let ratio = count("/") / count("/api/items");
    assert!((2.5..=3.6).contains(&ratio), "ratio {ratio}, expected 3");
}

#[test]
fn http2_works_against_the_target() {
    let _guard = shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let (run, stdout) = run_json(&[
        "--url",
        &target.url_for("/api/items"),
        "--http2",
        "--streams",
        "2",
        "--users",
        "4",
        "--duration",
        "1s",
    ]);
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
    assert!(run["requests"].as_u64().unwrap() > 50);
    // Four users, two streams to a connection: two connections (one per generator
    // thread's pair), said in the JSON and on the table's protocol line.
    let protocol = &run["protocol"];
    assert_eq!(protocol["http"], "HTTP/2", "{protocol}");
    assert_eq!(protocol["alpn"], Value::Null, "h2c has no ALPN: {protocol}");
    let opened = protocol["connections_opened"].as_u64().unwrap();
    assert!((1..=2).contains(&opened), "{protocol}");
    assert!(
        stdout.contains(&format!("HTTP/2, {opened} connections, connect p50")),
        "{stdout}"
    );
}

#[test]
fn hdr_log_has_one_interval_per_second() {
    let _guard = shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let hlog = dir.path().join("run.hlog");
    let out = loadtest(&[
        "--url",
        &target.url_for("/"),
        "--users",
        "2",
        "--duration",
        "3s",
        "--quiet",
        "--hdr-log",
        hlog.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(&hlog).unwrap();
    assert!(log.contains("#[StartTime: "), "{log}");
    let intervals: Vec<_> = log.lines().filter(|l| l.contains("HISTF")).collect();
    assert_eq!(intervals.len(), 3, "{log}");
    assert!(intervals[0].starts_with("0.000,1.000,"), "{}", intervals[0]);
}

#[test]
fn ctrl_c_sigterm_and_sighup_still_write_every_report() {
    let _guard = timing(45, 5);
    let target = Target::start(&["--workers", "4", "--service-time", "2ms"]);
    for (signal, name) in [
        (libc::SIGINT, "Ctrl-C"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("run.json");
        let prefix = dir.path().join("run");
        let hlog = dir.path().join("run.hlog");
        let mut child = std::process::Command::new(common::capplan_bin())
            .args([
                "loadtest",
                "--url",
                &target.url_for("/"),
                "--users",
                "2",
                "--duration",
                "60s",
                "--quiet",
            ])
            .arg("--json")
            .arg(&json)
            .arg("--csv")
            .arg(&prefix)
            .arg("--hdr-log")
            .arg(&hlog)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        common::send_signal(&child, signal);
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(130),
            "{name}: exit 130 after the reports"
        );
        let run = read_json(&json);
        assert_eq!(run["interrupted"], true, "{name}");
        assert!(
            run["warnings"].to_string().contains(name),
            "{name}: {}",
            run["warnings"]
        );
        let duration = run["duration_s"].as_f64().unwrap();
        assert!(
            (1.0..4.0).contains(&duration),
            "{name}: duration {duration}"
        );
        assert!(run["requests"].as_u64().unwrap() > 50, "{name}");
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "run.hlog",
                "run.json",
                "run_exceptions.csv",
                "run_failures.csv",
                "run_stats.csv",
                "run_stats_history.csv"
            ],
            "{name}: every report and no temporary file"
        );
    }
}

#[test]
fn a_second_ctrl_c_stops_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let _guard = timing(45, 3);
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    // A FIFO nobody reads: after the first Ctrl-C the run blocks writing its JSON
    // there, as a report on a hung network share would.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("run.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = std::process::Command::new(common::capplan_bin())
        .args(["loadtest", "--url", &target.url_for("/"), "--users", "2"])
        .args(["--duration", "60s", "--quiet", "--json"])
        .arg(&fifo)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let interrupt = |child: &std::process::Child| {
        common::send_signal(child, libc::SIGINT);
    };
    std::thread::sleep(Duration::from_millis(1500));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run should still be writing its report into the FIFO"
    );
    // The second one ends the process as the default action does, at once.
    interrupt(&child);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("a second Ctrl-C did not stop the run within 2 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
}

/// A `capplan target` started under `ulimit` (`-n 64` sets both limits, `-Sn 64`
/// only the soft one), killed when dropped; its URL.
struct LimitedTarget(std::process::Child, String);

impl LimitedTarget {
    fn start(ulimit: &str) -> LimitedTarget {
        use std::io::BufRead;
        let bin = common::capplan_bin();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit {ulimit} && exec '{}' target --port 0 --workers 8 --service-time 1ms",
                bin.display()
            ))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        LimitedTarget(child, url)
    }
}

impl Drop for LimitedTarget {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn users_the_target_never_answers_are_reported() {
    let _guard = alone();
    let warnings = |target: &LimitedTarget| {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("run.json");
        let url = format!("{}/", target.1);
        let out = loadtest(&[
            "--url",
            &url,
            "--users",
            "150",
            "--duration",
            "2s",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        read_json(&json)["warnings"].to_string()
    };
    // A target that may hold only 64 files serves about 55 connections; the other
    // users wait in its listen queue for the whole run.
    let starved = warnings(&LimitedTarget::start("-n 64"));
    assert!(
        starved.contains("of the 150 users started got no answer to their first request"),
        "{starved}"
    );
    // With only the soft limit low, the target raises it to the hard one itself
    // and answers everyone.
    let served = warnings(&LimitedTarget::start("-Sn 64"));
    assert!(!served.contains("got no answer"), "{served}");
}

#[test]
fn refused_connection_is_exit_3_with_a_clear_message() {
    let _guard = shared();
    // Bind and drop a listener to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = loadtest(&[
        "--url",
        &format!("http://127.0.0.1:{port}/"),
        "--users",
        "1",
        "--duration",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn bad_flag_values_are_exit_2_naming_the_flag() {
    let _guard = shared();
    let url = ["--url", "http://127.0.0.1:1/"];
    let search = ["--url", "http://127.0.0.1:1/", "--find-capacity"];
    let cases: [(&[&str], &[&str], &str); 11] = [
        // Gates that can never fail or never pass.
        (&url, &["--threshold", "error_rate<150%"], "at most 100%"),
        (
            &url,
            &["--threshold", "error_rate<-1%"],
            "must not be negative",
        ),
        (&url, &["--threshold", "rps>1e400"], "finite number"),
        (
            &search,
            &["--slo", "p95>1ms"],
            "for '--slo <SLO>': 'p95>1ms': must be an upper bound on latency",
        ),
        (
            &url,
            &["--header", "Bad Name: x"],
            "--header: 'Bad Name' is not a valid header name",
        ),
        (&url, &["--rate", "1e300"], "--rate: must be at most"),
        (
            &url,
            &["--duration", "400d"],
            "--duration: must be at most 365d",
        ),
        (
            &search,
            &["--start-rate", "0"],
            "--start-rate: must be a positive number",
        ),
        (
            &search,
            &["--start-rate", "NaN"],
            "--start-rate: must be a positive number",
        ),
        (
            &search,
            &["--max-rate=-1"],
            "--max-rate: must be a positive number",
        ),
        (
            &search,
            &["--step-duration", "400d"],
            "--step-duration: must be whole seconds",
        ),
    ];
    for (base, extra, why) in cases {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = loadtest(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{stderr}");
        assert!(stderr.contains(why), "{args:?}\n{stderr}");
    }
}

#[test]
fn malformed_scenarios_are_exit_2_with_file_line_and_field() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "host = \"http://x\"\n[[task]]\npath = \"/\"\nwieght = 3\n",
            ":4:",
            "wieght",
        ),
        (
            "host = \"http://x\"\n[[task]]\npath = \"/\"\nweight = -1\n",
            ":4:",
            "task[0].weight",
        ),
        (
            "host = \"http://x\"\n[[task]]\nmethod = \"FETCH\"\npath = \"/\"\n",
            ":3:",
            "task[0].method",
        ),
        (
            "host = \"http://x\"\n[wait_time]\nbetween = [\"3s\"]\n[[task]]\npath = \"/\"\n",
            ":3:",
            "wait_time.between",
        ),
        (
            "host = \"localhost\"\n[[task]]\npath = \"/\"\n",
            ":1:",
            "host",
        ),
        (
            "host = \"http://x\"\n[[task]]\npath = \"/\"\nbody = \"a\"\njson = { a = 1 }\n",
            ":5:",
            "task[0]",
        ),
        ("host = \"http://x\"\n[[task]\npath = \"/\"\n", ":2:", ""),
    ];
    for (content, line, field) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, content).unwrap();
        let out = loadtest(&[
            "--scenario",
            path.to_str().unwrap(),
            "--users",
            "1",
            "--duration",
            "1s",
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{content}\n{stderr}");
        assert!(
            stderr.contains(&format!("bad.toml{line}")),
            "{content}\n{stderr}"
        );
        assert!(stderr.contains(field), "{content}\n{stderr}");
    }
    let out = loadtest(&["--scenario", "/nonexistent/s.toml", "--users", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let out = loadtest(&["--url", "http://127.0.0.1:1/", "--threshold", "p95<fast"]);
    assert_eq!(out.status.code(), Some(2));
    let out = loadtest(&["--url", "http://127.0.0.1:1/", "--duration", "10"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn generator_cpu_is_measured_every_second() {
    let _guard = alone();
    let target = Target::start(&["--workers", "4"]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = loadtest(&[
        "--url",
        &target.url_for("/health"),
        "--users",
        "32",
        "--threads",
        "1",
        "--duration",
        "3s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = read_json(&json);
    let per_second: Vec<f64> = run["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["generator_cpu_percent"].as_f64().unwrap())
        .collect();
    assert_eq!(per_second.len(), 3);
    // A generator running flat out against an instant route uses a good part of its thread.
    assert!(per_second.iter().all(|p| *p > 10.0), "{per_second:?}");
    let max = run["generator"]["max_cpu_percent"].as_f64().unwrap();
    assert!((max - per_second.iter().cloned().fold(0.0, f64::max)).abs() < 1e-9);
    let saturated = per_second.iter().filter(|p| **p >= 90.0).count() as u64;
    assert_eq!(
        run["generator"]["saturated_seconds"].as_u64().unwrap(),
        saturated
    );
    let warned = text(&out.stdout).contains("warning: the generator's CPU was saturated");
    assert_eq!(warned, saturated > 0);
}

/// A helper server from tests/support (Python), killed when dropped.
struct PythonServer {
    child: std::process::Child,
    port: u16,
}

impl PythonServer {
    /// Start `tests/support/SCRIPT` and wait for its "listening on PORT" line.
    fn start(script: &str, args: &[&Path]) -> PythonServer {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/support")
            .join(script);
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed for these tests");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .parse()
            .unwrap();
        PythonServer { child, port }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS server (Python's http.server with a fresh self-signed certificate).
struct TlsServer {
    server: PythonServer,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let made = common::servers::self_signed(dir.path(), "localhost");
        let (cert, key) = (made.cert, made.key);
        TlsServer {
            server: PythonServer::start("tls_server.py", &[&cert, &key]),
            _dir: dir,
        }
    }
}

#[test]
fn tls_is_verified_unless_insecure() {
    let _guard = shared();
    let server = TlsServer::start();
    let url = format!("https://127.0.0.1:{}/", server.server.port);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let args = [
        "--url",
        &url,
        "--users",
        "1",
        "--duration",
        "1s",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
    ];

    // A self-signed certificate fails verification before the run starts, as curl's
    // does: exit 3, naming the certificate problem and the fix.
    let out = loadtest(&args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("CertificateError"), "{stderr}");
    assert!(stderr.contains("--cacert"), "{stderr}");
    assert!(!json.exists(), "no report of a run that did not start");

    let out = loadtest(&[&args[..], &["--insecure"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = read_json(&json);
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
    assert!(run["requests"].as_u64().unwrap() > 10);
}

/// One task per path of tests/support/http1_server.py, each weight 1.
fn wire_scenario(port: u16, tasks: &[(&str, &str)]) -> String {
    let mut toml = format!("host = \"http://127.0.0.1:{port}\"\n");
    for (method, path) in tasks {
        toml.push_str(&format!(
            "[[task]]\nname = \"{method} {path}\"\nmethod = \"{method}\"\npath = \"{path}\"\n"
        ));
        if *path == "/echo" {
            toml.push_str("json = { echo = \"twenty bytes\" }\n");
        }
    }
    toml
}

/// (connections accepted, requests received) by tests/support/http1_server.py so far.
fn server_counts(port: u16) -> (u64, u64) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let body: Value = serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    // The /stats connection itself is counted.
    (
        body["connections"].as_u64().unwrap() - 1,
        body["requests"].as_u64().unwrap(),
    )
}

fn task<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name} in {}", run["tasks"]))
}

/// A target a URL library would rewrite (dot segments, empty segment).
const VERBATIM_PATH: &str = "/path/a/../b//c?q=%2F";

#[test]
fn every_http1_response_framing_is_read_whole() {
    let _guard = shared();
    let server = PythonServer::start("http1_server.py", &[]);
    let tasks = [
        ("GET", "/length"),
        ("GET", "/chunked"),
        ("GET", "/close"),
        ("GET", "/early"),
        ("GET", "/nocontent"),
        ("HEAD", "/head"),
        ("POST", "/echo"),
        ("GET", VERBATIM_PATH),
    ];
    // A short timeout turns a framing bug that waits for bytes never sent into failures.
    let run = run_scenario(
        &wire_scenario(server.port, &tasks),
        &["--users", "4", "--duration", "2s", "--timeout", "300ms"],
    );
    // Every response was framed right: a misread one fails, hangs to the timeout or
    // desynchronises the next one.
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
    // Nothing was sent twice (at most each user's request in flight at the end went
    // unrecorded), and connections were kept alive: only /close ends its own.
    let recorded = run["requests"].as_u64().unwrap();
    let (connections, received) = server_counts(server.port);
    assert!(
        (recorded..=recorded + 4).contains(&received),
        "server received {received}, capplan recorded {recorded}"
    );
    assert!(
        connections * 2 < received,
        "{connections} connections for {received} requests"
    );
    // The mean body size shows each body was read exactly: decoded for chunked, none for
    // HEAD, 204 and the 103 interim response.
    for (name, size) in [
        ("GET /length", 5000.0),
        ("GET /chunked", 23.0),
        ("GET /close", 1000.0),
        ("GET /early", 2.0),
        ("GET /nocontent", 0.0),
        ("HEAD /head", 0.0),
        ("POST /echo", 23.0),
        // The server echoes the target: sent as written, not normalised.
        (&format!("GET {VERBATIM_PATH}"), VERBATIM_PATH.len() as f64),
    ] {
        let stats = task(&run, name);
        assert!(stats["requests"].as_u64().unwrap() > 20, "{name}: {stats}");
        assert_eq!(stats["avg_content_bytes"], size, "{name}: {stats}");
    }
}

#[test]
fn broken_http1_responses_are_body_errors() {
    let _guard = shared();
    let server = PythonServer::start("http1_server.py", &[]);
    let run = run_scenario(
        &wire_scenario(server.port, &[("GET", "/truncated"), ("GET", "/garbage")]),
        &["--users", "2", "--duration", "1s", "--timeout", "300ms"],
    );
    assert_eq!(run["failures"], run["requests"], "{run}");
    let errors = run["errors"].as_array().unwrap();
    let error_of = |name: &str| {
        errors
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no error for {name}: {errors:?}"))["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        error_of("GET /truncated"),
        "BodyError: connection closed before the body was complete"
    );
    assert!(
        error_of("GET /garbage").starts_with("BodyError: malformed response head"),
        "{errors:?}"
    );
}

#[test]
fn only_idempotent_requests_are_retried_when_a_connection_dies_unanswered() {
    let _guard = shared();
    let args = ["--users", "2", "--duration", "1s", "--timeout", "300ms"];

    // Every second POST on a connection reaches the server, which closes without an
    // answer: each is a failure, never silently sent again.
    let server = PythonServer::start("http1_server.py", &[]);
    let run = run_scenario(
        &wire_scenario(server.port, &[("POST", "/drop-second")]),
        &args,
    );
    let (requests, failures) = (
        run["requests"].as_u64().unwrap(),
        run["failures"].as_u64().unwrap(),
    );
    assert!(requests > 50, "{run}");
    assert!(
        failures * 2 >= requests - 2 && failures * 2 <= requests + 2,
        "{failures} failures in {requests}: every second one should fail"
    );
    assert_eq!(
        run["errors"][0]["error"],
        "ConnectionError: connection closed before the response"
    );
    let (_, received) = server_counts(server.port);
    assert!(
        (requests..=requests + 2).contains(&received),
        "server received {received}"
    );

    // The same for GET: sent once more on a new connection, where it succeeds; the
    // server sees nearly two requests for each one recorded.
    let server = PythonServer::start("http1_server.py", &[]);
    let run = run_scenario(
        &wire_scenario(server.port, &[("GET", "/drop-second")]),
        &args,
    );
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
    let requests = run["requests"].as_u64().unwrap();
    let (_, received) = server_counts(server.port);
    assert!(
        received * 10 >= requests * 18,
        "server received {received} for {requests} recorded"
    );

    // A server that closes right after answering, without saying so, races the next
    // request; a GET survives it.
    let run = run_scenario(
        &wire_scenario(server.port, &[("GET", "/idle-close")]),
        &args,
    );
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
}

#[test]
fn connections_closed_by_the_servers_keep_alive_timeout_are_replaced_before_sending() {
    let _guard = timing(20, 2);
    let server = PythonServer::start("http1_server.py", &[]);
    // Users wait 80 ms between tasks; the server closes connections idle for 30 ms.
    let toml = format!(
        "{}[wait_time]\nconstant = \"80ms\"\n",
        wire_scenario(
            server.port,
            &[("POST", "/idle-timeout"), ("GET", "/idle-timeout")]
        )
    );
    let run = run_scenario(&toml, &["--users", "2", "--duration", "1500ms"]);
    // Even the POSTs never failed: the closed connection was seen and replaced before
    // the request went out, so nothing needed a retry.
    assert_eq!(run["failures"], 0, "{}", run["errors"]);
    let recorded = run["requests"].as_u64().unwrap();
    assert!(recorded > 20, "{run}");
    let (connections, received) = server_counts(server.port);
    assert!(
        (recorded..=recorded + 2).contains(&received),
        "server received {received}, capplan recorded {recorded}"
    );
    assert!(
        connections + 2 >= received,
        "{connections} connections, {received} requests"
    );
}

#[test]
fn users_start_at_the_spawn_rate() {
    let _guard = timing(45, 5);
    let target = Target::start(&["--workers", "8", "--service-time", "5ms"]);
    let (run, _) = run_json(&[
        "--url",
        &target.url_for("/"),
        "--users",
        "6",
        "--spawn-rate",
        "2",
        "--duration",
        "4s",
        "--quiet",
    ]);
    let users: Vec<u64> = run["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["users"].as_u64().unwrap())
        .collect();
    // User u starts at u / 2 s: 2 users by the end of second 1, 4 by 2, all 6 by 3
    // (one more when a start falls on the boundary of a second).
    assert_eq!(users.len(), 4, "{users:?}");
    assert!((2..=3).contains(&users[0]), "{users:?}");
    assert!((4..=5).contains(&users[1]), "{users:?}");
    assert_eq!(&users[2..], &[6, 6], "{users:?}");
}

/// Run `capplan loadtest ARGS` under a pseudo-terminal (util-linux `script`); returns
/// everything it drew there.
fn on_a_terminal(args: &str) -> String {
    let command = format!("{} loadtest {args}", common::capplan_bin().display());
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .expect("util-linux `script` runs a command under a pseudo-terminal");
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn progress_bar_only_on_a_terminal_and_never_with_quiet() {
    let _guard = shared();
    let target = Target::start(&["--workers", "4", "--service-time", "5ms"]);
    let url = target.url_for("/");
    let live = on_a_terminal(&format!("--url {url} --users 2 --duration 3s"));
    assert!(live.contains("rps  p95 "), "{live}");
    assert!(live.contains("errors 0  users 2"), "{live}");
    let quiet = on_a_terminal(&format!("--url {url} --users 2 --duration 2s --quiet"));
    assert!(!quiet.contains("rps  p95 "), "{quiet}");
    // Not a terminal (a pipe): the summary table, no progress bar.
    let (_, stdout) = run_json(&["--url", &url, "--users", "2", "--duration", "2s"]);
    assert!(
        stdout.contains("Total") && !stdout.contains("rps  p95 "),
        "{stdout}"
    );
}

#[test]
fn bad_connection_flags_exit_2_naming_the_flag_and_the_file() {
    let _guard = shared();
    let dir = tempfile::tempdir().unwrap();
    let own = common::servers::self_signed(dir.path(), "localhost");
    let (cert, key) = (own.cert.to_string_lossy(), own.key.to_string_lossy());
    let other = common::servers::self_signed(dir.path(), "other");
    let other_key = other.key.to_string_lossy();
    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let not_pem = not_pem.to_string_lossy().into_owned();
    let missing = dir
        .path()
        .join("missing.pem")
        .to_string_lossy()
        .into_owned();
    // Nothing listens on port 1: each of these must fail on its flags before connecting.
    let url = "https://127.0.0.1:1/";
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--cacert", &missing], vec!["--cacert", &missing]),
        (
            vec!["--cacert", &not_pem],
            vec!["--cacert", &not_pem, "no PEM certificate"],
        ),
        (
            vec!["--cert", &cert, "--key", &other_key],
            vec!["--key", &other_key, "does not go with", &cert],
        ),
        (
            vec!["--cert", &cert, "--key", &not_pem],
            vec!["--key", &not_pem],
        ),
        (vec!["--cert", &cert], vec!["--key"]),
        (
            vec!["--resolve", "example.com:443"],
            vec!["--resolve", "HOST:PORT:ADDR"],
        ),
        (
            vec!["--resolve", "example.com:1:127.0.0.1"],
            vec!["--resolve", "127.0.0.1:1"],
        ),
        (vec!["--streams", "4"], vec!["--http2"]),
        (vec!["--http2", "--streams", "0"], vec!["--streams"]),
        (vec!["--connect-timeout", "0s"], vec!["--connect-timeout"]),
    ];
    for (flags, expected) in cases {
        let out = loadtest(&[&["--url", url, "--duration", "1s", "--quiet"], &flags[..]].concat());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {stderr}");
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "{flags:?}: '{needle}' not in: {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A good key pair passes the flag checks and reaches the connect: exit 3, refused.
    let out = loadtest(&[
        "--url",
        url,
        "--duration",
        "1s",
        "--quiet",
        "--cert",
        &cert,
        "--key",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[cfg(unix)]
#[test]
fn the_open_file_limit_is_raised_or_the_run_refused_before_it_starts() {
    let _guard = shared();
    let target = Target::start(&["--workers", "4", "--service-time", "1ms"]);
    let bin = common::capplan_bin();
    let url = target.url_for("/");
    let run = |limits: &str, users: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{limits} && exec \"$0\" loadtest --url {url} --users {users} --duration 1s --quiet --json -"
            ))
            .arg(&bin)
            .output()
            .unwrap()
    };
    // A hard limit too low: exit 2 at once, naming the flag and `ulimit -n`.
    let out = run("ulimit -n 256", "1000");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--users") && stderr.contains("ulimit -n"),
        "{stderr}"
    );
    // A soft limit below what the run needs but a hard one above: raised, and
    // every user runs without a single EMFILE failure.
    let out = run("ulimit -Sn 256 && ulimit -Hn 4096", "400");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["failures"], 0, "{}", json["errors"]);
    assert!(json["requests"].as_u64().unwrap() >= 400, "{json}");
}

#[test]
fn a_signal_stops_find_capacity_without_writing_a_profile() {
    let _guard = timing(35, 4);
    let target = Target::start(&["--workers", "4", "--service-time", "5ms"]);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile.json");
    let json = dir.path().join("search.json");
    let child = std::process::Command::new(common::capplan_bin())
        .args(["loadtest", "--url", &target.url_for("/"), "--find-capacity"])
        .args(["--step-duration", "10s", "--workers-measured", "4"])
        .arg("--profile-out")
        .arg(&profile)
        .arg("--json")
        .arg(&json)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Into the low-load measurement or the first step, well before the search ends.
    std::thread::sleep(Duration::from_millis(3500));
    let signalled = std::time::Instant::now();
    common::send_signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        signalled.elapsed() < Duration::from_secs(3),
        "stopped {:?} after the signal",
        signalled.elapsed()
    );
    assert!(stderr.contains("no profile is written"), "{stderr}");
    assert!(
        !profile.exists() && !json.exists(),
        "an unfinished search wrote a profile"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
