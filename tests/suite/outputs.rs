//! The output layer through the real binary: `-` is stdout for one output only,
//! human text moves to stderr when data holds stdout, and outputs land on
//! devices, FIFOs and symlinks without replacing them.
use crate::common;

use assert_cmd::Command;
use common::{capplan, fixture, simulate_day};

fn forecast() -> Command {
    let mut cmd = capplan();
    cmd.arg("forecast")
        .arg("--history")
        .arg(fixture("history_hourly.csv"));
    cmd
}

#[test]
fn a_csv_on_stdout_is_pure_csv_and_the_table_goes_to_stderr() {
    let _machine = crate::common::machine::shared();
    let out = simulate_day().args(["--timeline", "-"]).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let mut lines = stdout.lines();
    let header = lines.next().expect("a header line");
    let columns = header.split(',').count();
    assert!(columns > 3, "{header}");
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() > 100, "{} rows", rows.len());
    for row in &rows {
        assert_eq!(row.split(',').count(), columns, "not a CSV row: {row}");
    }
    assert!(
        stderr.contains("instance-hours") || stderr.contains("p95"),
        "{stderr}"
    );
}

#[test]
fn forecast_csv_on_stdout_keeps_the_tables_off_it() {
    let _machine = crate::common::machine::shared();
    let out = forecast().args(["--out", "-"]).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.starts_with("timestamp,rps,lower,upper\n"),
        "{}",
        &stdout[..80]
    );
    assert!(stdout.lines().skip(1).all(|l| l.split(',').count() == 4));
    assert!(
        !out.get_output().stderr.is_empty(),
        "the summary moved to stderr"
    );
}

#[test]
fn two_outputs_on_stdout_are_a_usage_error() {
    let _machine = crate::common::machine::shared();
    let cases: [(Command, &[&str], &str); 3] = [
        (
            simulate_day(),
            &["--timeline", "-", "--json", "-"],
            "--timeline, --json",
        ),
        (forecast(), &["--out", "-", "--json", "-"], "--out, --json"),
        (
            capplan(),
            &[
                "loadtest",
                "--url",
                "http://127.0.0.1:9/",
                "--json",
                "-",
                "--hdr-log",
                "-",
            ],
            "--json, --hdr-log",
        ),
    ];
    for (mut cmd, args, flags) in cases {
        let out = cmd.args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(flags), "{args:?}: {stderr}");
        assert!(
            out.get_output().stdout.is_empty(),
            "{args:?}: no work was done"
        );
    }
}

#[cfg(unix)]
#[test]
fn dev_null_stays_a_device() {
    let _machine = crate::common::machine::shared();
    use std::os::unix::fs::FileTypeExt;
    simulate_day()
        .args(["--quiet", "--json", "/dev/null", "--events", "/dev/null"])
        .assert()
        .success();
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
}

#[cfg(unix)]
#[test]
fn a_fifo_receives_the_whole_json() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("summary.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        return common::skip("mkfifo is not available");
    }
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    simulate_day()
        .args(["--quiet", "--json"])
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    let text = reader.join().unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).expect("whole JSON");
    assert!(json.is_object());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[cfg(unix)]
#[test]
fn a_symlinked_output_updates_its_target_and_keeps_the_link() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    let link = dir.path().join("link.json");
    std::fs::write(&real, "stale").unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    simulate_day()
        .args(["--quiet", "--json"])
        .arg(&link)
        .assert()
        .success();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    assert!(json.is_object());
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "no temporary file left behind");
}

#[test]
fn an_output_that_cannot_be_written_leaves_nothing_behind() {
    let _machine = crate::common::machine::shared();
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    let out = simulate_day()
        .args(["--quiet", "--json"])
        .arg(&taken)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("taken"), "{stderr}");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no temporary file left behind");
}

#[test]
fn output_paths_are_checked_before_any_traffic() {
    let _machine = crate::common::machine::shared();
    // Nothing listens on port 9: a probe would exit 3, so exit 2 means the
    // paths were judged before the target was even reached.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("a.json");
    let missing_dir = dir.path().join("nodir").join("run");
    let same = dir.path().join("same");
    let cases: [(Vec<std::ffi::OsString>, &str); 3] = [
        (
            vec![
                "--csv".into(),
                missing_dir.into(),
                "--json".into(),
                json.clone().into(),
            ],
            "does not exist",
        ),
        (
            vec![
                "--json".into(),
                same.clone().into(),
                "--html".into(),
                same.into(),
            ],
            "--json, --html",
        ),
        (
            vec!["--hdr-log".into(), dir.path().into()],
            "is a directory",
        ),
    ];
    for (args, expected) in cases {
        let out = capplan()
            .args([
                "loadtest",
                "--url",
                "http://127.0.0.1:9/",
                "--duration",
                "1s",
            ])
            .args(&args)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let events = dir.path().join("s.csv");
    let out = simulate_day()
        .arg("--timeline")
        .arg(&events)
        .arg("--events")
        .arg(&events)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("--timeline, --events"), "{stderr}");
    assert!(!json.exists() && !events.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_reader_that_stops_early_is_not_an_error_and_the_files_are_written() {
    let _machine = crate::common::machine::shared();
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("summary.json");
    // The timeline (~100 kB) outgrows the pipe's buffer, so closing the read end
    // after one line makes the writer meet a closed pipe (`| head -1`).
    let mut child = std::process::Command::new(common::capplan_bin())
        .arg("simulate")
        .arg("--traffic")
        .arg(fixture("simulate/traffic_day.csv"))
        .arg("--capacity")
        .arg(fixture("simulate/capacity.json"))
        .args(["--timeline", "-", "--json"])
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("time,"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(summary.is_object());
}
