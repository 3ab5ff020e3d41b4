//! examples/ci-simulate.yml as GitHub would take it: valid against the workflow
//! schema (check-jsonschema's vendored copy of SchemaStore's), no placeholder, and
//! its simulate step run as written against the real binary (issue 17, item 5).
use crate::common;

use std::path::Path;
use std::process::Command;

use common::servers::{require, Component};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn validate(workflow: &Path) -> std::process::Output {
    Command::new("check-jsonschema")
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(workflow)
        .output()
        .unwrap()
}

#[test]
fn the_workflow_is_valid_and_names_nothing_to_fill_in() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::CheckJsonschema]) {
        return;
    }
    let workflow = repo().join("examples/ci-simulate.yml");
    let out = validate(&workflow);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator refuses a broken copy, so the pass above means something.
    let text = std::fs::read_to_string(&workflow).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(&broken, text.replace("runs-on:", "runs_on:")).unwrap();
    assert!(!validate(&broken).status.success());
    for placeholder in ["OWNER", "example.com", "TODO", "<your"] {
        assert!(
            !text.contains(placeholder),
            "placeholder {placeholder} in the workflow"
        );
    }
}

#[test]
fn its_simulate_step_runs_as_written() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::CheckJsonschema]) {
        return;
    }
    let script = Command::new("python3")
        .arg(repo().join("tests/support/ci_example_check.py"))
        .arg(repo().join("examples/ci-simulate.yml"))
        .arg("Simulate the policy")
        .output()
        .unwrap();
    assert!(
        script.status.success(),
        "{}",
        String::from_utf8_lossy(&script.stderr)
    );
    // A checkout in miniature: the inputs the step names, `capplan` on the PATH.
    let dir = tempfile::tempdir().unwrap();
    for input in ["fixtures", "examples"] {
        std::os::unix::fs::symlink(repo().join(input), dir.path().join(input)).unwrap();
    }
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(common::capplan_bin(), bin.join("capplan")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-eo", "pipefail", "-c"])
        .arg(String::from_utf8(script.stdout).unwrap())
        .current_dir(dir.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for artifact in ["simulate-events.csv", "simulate.json", "simulate-junit.xml"] {
        assert!(
            dir.path().join(artifact).is_file(),
            "{artifact} not written"
        );
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("verdict: SLO met"));
}
