//! The suite's own rules, checked on its source.
use std::path::Path;

/// Every test takes the machine lock (common/machine.rs) in its first lines: a test
/// that took neither guard would run beside the timing tests and skew them.
#[test]
fn every_test_takes_the_machine_lock() {
    let _machine = crate::common::machine::shared();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    let mut unguarded = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line != "#[test]" && !line.starts_with("#[tokio::test") {
                continue;
            }
            // The body starts after the signature's `{`; the guard is among its first lines.
            let Some(open) = (at..lines.len()).find(|&i| lines[i].trim_end().ends_with('{')) else {
                continue;
            };
            let body = lines[open + 1..(open + 5).min(lines.len())].join("\n");
            if !body.contains("alone()") && !body.contains("shared()") {
                unguarded.push(format!("{}:{}", path.display(), open + 1));
            }
        }
    }
    assert!(
        unguarded.is_empty(),
        "tests that take neither machine::alone() nor machine::shared() first: {unguarded:?}"
    );
}
