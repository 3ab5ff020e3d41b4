//! examples/kubernetes/ (issue 16, item 4): the manifests validated offline against
//! the Kubernetes OpenAPI schema of a pinned version with `kubernetes-validate` (no
//! cluster here), and the commands the Jobs run, run here as the pods would: the
//! Indexed Job's four shards (JOB_COMPLETION_INDEX 0..3), then the merge step.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::servers::{require, Component};
use common::Target;
use serde_json::Value;

/// The Kubernetes version the manifests are checked against.
const KUBERNETES_VERSION: &str = "1.33.0";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/kubernetes")
        .join(name)
}

const MANIFESTS: [&str; 4] = [
    "scenario-configmap.yaml",
    "results-pvc.yaml",
    "shards-job.yaml",
    "merge-job.yaml",
];

fn yaml(name: &str) -> Value {
    let text = std::fs::read_to_string(example(name)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The container's args of a Job manifest, with the README's substitution made.
fn args_of(job: &Value, start_at: &str) -> Vec<String> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().replace("START_AT", start_at))
        .collect()
}

#[test]
fn the_manifests_are_valid_kubernetes_objects() {
    if !require(&[Component::KubernetesValidate]) {
        return;
    }
    let _machine = common::machine::shared();
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
        .args(MANIFESTS.map(example))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let job = yaml("shards-job.yaml");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["parallelism"], job["spec"]["completions"]);
}

#[test]
fn the_jobs_commands_run_and_merge_as_the_pods_would() {
    let _machine = common::machine::shared();
    let target = Target::start(&["--workers", "8", "--service-time", "2ms"]);
    let dir = tempfile::tempdir().unwrap();
    // The ConfigMap's scenario, aimed at the local target instead of the Service.
    let configmap = yaml("scenario-configmap.yaml");
    let scenario = configmap["data"]["scenario.toml"].as_str().unwrap();
    let host_line = scenario.lines().find(|l| l.starts_with("host = ")).unwrap();
    let scenario = scenario.replace(host_line, &format!("host = \"{}\"", target.url));
    let scenario_path = dir.path().join("scenario.toml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let start_at = (chrono::Utc::now() + chrono::Duration::seconds(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // The pods' paths moved under the test's directory; a short, light run.
    let local = |arg: &str| -> String {
        let arg = arg
            .replace(
                "/etc/capplan/scenario.toml",
                scenario_path.to_str().unwrap(),
            )
            .replace("/results", results.to_str().unwrap());
        match arg.split_once('=') {
            Some(("--duration", _)) => "--duration=2s".into(),
            Some(("--warmup", _)) => "--warmup=1s".into(),
            Some(("--users", _)) => "--users=8".into(),
            Some(("--spawn-rate", _)) => "--spawn-rate=8".into(),
            _ => arg,
        }
    };
    let job = yaml("shards-job.yaml");
    let count = job["spec"]["completions"].as_u64().unwrap();
    let pods: Vec<_> = (0..count)
        .map(|index| {
            let args: Vec<String> = args_of(&job, &start_at)
                .iter()
                .map(|a| local(&a.replace("$(JOB_COMPLETION_INDEX)", &index.to_string())))
                .collect();
            Command::new(common::capplan_bin())
                .args(&args)
                .env("JOB_COMPLETION_INDEX", index.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for pod in pods {
        let out = common::wait_output(pod, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let merge: Vec<String> = args_of(&yaml("merge-job.yaml"), &start_at)
        .iter()
        .map(|a| local(a))
        .collect();
    let out = common::capplan()
        .args(&merge)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = results.join(&start_at);
    let merged: Value =
        serde_json::from_slice(&std::fs::read(run.join("merged.json")).unwrap()).unwrap();
    assert_eq!(merged["users"], 8);
    assert!(merged["requests"].as_u64().unwrap() > 0);
    let tasks: Vec<&str> = merged["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["home", "list items"]);
    for file in [
        "merged.html",
        "junit.xml",
        "merged.hlog",
        "merged_stats.csv",
    ] {
        assert!(run.join(file).is_file(), "{file}");
    }
}
