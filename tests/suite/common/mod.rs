//! Test harness shared by the integration tests: runs the real `capplan target`
//! on a free port and stops it when dropped.
#![allow(dead_code)] // each test file uses a part of it

pub mod browser;
pub mod faulty;
pub mod machine;
pub mod servers;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a target may take to print its `listening on` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `capplan target --port 0 ...`, killed on drop.
pub struct Target {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    child: Option<Child>,
    // Kept open so the target never writes into a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
}

/// How a target ended after [`Target::stop`].
pub struct Stopped {
    pub status: ExitStatus,
    /// Everything it wrote to stderr (the summary line at the end).
    pub stderr: String,
}

/// A test whose outside component (a server, a tool, a Python package) is missing
/// calls this and returns: outside CI it prints "skipped: WHY"; with `CI=true` it
/// panics instead, since CI must install everything (`.ci/run` does).
pub fn skip(why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must provide this (.ci/run installs it): {why}"
    );
    eprintln!("skipped: {why}");
}

/// Path of the `capplan` binary built for these tests.
pub fn capplan_bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("capplan")
}

/// The `capplan` binary as an assert_cmd command.
pub fn capplan() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("capplan").unwrap()
}

/// A file under `fixtures/`, e.g. `simulate/capacity.json`.
/// `capplan simulate` on the one-day fixture and its capacity profile.
pub fn simulate_day() -> assert_cmd::Command {
    let mut cmd = capplan();
    cmd.arg("simulate")
        .arg("--traffic")
        .arg(fixture("simulate/traffic_day.csv"))
        .arg("--capacity")
        .arg(fixture("simulate/capacity.json"));
    cmd
}

pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

impl Target {
    /// Start `capplan target --port 0 ARGS...` and wait for its port.
    /// Panics (with the target's stderr) if it does not come up.
    pub fn start(args: &[&str]) -> Target {
        let mut child = Command::new(capplan_bin())
            .args(["target", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning capplan target");
        let stdout = child.stdout.take().expect("stdout is piped");

        // Read the first line on a thread so a silent target cannot hang the test.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send((read, reader));
        });
        let (line, reader) = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok((Ok(line), reader)) if !line.is_empty() => (line, reader),
            _ => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("waiting for the target");
                panic!(
                    "capplan target {args:?} did not start: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        };
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from target: {line:?}"))
            .to_string();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {url:?}"));
        Target {
            port,
            url,
            child: Some(child),
            _stdout: Some(reader),
        }
    }

    /// Full URL of `path` (which starts with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Stop it like Ctrl-C does (SIGINT) and collect its exit status and stderr.
    #[cfg(unix)]
    pub fn stop(mut self) -> Stopped {
        let mut child = self.child.take().expect("target is running");
        send_signal(&child, libc::SIGINT);
        let status = wait_timeout(&mut child, Duration::from_secs(10));
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        Stopped { status, stderr }
    }
}

/// Send `signal` to a child that is still running (not yet waited for).
pub fn send_signal(child: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on our own child: not reaped, so its pid is still ours.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

/// Wait for `child`, killing it if it has not exited within `limit`.
fn wait_timeout(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("polling the target") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("target did not exit within {limit:?} after SIGINT");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Wait for a spawned capplan (its stdout and stderr piped or null) at most `limit`,
/// collecting what it printed; past the limit it is killed and the test fails.
pub fn wait_output(mut child: Child, limit: Duration) -> std::process::Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("polling a child") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("capplan did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
