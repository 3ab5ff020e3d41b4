//! The suite's own rules, checked on its source.
use std::path::Path;

/// Every test takes one machine guard (common/machine.rs) in its first lines: a test
/// that took none would run beside the timing tests at full priority and skew them,
/// and one that took a second could wait forever for a place its first one holds.
#[test]
fn every_test_takes_the_machine_lock() {
    let _machine = crate::common::machine::shared();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    let guard = |line: &str| {
        let line = line.trim_start();
        line.starts_with("let _")
            && ["alone()", "timing(", "shared()"]
                .iter()
                .any(|call| line.contains(call))
    };
    let (mut unguarded, mut twice) = (Vec::new(), Vec::new());
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
            // The body starts after the signature's `{` and ends at the `}` in column 0.
            let Some(open) = (at..lines.len()).find(|&i| lines[i].trim_end().ends_with('{')) else {
                continue;
            };
            let end = (open..lines.len())
                .find(|&i| lines[i] == "}")
                .unwrap_or(lines.len());
            let where_ = format!("{}:{}", path.display(), open + 1);
            if !lines[open + 1..(open + 5).min(end)]
                .iter()
                .any(|l| guard(l))
            {
                unguarded.push(where_);
            } else if lines[open + 1..end].iter().filter(|l| guard(l)).count() > 1 {
                twice.push(where_);
            }
        }
    }
    assert!(
        unguarded.is_empty(),
        "tests that take none of machine::alone(), timing() and shared() first: {unguarded:?}"
    );
    assert!(
        twice.is_empty(),
        "tests that take a machine guard twice: {twice:?}"
    );
}
