//! One traffic-CSV reader for `forecast` and `simulate` (src/formats/traffic.rs): every
//! case where their two former readers disagreed, through the real binary, both commands.
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn capplan() -> Command {
    Command::cargo_bin("capplan").unwrap()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The bundled hourly history, its header and stamps rewritten by `edit`.
fn history(dir: &TempDir, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = fs::read_to_string(fixture("history_hourly.csv")).unwrap();
    let path = dir.path().join(name);
    fs::write(&path, edit(&text)).unwrap();
    path
}

/// The bundled day of simulate traffic (`timestamp,rps`, RFC 3339 `Z` stamps), rewritten by `edit`.
fn traffic(dir: &TempDir, name: &str, edit: impl Fn(&str) -> String) -> PathBuf {
    let text = fs::read_to_string(fixture("simulate/traffic_day.csv")).unwrap();
    let path = dir.path().join(name);
    fs::write(&path, edit(&text)).unwrap();
    path
}

fn forecast(history: &Path, extra: &[&str], out: &Path) -> Output {
    capplan()
        .args(["forecast", "--quiet", "--history"])
        .arg(history)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn simulate(traffic: &Path, extra: &[&str], timeline: &Path) -> Output {
    capplan()
        .args(["simulate", "--traffic"])
        .arg(traffic)
        .arg("--capacity")
        .arg(fixture("simulate/capacity.json"))
        .arg("--timeline")
        .arg(timeline)
        .args(extra)
        .output()
        .unwrap()
}

fn replace_header(text: &str, header: &str) -> String {
    let (_, rows) = text.split_once('\n').unwrap();
    format!("{header}\n{rows}")
}

/// Drop data row `index` (0 = the first after the header).
fn without_row(text: &str, index: usize) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(index + 1);
    lines.join("\n") + "\n"
}

#[test]
fn value_alias_and_header_case_are_accepted_by_both_commands() {
    let _machine = crate::common::machine::shared();
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("f.csv");
    for header in ["timestamp,value", "Timestamp,Requests"] {
        let path = history(&dir, "h.csv", |t| replace_header(t, header));
        let output = forecast(&path, &[], &out);
        assert!(output.status.success(), "{header}: {}", stderr_of(&output));
    }

    let reference = dir.path().join("reference.csv");
    let output = simulate(&fixture("simulate/traffic_day.csv"), &[], &reference);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let timeline = dir.path().join("timeline.csv");
    let path = traffic(&dir, "t.csv", |t| replace_header(t, "Timestamp,RPS"));
    let output = simulate(&path, &[], &timeline);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        fs::read_to_string(&timeline).unwrap(),
        fs::read_to_string(&reference).unwrap()
    );
    // `value` is a count per interval (10 min here), as in forecast.
    let path = traffic(&dir, "v.csv", |t| {
        let mut lines = t.lines();
        lines.next();
        let rows: Vec<String> = lines
            .map(|line| {
                let (stamp, rps) = line.split_once(',').unwrap();
                format!("{stamp},{}", rps.parse::<f64>().unwrap() * 600.0)
            })
            .collect();
        format!("timestamp,value\n{}\n", rows.join("\n"))
    });
    let output = simulate(&path, &[], &timeline);
    assert!(output.status.success(), "{}", stderr_of(&output));
}

#[test]
fn naive_stamps_are_utc_in_simulate_and_in_tz_in_forecast() {
    let _machine = crate::common::machine::shared();
    let dir = TempDir::new().unwrap();
    let reference = dir.path().join("reference.csv");
    let output = simulate(&fixture("simulate/traffic_day.csv"), &[], &reference);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let naive = traffic(&dir, "naive.csv", |t| t.replace('T', " ").replace('Z', ""));
    let timeline = dir.path().join("timeline.csv");
    let output = simulate(&naive, &[], &timeline);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("from 2026-03-02T00:00:00Z"), "{stdout}");
    assert_eq!(
        fs::read_to_string(&timeline).unwrap(),
        fs::read_to_string(&reference).unwrap()
    );

    // forecast: the bundled history is naive; `--tz` is the zone it was written in.
    let out = dir.path().join("f.csv");
    let output = forecast(&fixture("history_hourly.csv"), &["--tz", "+02:00"], &out);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let forecast_csv = fs::read_to_string(&out).unwrap();
    let first = forecast_csv.lines().nth(1).unwrap();
    assert!(first.contains("T00:00:00+02:00"), "{first}");
}

