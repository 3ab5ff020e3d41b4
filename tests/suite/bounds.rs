//! Count flags have bounds, and flags that would do nothing, or something other than
//! what a user of another tool expects, are refused (exit 2, the flag named) rather
//! than silently ignored (issue 12, items 7, 9 and 10).
use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

/// Run capplan; its stderr after checking it exited 2.
fn refused(args: &[&str]) -> String {
    let out = common::capplan()
        .args(args)
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    stderr
}

/// A URL nothing listens on: none of these runs may get as far as connecting.
fn nowhere() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}/")
}

#[test]
fn count_flags_are_bounded_and_named() {
    let _machine = crate::common::machine::shared();
    let url = nowhere();
    let cases: [(&[&str], &str); 8] = [
        (
            &["loadtest", "--url", &url, "--users", "2000000"],
            "--users: must be from 1 to 1000000",
        ),
        (
            &["loadtest", "--url", &url, "--idle-spin", "5ms"],
            "--idle-spin: must be at most 1ms",
        ),
        (
            &[
                "loadtest",
                "--url",
                &url,
                "--rate",
                "10",
                "--connections",
                "4294967295",
            ],
            "--connections: must be from 1 to 1000000",
        ),
        (
            &["loadtest", "--url", &url, "--threads", "100000"],
            "--threads: must be from 1 to 1024",
        ),
        (&["target", "--workers", "4000000000"], "--workers"),
        (&["target", "--backlog", "4000000000"], "--backlog"),
        (
            &[
                "loadtest",
                "--url",
                &url,
                "--find-capacity",
                "--workers-measured",
                "4000000000",
            ],
            "--workers-measured",
        ),
        (
            &["loadtest", "--url", &url, "--users", "0"],
            "--users: must be from 1",
        ),
    ];
    for (args, expected) in cases {
        let stderr = refused(args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn forecast_bounds_name_the_flag() {
    let _machine = crate::common::machine::shared();
    let history = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/history_hourly.csv");
    let history = history.to_str().unwrap();
    let stderr = refused(&["forecast", "--history", history, "--horizon", "400d"]);
    assert!(
        stderr.contains("--horizon: must be at most 365d"),
        "{stderr}"
    );
    // A pre-warm of 4,294,967,295 instances used to come out of this.
    let stderr = refused(&[
        "forecast",
        "--history",
        history,
        "--rps-per-instance",
        "1e-300",
    ]);
    assert!(
        stderr.contains("--rps-per-instance: 1e-300 rps per instance would need"),
        "{stderr}"
    );
    assert!(stderr.len() < 400, "no number printed in full: {stderr}");
}

#[test]
fn flags_that_would_be_ignored_are_refused() {
    let _machine = crate::common::machine::shared();
    let url = nowhere();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!("host = \"{url}\"\n[[task]]\npath = \"/\"\n"),
    )
    .unwrap();
    let scenario = scenario.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        // Locust's -H is the host; ours is curl's header.
        (
            &["loadtest", "--url", &url, "-H", "http://example.test"],
            "not Locust's --host",
        ),
        (
            &[
                "loadtest",
                "--url",
                &url,
                "--users",
                "5",
                "--connections",
                "5",
            ],
            "--connections: applies to the open model",
        ),
        (
            &[
                "loadtest",
                "--url",
                &url,
                "--users",
                "5",
                "--arrivals",
                "poisson",
            ],
            "--arrivals: applies to the open model",
        ),
        (
            &["loadtest", "--scenario", scenario, "--method", "POST"],
            "--method: applies to --url only",
        ),
        (
            &["loadtest", "--url", &url, "--profile-out", "p.json"],
            "--find-capacity",
        ),
    ];
    for (args, expected) in cases {
        let stderr = refused(args);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Serve `Connection: close` answers for `limit`, keeping every request head received.
fn recording_server(limit: Duration) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let mut heads = Vec::new();
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut reader = BufReader::new(&stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let _ = (&stream)
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            heads.push(head);
        }
        heads
    });
    (url, server)
}

#[test]
fn header_flags_reach_every_request_of_a_scenario() {
    let _machine = crate::common::machine::shared();
    let (url, server) = recording_server(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "host = \"{url}\"\n[headers]\nX-Env = \"from-scenario\"\nX-Kept = \"yes\"\n\
             [[task]]\npath = \"/a\"\n"
        ),
    )
    .unwrap();
    let out = common::capplan()
        .args(["loadtest", "--scenario"])
        .arg(&scenario)
        .args(["--users", "1", "--duration", "1s", "--quiet"])
        .args(["-H", "x-env: from-cli", "-H", "X-Extra: 1"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The probe before the run connects and sends nothing.
    let heads: Vec<String> = server
        .join()
        .unwrap()
        .into_iter()
        .filter(|h| !h.is_empty())
        .collect();
    assert!(!heads.is_empty());
    for head in &heads {
        let lower = head.to_ascii_lowercase();
        // The flag replaced the scenario's header of that name (any case), once.
        assert_eq!(lower.matches("x-env:").count(), 1, "{head}");
        assert!(lower.contains("x-env: from-cli"), "{head}");
        assert!(lower.contains("x-kept: yes"), "{head}");
        assert!(lower.contains("x-extra: 1"), "{head}");
    }
}

#[test]
fn messages_quote_offending_values_safely() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    // A row with a field more than the header is refused, not read by position.
    let extra = write(
        "extra.csv",
        "timestamp,requests\n2024-04-15 00:00:00,5\n2024-04-15 01:00:00,6,7\n",
    );
    let stderr = refused(&["forecast", "--history", &extra]);
    assert!(
        stderr.contains("extra.csv:3: row: has 3 fields, the header has 2"),
        "{stderr}"
    );
    // A 5 MB value is named, not echoed whole.
    let huge = write(
        "huge.csv",
        &format!(
            "timestamp,requests\n2024-04-15 00:00:00,{}\n",
            "9".repeat(5_000_000)
        ),
    );
    let stderr = refused(&["forecast", "--history", &huge]);
    assert!(stderr.contains("huge.csv:2: requests:"), "{stderr:.300}");
    assert!(stderr.len() < 1000, "{} bytes of error", stderr.len());
    // A NUL in a scenario reaches the terminal escaped, with the file and line.
    let nul = write(
        "nul.toml",
        "host = \"http://127.0.0.1:9\"\n[[task]]\npath = \"/a\0b\"\n",
    );
    let stderr = refused(&["loadtest", "--scenario", &nul]);
    assert!(stderr.contains("nul.toml:3:"), "{stderr}");
    assert!(
        !stderr.contains('\0') && stderr.contains("\\u{0}"),
        "{stderr:?}"
    );
}
