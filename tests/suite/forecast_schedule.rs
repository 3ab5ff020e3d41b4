//! `forecast --schedule-format aws|keda|k8s-cronjob` through the binary, each file
//! checked by what consumes it (tests/support/schedule_check.py): botocore's model
//! of batch-put-scheduled-update-group-action, the kubernetes client's models, and
//! KEDA's cron windows replayed; every one holds the forecast's own pre-warm
//! schedule, in UTC with the zone named (issue 17, item 3).
use crate::common;

use std::path::Path;
use std::process::Command;

use common::servers::{require, Component};
use serde_json::Value;

/// The forecast of the fixture with a pre-warm schedule, written as `format`;
/// returns the forecast JSON's `prewarm` steps.
fn forecast(dir: &Path, format: &str, names: &[&str]) -> (Vec<Value>, std::path::PathBuf) {
    let json = dir.join("forecast.json");
    let out_file = dir.join(format!("schedule-{format}"));
    let out = common::capplan()
        .args(["forecast", "--quiet", "--rps-per-instance", "40"])
        .arg("--history")
        .arg(common::fixture("history_hourly.csv"))
        .arg("--json")
        .arg(&json)
        .args(["--schedule-format", format])
        .args(names)
        .arg("--schedule-out")
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let steps = doc["prewarm"].as_array().unwrap().clone();
    assert!(steps.len() > 3, "{doc}");
    (steps, out_file)
}

fn check(kind: &str, path: &Path, extra: &[&str]) -> Result<Value, String> {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/schedule_check.py"))
        .arg(kind)
        .arg(path)
        .args(extra)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A prewarm step's time in UTC, as the schedules write it.
fn utc(step: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(step["at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn aws_scheduled_actions_pass_botocores_validation_and_hold_the_schedule() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::ScheduleConsumers]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (steps, file) = forecast(dir.path(), "aws", &["--asg-name", "web-asg"]);
    let checked = check("aws", &file, &[]).unwrap_or_else(|e| panic!("{e}"));
    let actions = checked["actions"].as_array().unwrap();
    assert_eq!(actions.len(), steps.len());
    for (action, step) in actions.iter().zip(&steps) {
        assert_eq!(action["StartTime"].as_str().unwrap(), utc(step));
        assert_eq!(action["MinSize"], step["instances"]);
        assert_eq!(action["TimeZone"], "Etc/UTC");
    }
    // botocore refuses what the API would: a request without the group's name.
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        text.replace("AutoScalingGroupName", "AutoScalingGroup"),
    )
    .unwrap();
    assert!(check("aws", &broken, &[]).is_err());
}

#[test]
fn cronjobs_are_kubernetes_objects_that_set_min_replicas_on_schedule() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::ScheduleConsumers]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (steps, file) = forecast(
        dir.path(),
        "k8s-cronjob",
        &["--k8s-target", "web", "--namespace", "prod"],
    );
    let checked = check("k8s-cronjob", &file, &[]).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = checked["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(&kinds[..3], &["ServiceAccount", "Role", "RoleBinding"]);
    let jobs = checked["cronjobs"].as_array().unwrap();
    assert_eq!(jobs.len(), steps.len());
    for (job, step) in jobs.iter().zip(&steps) {
        let at = chrono::DateTime::parse_from_rfc3339(&utc(step)).unwrap();
        let cron = format!(
            "{} {} {} {} *",
            chrono::Timelike::minute(&at),
            chrono::Timelike::hour(&at),
            chrono::Datelike::day(&at),
            chrono::Datelike::month(&at)
        );
        assert_eq!(job["schedule"], cron.as_str());
        assert_eq!(job["timeZone"], "Etc/UTC");
        assert_eq!(job["minReplicas"], step["instances"]);
    }
    // The round trip through the client's models catches a key Kubernetes does not know.
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, text.replacen("timeZone:", "timezone:", 1)).unwrap();
    assert!(check("k8s-cronjob", &broken, &[]).is_err());
}

#[test]
fn keda_cron_triggers_hold_each_step_until_the_next() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::ScheduleConsumers]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (steps, file) = forecast(dir.path(), "keda", &["--k8s-target", "web"]);
    let year = &utc(&steps[0])[..4];
    let checked = check("keda", &file, &[year]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checked["zones"], serde_json::json!(["Etc/UTC"]));
    assert_eq!(checked["target"], "web");
    let held = checked["held"].as_array().unwrap();
    assert_eq!(held.len(), steps.len());
    for (h, step) in held.iter().zip(&steps) {
        assert_eq!(h["at"].as_str().unwrap(), utc(step));
        assert_eq!(h["replicas"], step["instances"]);
    }
}

#[test]
fn bad_schedule_flags_exit_2_naming_the_flag() {
    let _machine = crate::common::machine::shared();
    let refused = |args: &[&str], flag: &str| {
        let out = common::capplan()
            .args(["forecast", "--quiet", "--history"])
            .arg(common::fixture("history_hourly.csv"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    };
    let out = ["--schedule-out", "/tmp/capplan-never-written.json"];
    refused(
        &[
            &["--rps-per-instance", "40", "--schedule-format", "aws"][..],
            &out,
        ]
        .concat(),
        "--asg-name",
    );
    refused(
        &[&["--schedule-format", "aws", "--asg-name", "x"][..], &out].concat(),
        "--rps-per-instance",
    );
    refused(
        &[
            &[
                "--rps-per-instance",
                "40",
                "--schedule-format",
                "keda",
                "--k8s-target",
                "Web_App",
            ][..],
            &out,
        ]
        .concat(),
        "--k8s-target",
    );
    assert!(!Path::new("/tmp/capplan-never-written.json").exists());
}