#[test]
fn mixed_naive_and_zoned_stamps_are_refused_by_both_commands() {
    let _machine = crate::common::machine::shared();
    let dir = TempDir::new().unwrap();
    let path = history(&dir, "h.csv", |t| {
        t.replacen(" 01:00:00,", "T01:00:00Z,", 1)
    });
    let output = forecast(&path, &[], &dir.path().join("f.csv"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("h.csv:3: timestamp: mixes"),
        "{}",
        stderr_of(&output)
    );

    let path = traffic(&dir, "t.csv", |t| t.replacen("T00:10:00Z", " 00:10:00", 1));
    let output = simulate(&path, &[], &dir.path().join("timeline.csv"));
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    assert!(err.contains("t.csv:3: timestamp: mixes"), "{err}");
    assert!(err.contains("  | 2026-03-02 00:10:00,"), "{err}");
}

#[test]
fn gaps_fail_in_simulate_or_fill_with_fill_gaps_and_are_read_by_forecast() {
    let _machine = crate::common::machine::shared();
    let dir = TempDir::new().unwrap();
    let path = history(&dir, "h.csv", |t| without_row(t, 30));
    let out = dir.path().join("f.csv");
    // forecast fills a short gap by default, and says so (docs/forecast.md).
    let output = forecast(&path, &[], &out);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let err = stderr_of(&output);
    assert!(
        err.contains("1 absent hour(s) in 1 short gap(s) filled"),
        "{err}"
    );
    let output = forecast(&path, &["--fill-gaps"], &out);
    assert!(output.status.success(), "{}", stderr_of(&output));

    let path = traffic(&dir, "t.csv", |t| without_row(t, 30));
    let timeline = dir.path().join("timeline.csv");
    let output = simulate(&path, &[], &timeline);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr_of(&output);
    assert!(
        err.contains("t.csv:32: timestamp: gap: 1 missing 600 s"),
        "{err}"
    );
    assert!(err.contains("--fill-gaps"), "{err}");
    let output = simulate(&path, &["--fill-gaps"], &timeline);
    assert!(output.status.success(), "{}", stderr_of(&output));
    // The filled day covers the same 24 hours as the original.
    let rows = fs::read_to_string(&timeline).unwrap().lines().count();
    assert_eq!(rows, 1 + 1440);
}

/// `capplan ARGS` with its address space capped at 1 GiB: a reader that allocated
/// every interval up to a far-off stamp would die here instead of answering.
fn capped(args: &[&std::ffi::OsStr]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("capplan"));
    cmd.args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// A stamp 4000 years after the others (found by the traffic_csv fuzz target, which
/// ran out of memory on it): a gap error at once, or with --fill-gaps a bound named,
/// never 3.4 GB of empty intervals. The Locust path likewise.
#[test]
fn a_stamp_in_the_wrong_year_is_refused_without_allocating_up_to_it() {
    let _machine = crate::common::machine::shared();
    let dir = TempDir::new().unwrap();
    let far = traffic(&dir, "far.csv", |text| {
        format!(
            "{}6026-03-02T09:10:00Z,353.3\n",
            text.trim_end().to_string() + "\n"
        )
    });
    let cases: [(&[&str], &str); 4] = [
        (&["simulate", "--rps-per-worker", "10"], "gap: "),
        (
            &["simulate", "--rps-per-worker", "10", "--fill-gaps"],
            "more than 10000000 intervals",
        ),
        (&["forecast"], "more than 10000000 hours"),
        (&["forecast", "--fill-gaps"], "more than 10000000 hours"),
    ];
    for (command, expected) in cases {
        let input_flag = if command[0] == "simulate" {
            "--traffic"
        } else {
            "--history"
        };
        let mut args: Vec<&std::ffi::OsStr> = command.iter().map(|a| a.as_ref()).collect();
        args.push(input_flag.as_ref());
        args.push(far.as_os_str());
        let out = capped(&args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
        assert!(
            err.contains("far.csv:") && err.contains(expected),
            "{command:?}: {err}"
        );
    }
    let locust = dir.path().join("far_stats_history.csv");
    let header = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,Total Request Count";
    let rows = ["1700000000", "1700000001", "999999999999"]
        .map(|t| format!("{t},10,,Aggregated,55.5,0,12,100"))
        .join("\n");
    fs::write(&locust, format!("{header}\n{rows}\n")).unwrap();
    let out = capped(&[
        "forecast".as_ref(),
        "--history".as_ref(),
        locust.as_os_str(),
    ]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("far_stats_history.csv:4: Timestamp"), "{err}");
    assert!(err.contains("more than 10000000 hours"), "{err}");
}
